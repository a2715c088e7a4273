"""The data hub's errors (each with its HTTP status, rendered as problem+json)."""

from __future__ import annotations

from citybrain.core.errors import Conflict, Forbidden, NotFound


class ResourceNotFound(NotFound):
    default_key = "datahub.resource_not_found"


class WrongStatus(Conflict):
    """The workflow does not allow this step from the resource's current status."""

    default_key = "datahub.wrong_status"


class NotProvider(Forbidden):
    default_key = "datahub.not_provider"


class NotBureau(Forbidden):
    default_key = "datahub.not_bureau"
