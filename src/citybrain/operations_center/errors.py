"""The operations center's errors (each with its HTTP status, rendered as problem+json)."""

from __future__ import annotations

from citybrain.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class SystemNotFound(NotFound):
    default_key = "ops.system_not_found"


class NotASystem(Forbidden):
    """Heartbeats come from a connected system's API key, not from a person."""

    default_key = "ops.not_a_system"


class BadPoints(ValidationFailed):
    """A batch of metric points with at least one bad point; nothing of it is stored."""

    default_key = "ops.bad_points"


class BadRule(ValidationFailed):
    default_key = "ops.bad_rule"


class RuleNotFound(NotFound):
    default_key = "ops.rule_not_found"


class AlarmNotFound(NotFound):
    default_key = "ops.alarm_not_found"


class AlarmStepNotAllowed(Conflict):
    """The step does not follow from the alarm's state (open → acknowledged → assigned → closed)."""

    default_key = "ops.alarm_step_not_allowed"


class BadScenario(ValidationFailed):
    """A scenario definition that does not parse or does not validate; the errors name each field."""

    default_key = "ops.bad_scenario"


class ScenarioNotFound(NotFound):
    default_key = "ops.scenario_not_found"


class UnknownMetricQuery(ValidationFailed):
    default_key = "ops.bad_query"
