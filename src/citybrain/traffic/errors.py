"""The traffic domain's errors (each with its HTTP status, rendered as problem+json)."""

from __future__ import annotations

from citybrain.core.errors import Conflict, NotFound, ValidationFailed


class NetworkNotFound(NotFound):
    default_key = "traffic.network_not_found"


class RunNotFound(NotFound):
    default_key = "traffic.run_not_found"


class PlanNotFound(NotFound):
    default_key = "traffic.plan_not_found"


class NetworkCodeTaken(Conflict):
    default_key = "traffic.code_taken"


class BadNetworkFiles(ValidationFailed):
    """The uploaded or named files are not a CityFlow roadnet/flow pair or a SUMO net/routes pair."""

    default_key = "traffic.bad_files"


class UnknownJunction(NotFound):
    default_key = "traffic.unknown_junction"


class TwinNotRunning(Conflict):
    """The live twin is off in this server (no network for it, disabled, or several workers): a
    state of the server the caller can see in ``GET /twin``, not a failure of it."""

    default_key = "traffic.twin_not_running"
