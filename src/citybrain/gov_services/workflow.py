"""Service processes (BPMN 2.0) run by SpiffWorkflow, with uploaded processes kept harmless.

A thin, typed wrapper over SpiffWorkflow 3 for the government-services domain (issue #5 §3):

- `load_process` parses and validates BPMN documents. Only the elements a service process needs are
  allowed (user tasks in lanes, exclusive and parallel gateways, call activities, timer boundary and
  catch events, end events); anything else is refused with an error naming the element, its id and
  its line. Lanes are read as *department > role*: a task in lane 审查 nested in lane
  济南市生态环境局 is worked by that department's reviewers.
- `ProcessInstance` starts an instance, lists the ready user tasks with department, role and
  deadline, completes a task with a decision and form data, advances the engine (timers included),
  reports the status and a timeline (task, who, when, outcome), and serialises to JSON and back.

Safety. SpiffWorkflow's default script engine runs gateway conditions with Python's `eval` and
script tasks with `exec`, so an uploaded process could run any code. Here conditions are written in a
small expression language (`evaluate_expression`): literals, names from the case data, comparisons,
`in`, `and`/`or`/`not`, numeric arithmetic and constant subscripts, parsed with `ast` and
interpreted node by node from a whitelist; nothing reaches `eval`. Script and service tasks are
refused when a process is loaded, and the engine refuses to run scripts should one arrive anyway
(for example in a tampered saved instance, whose process definitions are checked again on restore).

Time. Every instance runs on an injected clock, so statutory deadlines are tested by moving the
clock rather than sleeping. Timers are SpiffWorkflow's own timer events, subclassed only to read
that clock. A background job keeps them moving: every minute or so it loads the instances whose
`next_timer_due()` has passed (the domain stores that instant in an indexed column), calls
`advance()` on each (SpiffWorkflow 3.2 calls this `refresh_timers`, the successor of the
deprecated `refresh_waiting_tasks`, followed by `do_engine_steps`) and saves them again.

Outcomes. An end event whose id is `approved`, `rejected`, or ends in `_approved` / `_rejected`
decides the outcome of its process. When a called process ends that way, its outcome is written to
the case data as `<process id>_outcome`, which is how a bundle's gateways learn what each
department decided.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.event_parsers import BoundaryEventParser, IntermediateCatchEventParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.control import (
    BoundaryEventJoin,
    BoundaryEventSplit,
    BpmnStartTask,
    SimpleBpmnTask,
    _EndJoin,
)
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    ExclusiveGateway,
    IntermediateCatchEvent,
    ManualTask,
    NoneTask,
    ParallelGateway,
    StartEvent,
    UserTask,
)
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition, TerminateEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

__all__ = [
    "DEMO_PROCESSES",
    "BpmnDocument",
    "Clock",
    "ExpressionError",
    "InstanceStatus",
    "InvalidTaskData",
    "PendingTimer",
    "ProcessDefinition",
    "ProcessInstance",
    "ProcessValidationError",
    "TaskNotFound",
    "TaskNotReady",
    "TimelineEntry",
    "TimelineKind",
    "UserTaskView",
    "WorkflowError",
    "check_expression",
    "evaluate_expression",
    "load_demo_process",
    "load_process",
    "utc_now",
]

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime; injected so tests can move time."""


def utc_now() -> datetime:
    """The real clock: the current time in UTC."""
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------------
# Errors


class WorkflowError(Exception):
    """Base of every error this module raises; the instance it was raised on is left unchanged."""


class ProcessValidationError(WorkflowError):
    """A BPMN document was refused; names the document, line, element and reason."""

    def __init__(
        self,
        reason: str,
        *,
        document: str | None = None,
        line: int | None = None,
        element: str | None = None,
        element_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.document = document
        self.line = line
        self.element = element
        self.element_id = element_id
        where = ":".join(str(part) for part in (document, line) if part not in (None, ""))
        what = f"<{element} id={element_id!r}>" if element and element_id else (f"<{element}>" if element else "")
        super().__init__(" ".join(part for part in (f"{where}:" if where else "", what, reason) if part))


class ExpressionError(WorkflowError):
    """A condition or timer expression is not in the allowed language, or failed to evaluate."""


class TaskNotFound(WorkflowError):
    """No task with this id exists in the instance."""


class TaskNotReady(WorkflowError):
    """The task exists but is not a ready user task (already done, cancelled, or an engine step)."""


class InvalidTaskData(WorkflowError):
    """Start data or form data cannot be stored in a case (bad key, reserved key, not JSON)."""


# ---------------------------------------------------------------------------------------------------
# The safe expression language

MAX_EXPRESSION_LENGTH: Final = 2000
"""Characters; longer conditions belong in a decision table, and the limit bounds parse and eval work."""

_COMPARISONS: Final[dict[type[ast.cmpop], Callable[[Any, Any], bool]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda left, right: left in right,
    ast.NotIn: lambda left, right: left not in right,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ARITHMETIC: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
# The whole grammar. Everything else — calls, attributes, lambdas, comprehensions, f-strings,
# walrus, starred, slices, ** (unbounded work) — is refused before anything is evaluated.
_ALLOWED_NODES: Final = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.BinOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Subscript,
    *_COMPARISONS,
    *_ARITHMETIC,
)
_NODE_NAMES: Final[dict[type[ast.AST], str]] = {
    ast.Call: "function calls",
    ast.Attribute: "attribute access",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "assignments",
    ast.Starred: "unpacking",
    ast.Slice: "slices",
    ast.Pow: "the ** operator",
    ast.IfExp: "conditional expressions",
    ast.Dict: "dict literals",
    ast.Await: "await",
    ast.Yield: "yield",
}


@lru_cache(maxsize=1024)
def _parse(expression: str) -> ast.Expression:
    # Cached because a gateway's conditions are evaluated on every pass; ASTs are never mutated here.
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{expression!r} is not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{expression[:40]!r}... is nested too deeply") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise ExpressionError(f"{expression!r}: {what} are not allowed in conditions")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"{expression!r}: names starting with '_' are not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, str | int | float | bool | None):
            raise ExpressionError(f"{expression!r}: {type(node.value).__name__} literals are not allowed")
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                # Identity of equal strings or numbers is an implementation detail; only None is safe.
                if isinstance(op, ast.Is | ast.IsNot) and not (isinstance(right, ast.Constant) and right.value is None):
                    raise ExpressionError(f"{expression!r}: 'is' only compares with None; use == for values")
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant):
            raise ExpressionError(f"{expression!r}: only constant subscripts like form['area'] are allowed")
    return tree


def check_expression(expression: str) -> None:
    """Raise `ExpressionError` unless `expression` is in the safe condition language.

    The language: literals (str, int, float, True/False/None, lists/tuples/sets of them), names
    from the case data, comparisons (chained too) including `in`, `not in` and `is (not) None`,
    `and`/`or`/`not`, `+ - * / %` on numbers, and subscripts with a constant key (`form['area']`).
    """
    _parse(expression)


def evaluate_expression(expression: str, names: Mapping[str, Any]) -> Any:
    """Evaluate `expression` in the safe language, looking names up in `names` (the case data).

    Never calls `eval`: the parsed tree is interpreted node by node. Unknown names, type
    mismatches, division by zero and non-numeric arithmetic raise `ExpressionError`.
    """
    tree = _parse(expression)
    try:
        return _Interpreter(names).eval(tree.body)
    except ExpressionError as exc:
        raise ExpressionError(f"{expression!r}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"{expression[:40]!r}... is nested too deeply") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ExpressionError(f"{expression!r} cannot be evaluated: {exc}") from None


class _Interpreter:
    def __init__(self, names: Mapping[str, Any]) -> None:
        self.names = names

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise ExpressionError(f"unknown name {node.id!r} (not in the case data)")
            return self.names[node.id]
        if isinstance(node, ast.BoolOp):
            # Short-circuits like Python, so `a == 'x' and b == 'y'` never looks up b when a differs:
            # a bundle's conditions rely on it for parts that were never started.
            is_and = isinstance(node.op, ast.And)
            value: Any = None
            for operand in node.values:
                value = self.eval(operand)
                if bool(value) != is_and:
                    return value
            return value
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            _require_number(operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.eval(comparator)
                if not _COMPARISONS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            # Numbers only: 'x' * 10**9 would exhaust memory, and string building has no use here.
            _require_number(left)
            _require_number(right)
            result = _ARITHMETIC[type(node.op)](left, right)
            if isinstance(result, float) and not math.isfinite(result):
                raise ExpressionError("arithmetic overflowed")
            return result
        if isinstance(node, ast.List | ast.Tuple):
            return [self.eval(element) for element in node.elts]
        if isinstance(node, ast.Set):
            return {self.eval(element) for element in node.elts}
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value)
            key = self.eval(node.slice)
            if not isinstance(container, dict | list | tuple | str):
                raise ExpressionError(f"cannot subscript a {type(container).__name__}")
            try:
                return container[key]
            except (KeyError, IndexError, TypeError):
                raise ExpressionError(f"no item {key!r}") from None
        raise ExpressionError(f"{type(node).__name__} is not allowed")  # unreachable after _parse


def _require_number(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"arithmetic needs numbers, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------
# The script engine SpiffWorkflow calls: safe expressions, no scripts, our clock


class _SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]  # SpiffWorkflow is untyped
    """Replaces TaskDataEnvironment, whose evaluate/execute are Python's eval/exec."""

    def evaluate(self, expression: str, context: Mapping[str, Any], external_context: Mapping[str, Any] | None = None) -> Any:
        return evaluate_expression(expression, {**(external_context or {}), **context})

    def execute(self, script: str, context: Any, external_context: Any = None) -> bool:
        raise ExpressionError("scripts are disabled: processes may not run code")

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionError("service tasks are disabled: processes may not call services")


class _SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]  # SpiffWorkflow is untyped
    def __init__(self, clock: Clock) -> None:
        super().__init__(environment=_SafeEnvironment())
        self.clock = clock

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise WorkflowError("the workflow clock must return timezone-aware datetimes")
        return now

    def validate(self, expression: str) -> None:
        check_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        # Not the parent's evaluate: it would bury our message inside a generic WorkflowTaskException.
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError as exc:
            raise ExpressionError(f"{_where(task)}: {exc}") from None

    def execute(self, task: Any, script: str, external_context: Any = None) -> bool:
        raise ExpressionError(f"{_where(task)}: scripts are disabled: processes may not run code")

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise ExpressionError(f"{_where(task)}: service tasks are disabled")


def _where(task: Any) -> str:
    return f"{task.workflow.spec.name}/{task.task_spec.bpmn_id or task.task_spec.name}"


def _now(task: Any) -> datetime:
    engine = task.workflow.script_engine  # sub-workflows hand back the top workflow's engine
    return engine.now() if isinstance(engine, _SafeScriptEngine) else utc_now()


# ISO 8601 durations (P20D, PT36H, P1M2D) and date-times may be written bare, as modelers such as
# bpmn.io and Camunda write them; anything else is a safe expression (a quoted string or a data name).
_ISO_DURATION: Final = re.compile(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_ISO_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:?\d{2})")


def _timer_value(definition: TimerEventDefinition, task: Any) -> str:
    text = (definition.expression or "").strip()
    if _ISO_DURATION.fullmatch(text) or _ISO_DATETIME.fullmatch(text):
        return text
    value = task.workflow.script_engine.evaluate(task, text)
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ExpressionError(f"{_where(task)}: timer expression {text!r} gave {value!r}, not an ISO 8601 text")
    return value


def _aware(value: str, where: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        # SpiffWorkflow would read it in the server's local zone; a statutory deadline must not move
        # with the server, so the zone has to be written (…+08:00 for Asia/Shanghai).
        raise ExpressionError(f"{where}: timer date {value!r} has no time zone")
    return moment.astimezone(UTC)


class ClockedDurationTimer(DurationTimerEventDefinition):  # type: ignore[misc]  # SpiffWorkflow is untyped
    """A timeDuration timer measured on the instance's clock, not `datetime.now()`."""

    def has_fired(self, my_task: Any) -> bool:
        now = _now(my_task)
        due = my_task._get_internal_data("event_value")
        if due is None:
            # The duration starts when the timer starts waiting, i.e. when its task became active.
            parsed = TimerEventDefinition.parse_iso_duration(_timer_value(self, my_task))
            due = (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).isoformat()
            my_task._set_internal_data(event_value=due)
        if datetime.fromisoformat(due) <= now:
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDateTimer(TimeDateEventDefinition):  # type: ignore[misc]  # SpiffWorkflow is untyped
    """A timeDate timer (a fixed instant, with a time zone) compared with the instance's clock."""

    def has_fired(self, my_task: Any) -> bool:
        due = my_task._get_internal_data("event_value")
        if due is None:
            due = _aware(_timer_value(self, my_task), _where(my_task)).isoformat()
            my_task._set_internal_data(event_value=due)
        if datetime.fromisoformat(due) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


def _clocked(definition: Any) -> Any:
    if isinstance(definition, DurationTimerEventDefinition):
        return ClockedDurationTimer(definition.name, definition.expression, description=definition.description)
    if isinstance(definition, TimeDateEventDefinition):
        return ClockedDateTimer(definition.name, definition.expression, description=definition.description)
    return definition  # cycles never get here: validation refuses timeCycle


class _BoundaryEventParser(BoundaryEventParser):  # type: ignore[misc]  # SpiffWorkflow is untyped
    def parse_timer_event(self, event: Any) -> Any:
        return _clocked(super().parse_timer_event(event))


class _IntermediateCatchEventParser(IntermediateCatchEventParser):  # type: ignore[misc]  # SpiffWorkflow is untyped
    def parse_timer_event(self, event: Any) -> Any:
        return _clocked(super().parse_timer_event(event))


class _Parser(BpmnParser):  # type: ignore[misc]  # SpiffWorkflow is untyped
    OVERRIDE_PARSER_CLASSES = {  # noqa: RUF012 - SpiffWorkflow's extension point is this class attribute
        full_tag("boundaryEvent"): (_BoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (_IntermediateCatchEventParser, IntermediateCatchEvent),
    }


def _serializer() -> BpmnWorkflowSerializer:
    # A fresh serializer per use: BpmnWorkflowSerializer flips a mode flag on its registry while it
    # encodes, so one shared instance is not safe across threads. Building one takes well under 1 ms.
    config = dict(DEFAULT_CONFIG)
    config[ClockedDurationTimer] = TimerConditionalEventDefinitionConverter
    config[ClockedDateTimer] = TimerConditionalEventDefinitionConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


# ---------------------------------------------------------------------------------------------------
# Loading and validating BPMN

BPMN_NS: Final = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_DIAGRAM_NS: Final = frozenset(
    {
        "http://www.omg.org/spec/BPMN/20100524/DI",
        "http://www.omg.org/spec/DD/20100524/DC",
        "http://www.omg.org/spec/DD/20100524/DI",
    }
)
MAX_BPMN_BYTES: Final = 1_000_000
"""Bytes per document; a service process is a few kilobytes, and the limit bounds parsing work."""

_ALLOWED_ELEMENTS: Final = frozenset(
    {
        "definitions",
        "process",
        "collaboration",
        "participant",
        "laneSet",
        "lane",
        "childLaneSet",
        "flowNodeRef",
        "documentation",
        "extensionElements",
        "textAnnotation",
        "text",
        "association",
        "group",
        "category",
        "categoryValue",
        "incoming",
        "outgoing",
        "sequenceFlow",
        "conditionExpression",
        "startEvent",
        "endEvent",
        "terminateEventDefinition",
        "userTask",
        "manualTask",
        "task",
        "exclusiveGateway",
        "parallelGateway",
        "callActivity",
        "boundaryEvent",
        "intermediateCatchEvent",
        "timerEventDefinition",
        "timeDuration",
        "timeDate",
    }
)
_REFUSED_BECAUSE: Final = {
    "scriptTask": "script tasks would run code uploaded with the process; use a user task or a decision table",
    "serviceTask": "service tasks would call out of the engine; the domain calls services, not the process",
    "businessRuleTask": "decision tables are evaluated by the domain before or after the process, not inside it",
    "sendTask": "messages are not supported",
    "receiveTask": "messages are not supported",
    "messageEventDefinition": "messages are not supported",
    "signalEventDefinition": "signals are not supported",
    "conditionalEventDefinition": "conditional events are not supported; use an exclusive gateway",
    "subProcess": "embedded sub-processes are not supported; use a call activity",
    "adHocSubProcess": "ad-hoc sub-processes are not supported; use a call activity",
    "transaction": "transactions are not supported; use a call activity",
    "inclusiveGateway": "inclusive gateways are not supported; use exclusive and parallel gateways",
    "eventBasedGateway": "event-based gateways are not supported",
    "complexGateway": "complex gateways are not supported",
    "timeCycle": "repeating timers are not supported; use timeDuration or timeDate",
    "standardLoopCharacteristics": "loops are not supported; model the loop with an exclusive gateway",
    "multiInstanceLoopCharacteristics": "multi-instance tasks are not supported; use a parallel gateway",
}
_SUPPORTED_HINT: Final = (
    "supported: userTask, manualTask, task, exclusiveGateway, parallelGateway, callActivity, startEvent, "
    "endEvent (plain or terminate), timer boundaryEvent and intermediateCatchEvent, sequenceFlow, lanes"
)
_xsd_lock = threading.Lock()


@cache
def _xsd() -> Any:
    # Loading the BPMN 2.0 schema takes ~0.1 s; done once, on first use rather than at import.
    return BpmnValidator()


@dataclass(frozen=True)
class ProcessDefinition:
    """A validated executable process and the processes its call activities need."""

    process_id: str
    name: str | None
    spec: Any = field(repr=False)
    subprocess_specs: Mapping[str, Any] = field(repr=False)

    @property
    def process_ids(self) -> list[str]:
        """This process and every process it calls, directly or not."""
        return [self.process_id, *self.subprocess_specs]


BpmnDocument = Path | bytes | str | tuple[str, bytes]
"""A .bpmn file, its content (bytes or text), or (file name, content) as an upload arrives."""


def load_process(process_id: str, *documents: BpmnDocument) -> ProcessDefinition:
    """Parse and validate BPMN documents and return the executable process `process_id`.

    Each document is a `Path` to a .bpmn file, its content as `bytes` or `str`, or a
    `(file name, content)` pair; errors name the file (or "document N"). Processes called by call
    activities must be in one of the documents. Raises `ProcessValidationError` naming the
    document, line, element and reason for: XML that is not well-formed or has a DOCTYPE, a
    document that breaks the BPMN 2.0 schema, any element outside the supported set (script and
    service tasks above all), a condition outside the safe expression language, a timer that is
    neither a duration nor a date, a call to a process that is missing or calls back into its
    caller.
    """
    if not documents:
        raise ProcessValidationError("no BPMN documents given")
    parser = _Parser(validator=None)
    roles: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for index, document in enumerate(documents, start=1):
        name, root = _read(document, index)
        _check_document(root, name)
        with _xsd_lock:  # lxml schema validation is not documented as thread-safe
            try:
                _xsd().validate(root, name)
            except ValidationException as exc:
                raise _from_spiff(exc, name) from None
        roles.update(_lane_roles(root))
        try:
            parser.add_bpmn_xml(root, filename=name)
        except ValidationException as exc:
            raise _from_spiff(exc, name) from None
    if parser.get_process_parser(process_id) is None:
        known = ", ".join(sorted(parser.process_parsers)) or "none"
        raise ProcessValidationError(f"process {process_id!r} is not in the documents (they define: {known})")
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise _from_spiff(exc, exc.file_name or None) from None
    _check_calls(process_id, spec, subprocess_specs)
    for process_spec in (spec, *subprocess_specs.values()):
        _check_spec(process_spec)
        for task_spec in process_spec.task_specs.values():
            key = (process_spec.name, getattr(task_spec, "bpmn_id", None))
            if key in roles:
                department, role = roles[key]
                # extensions is the one free-form attribute SpiffWorkflow serialises with a task spec,
                # so department and role survive a save and restore without the BPMN at hand.
                task_spec.extensions = {**(task_spec.extensions or {}), "department": department, "role": role}
    return ProcessDefinition(process_id, spec.description, spec, dict(subprocess_specs))


DEMO_PROCESSES: Final = (
    "simple_item",
    "joint_review",
    "restaurant_bundle",
    "business_licence",
    "food_business_permit",
    "fire_safety",
    "outdoor_signage",
)
"""Process ids of the demo processes shipped as package data (one .bpmn file each)."""


def load_demo_process(process_id: str) -> ProcessDefinition:
    """Load a demo process from the package data (`gov_services/processes/<id>.bpmn`).

    All demo documents are given to the parser, so the restaurant bundle finds the four
    departments' processes it calls.
    """
    if process_id not in DEMO_PROCESSES:
        raise ProcessValidationError(f"no demo process {process_id!r}; there are: {', '.join(DEMO_PROCESSES)}")
    folder = resources.files("citybrain.gov_services") / "processes"
    documents = [(f"{name}.bpmn", (folder / f"{name}.bpmn").read_bytes()) for name in DEMO_PROCESSES]
    return load_process(process_id, *documents)


def _read(document: BpmnDocument, index: int) -> tuple[str, Any]:
    if isinstance(document, Path):
        name, content = document.name, document.read_bytes()
    elif isinstance(document, tuple):
        name, content = document
    else:
        name, content = f"document {index}", document.encode() if isinstance(document, str) else document
    if len(content) > MAX_BPMN_BYTES:
        raise ProcessValidationError(f"larger than {MAX_BPMN_BYTES} bytes", document=name)
    try:
        # No entities, no DTD, no network, default size limits; a parser per call, as lxml parsers
        # are not to be shared between threads.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise ProcessValidationError(f"not well-formed XML: {exc.msg}", document=name, line=exc.lineno) from None
    if root.getroottree().docinfo.doctype:
        # Entities are how XML bombs and external-file reads (XXE) get in; BPMN never needs them.
        raise ProcessValidationError("a DOCTYPE is not allowed in a BPMN document", document=name, line=1)
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise ProcessValidationError(f"the root element must be bpmn:definitions in namespace {BPMN_NS}", document=name)
    return name, root


def _local(element: Any) -> tuple[str | None, str]:
    qname = etree.QName(element)
    return qname.namespace, qname.localname


def _refuse(element: Any, document: str, reason: str) -> ProcessValidationError:
    _, local = _local(element)
    return ProcessValidationError(reason, document=document, line=element.sourceline, element=f"bpmn:{local}", element_id=element.get("id"))


def _check_document(root: Any, document: str) -> None:
    by_id = {element.get("id"): element for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        namespace, local = _local(element)
        if namespace in _DIAGRAM_NS:
            continue  # diagram layout: shapes and edges only
        if namespace != BPMN_NS:
            raise ProcessValidationError(
                f"element {element.tag} is outside BPMN; vendor extensions belong in bpmn:extensionElements",
                document=document,
                line=element.sourceline,
            )
        if local not in _ALLOWED_ELEMENTS:
            raise _refuse(element, document, f"is not allowed: {_REFUSED_BECAUSE.get(local, _SUPPORTED_HINT)}")
        _check_element(element, local, document, by_id)
        if local != "extensionElements":  # vendor data is ignored by the engine, so not inspected
            stack.extend(reversed(element))


def _check_element(element: Any, local: str, document: str, by_id: Mapping[str, Any]) -> None:
    definitions = [child for child in element if isinstance(child.tag, str) and _local(child)[1].endswith("EventDefinition")]
    if local == "startEvent" and definitions:
        raise _refuse(element, document, "start events must be plain: a case starts when it is submitted")
    if local == "endEvent" and any(_local(child)[1] != "terminateEventDefinition" for child in definitions):
        raise _refuse(element, document, "end events may only be plain or terminate events")
    if local in ("boundaryEvent", "intermediateCatchEvent") and (
        len(definitions) != 1 or _local(definitions[0])[1] != "timerEventDefinition"
    ):
        raise _refuse(element, document, "only timer events are supported here")
    if local == "boundaryEvent":
        attached = by_id.get(element.get("attachedToRef"))
        if attached is None or _local(attached)[1] not in ("userTask", "manualTask", "callActivity"):
            raise _refuse(element, document, "a timer must be attached to a user task, manual task or call activity")
    if local == "timerEventDefinition":
        _check_timer(element, document)
    if local == "callActivity" and not element.get("calledElement"):
        raise _refuse(element, document, "a call activity must name the process it calls (calledElement)")
    if local == "conditionExpression":
        flow = element.getparent()
        source = by_id.get(flow.get("sourceRef"))
        if source is None or _local(source)[1] != "exclusiveGateway":
            raise _refuse(flow, document, "conditions are only allowed on flows leaving an exclusive gateway")
        _check_text(element, document, check_expression)
    if local == "exclusiveGateway":
        _check_gateway(element, document, by_id)


def _check_timer(element: Any, document: str) -> None:
    specs = [child for child in element if isinstance(child.tag, str)]
    for child in specs:
        if _local(child)[1] == "timeCycle":
            raise _refuse(child, document, _REFUSED_BECAUSE["timeCycle"])
    if len(specs) != 1 or _local(specs[0])[1] not in ("timeDuration", "timeDate"):
        raise _refuse(element, document, "a timer needs exactly one timeDuration or timeDate")
    kind = _local(specs[0])[1]

    def check(value: str) -> None:
        # Text that looks like an ISO literal must be a valid one (P1X is a typo, not a data name).
        if kind == "timeDuration" and re.match(r"P(T?\d)", value):
            if not _ISO_DURATION.fullmatch(value):
                raise ExpressionError(f"{value!r} is not an ISO 8601 duration such as P20D or PT36H")
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeDate" and re.match(r"\d{4}-", value):
            _aware(value, "timer")
        else:
            check_expression(value)  # computed from the case data, checked again when the timer starts

    _check_text(specs[0], document, check)


def _check_text(element: Any, document: str, check: Callable[[str], None]) -> None:
    text = (element.text or "").strip()
    if not text:
        raise _refuse(element, document, "is empty")
    try:
        check(text)
    except ExpressionError as exc:
        raise _refuse(element, document, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow's duration parser raises bare Exception
        raise _refuse(element, document, f"{text!r} is not valid: {exc}") from None


def _check_gateway(element: Any, document: str, by_id: Mapping[str, Any]) -> None:
    gateway_id = element.get("id")
    outgoing = [e for e in by_id.values() if _local(e)[1] == "sequenceFlow" and e.get("sourceRef") == gateway_id]
    if len(outgoing) < 2:
        return
    default = element.get("default")
    for flow in outgoing:
        has_condition = any(isinstance(c.tag, str) and _local(c)[1] == "conditionExpression" for c in flow)
        if flow.get("id") != default and not has_condition:
            raise _refuse(flow, document, f"leaves gateway {gateway_id!r} without a condition and is not its default flow")


def _lane_roles(root: Any) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """Map (process id, flow node id) -> (department, role): the innermost lane is the role, its parent
    lane the department. Keyed by process because ids like `review` recur in every process."""
    roles: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def walk(process_id: str, lane_set: Any, parent: str | None) -> None:
        for lane in lane_set.findall(f"{{{BPMN_NS}}}lane"):
            name = lane.get("name")
            for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
                roles[(process_id, (ref.text or "").strip())] = (parent, name)
            # Child lanes come after so the innermost lane wins, as BPMN lists a node in every enclosing lane.
            for child_set in lane.findall(f"{{{BPMN_NS}}}childLaneSet"):
                walk(process_id, child_set, name)

    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for lane_set in process.findall(f"{{{BPMN_NS}}}laneSet"):
            walk(process.get("id"), lane_set, None)
    return roles


def _from_spiff(exc: ValidationException, document: str | None) -> ProcessValidationError:
    line = exc.line_number if isinstance(exc.line_number, int) else None
    return ProcessValidationError(
        str(exc.args[0]) if exc.args else str(exc),
        document=exc.file_name or document,
        line=line,
        element=exc.tag or None,
        element_id=exc.id or None,
    )


def _check_calls(process_id: str, spec: Any, subprocess_specs: Mapping[str, Any]) -> None:
    specs = {process_id: spec, **subprocess_specs}

    def visit(current: str, path: tuple[str, ...]) -> None:
        for task_spec in specs[current].task_specs.values():
            if isinstance(task_spec, CallActivity):
                if task_spec.spec in path:
                    chain = " -> ".join((*path, task_spec.spec))
                    raise ProcessValidationError(
                        f"call activity calls back into a calling process ({chain})",
                        element="bpmn:callActivity",
                        element_id=task_spec.bpmn_id,
                    )
                visit(task_spec.spec, (*path, task_spec.spec))

    visit(process_id, (process_id,))


_ALLOWED_TASK_SPECS: Final = (
    BpmnStartTask,
    SimpleBpmnTask,
    _EndJoin,
    BoundaryEventSplit,
    BoundaryEventJoin,
    StartEvent,
    EndEvent,
    UserTask,
    ManualTask,
    NoneTask,
    ExclusiveGateway,
    ParallelGateway,
    CallActivity,
    BoundaryEvent,
    IntermediateCatchEvent,
)
_ALLOWED_EVENT_DEFINITIONS: Final = (NoneEventDefinition, TerminateEventDefinition, ClockedDurationTimer, ClockedDateTimer)


def _check_spec(process_spec: Any) -> None:
    """Second line of defence on parsed or restored specs: only known-safe classes, only safe conditions."""
    for task_spec in process_spec.task_specs.values():
        name = getattr(task_spec, "bpmn_id", None) or task_spec.name
        if type(task_spec) not in _ALLOWED_TASK_SPECS:
            raise ProcessValidationError(f"{type(task_spec).__name__} is not allowed in process {process_spec.name!r}", element_id=name)
        event_definition = getattr(task_spec, "event_definition", None)
        if event_definition is not None and type(event_definition) not in _ALLOWED_EVENT_DEFINITIONS:
            raise ProcessValidationError(
                f"{type(event_definition).__name__} is not allowed in process {process_spec.name!r}", element_id=name
            )
        for condition, _target in getattr(task_spec, "cond_task_specs", ()):
            if condition is None:
                continue  # the default flow
            try:
                check_expression(condition.args[0])
            except ExpressionError as exc:
                raise ProcessValidationError(str(exc), element_id=name) from None


# ---------------------------------------------------------------------------------------------------
# Running instances


class InstanceStatus(StrEnum):
    """Where a case stands. RUNNING includes waiting for a person or for a timer."""

    RUNNING = "running"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"  # ended at an end event that declares no outcome
    CANCELLED = "cancelled"  # withdrawn by the applicant or stopped by staff


class TimelineKind(StrEnum):
    """What a timeline entry records."""

    STARTED = "started"
    TASK_COMPLETED = "task_completed"
    TIMER_FIRED = "timer_fired"
    SUBPROCESS_ENDED = "subprocess_ended"
    ENDED = "ended"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a case: what (task), who (actor, department, role), when, outcome.

    `outcome` is the decision for a completed task; for a deadline timer `interrupted` (its task was
    taken away) or `overdue` (the task goes on, flagged), for a wait timer `elapsed`; the end state
    for an ended process.
    """

    at: datetime
    kind: TimelineKind
    process_id: str
    task: str | None = None
    name: str | None = None
    actor: str | None = None
    department: str | None = None
    role: str | None = None
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC)."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind.value,
            "process_id": self.process_id,
            "task": self.task,
            "name": self.name,
            "actor": self.actor,
            "department": self.department,
            "role": self.role,
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TimelineEntry:
        """The inverse of `to_json`."""
        fields = {key: data.get(key) for key in ("task", "name", "actor", "department", "role", "outcome")}
        return cls(at=datetime.fromisoformat(data["at"]), kind=TimelineKind(data["kind"]), process_id=data["process_id"], **fields)


@dataclass(frozen=True)
class UserTaskView:
    """A ready user task as a work queue shows it.

    `due` is the earliest deadline of the timers on the task (None without timers); `overdue` is
    whether the clock has reached it. `data` is a copy of the case data the task sees.
    """

    id: str
    task: str
    name: str
    process_id: str
    department: str | None
    role: str | None
    due: datetime | None
    overdue: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class PendingTimer:
    """A timer that is waiting: its BPMN id, name and due time (UTC)."""

    process_id: str
    timer: str
    name: str
    due: datetime


MAX_ENGINE_STEPS: Final = 500
"""Automatic steps (gateways, events, ends) one call may run; the restaurant bundle needs at most 7.
Bounds the work a looping process can cause: SpiffWorkflow's steps grow with the task tree, so
500 steps cost about a quarter of a second."""

FORMAT: Final = "citybrain.gov_services.workflow/1"
"""Version tag of `ProcessInstance.dumps()` output."""

_RESERVED_KEYS: Final = frozenset({"decision"})
_KEY: Final = re.compile(r"[^\W\d]\w*")  # an identifier (Chinese letters too), so conditions can name it


class ProcessInstance:
    """One running (or finished) case of a process. Not thread-safe: one request at a time per case.

    Every mutating method either succeeds or raises `WorkflowError` with the instance unchanged,
    so the caller can simply not save it.
    """

    def __init__(
        self,
        workflow: Any,
        *,
        clock: Clock,
        timeline: list[TimelineEntry] | None = None,
        outcome: str | None = None,
    ) -> None:
        """Internal: use `start` or `loads`."""
        self._workflow = workflow
        self._clock = clock
        self._timeline = timeline or []
        self._outcome = outcome
        self._steps = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        definition: ProcessDefinition,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        clock: Clock = utc_now,
    ) -> ProcessInstance:
        """Start a case of `definition` with `data` (the application's form data) and run it to its
        first user tasks or timers. `actor` is who submitted it (recorded in the timeline)."""
        initial = _checked_data(data or {})
        workflow = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs), script_engine=_SafeScriptEngine(clock))
        workflow.get_next_task(state=TaskState.READY).set_data(**initial)  # the Start task: data flows on from it
        instance = cls(workflow, clock=clock)
        instance._record(TimelineKind.STARTED, definition.process_id, name=definition.name, actor=actor)
        with instance._atomic():
            instance._run_engine()
        return instance

    def dumps(self) -> str:
        """Serialise the whole case (process definitions, tasks, data, timers, timeline) to JSON."""
        state = json.loads(_serializer().serialize_json(self._workflow))
        return json.dumps(
            {
                "format": FORMAT,
                "outcome": self._outcome,
                "timeline": [entry.to_json() for entry in self._timeline],
                "workflow": state,
            },
            ensure_ascii=False,
        )

    @classmethod
    def loads(cls, text: str, *, clock: Clock = utc_now) -> ProcessInstance:
        """Restore a case saved by `dumps`, e.g. in a fresh process after a restart, on `clock`.

        The process definitions inside are checked again, so a tampered save cannot smuggle in a
        script task; scripts would be refused by the engine anyway.
        """
        try:
            envelope = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkflowError(f"saved instance is not JSON: {exc}") from None
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            raise WorkflowError(f"saved instance is not in format {FORMAT}")
        try:
            workflow = _serializer().deserialize_json(json.dumps(envelope["workflow"]))
            timeline = [TimelineEntry.from_json(entry) for entry in envelope.get("timeline", [])]
        except (SpiffWorkflowException, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WorkflowError(f"saved instance cannot be restored: {exc!r}") from None
        for spec in (workflow.spec, *workflow.subprocess_specs.values()):
            _check_spec(spec)
        workflow.script_engine = _SafeScriptEngine(clock)  # a restored workflow would get the eval engine
        return cls(workflow, clock=clock, timeline=timeline, outcome=envelope.get("outcome"))

    # -- reading -----------------------------------------------------------------------------------

    @property
    def process_id(self) -> str:
        """The id of the top-level process."""
        return str(self._workflow.spec.name)

    @property
    def status(self) -> InstanceStatus:
        """RUNNING until the process ends; then its outcome (or CANCELLED)."""
        if self._outcome == InstanceStatus.CANCELLED:
            return InstanceStatus.CANCELLED
        if not self._workflow.is_completed():
            return InstanceStatus.RUNNING
        if self._outcome in (InstanceStatus.APPROVED, InstanceStatus.REJECTED):
            return InstanceStatus(self._outcome)
        return InstanceStatus.COMPLETED

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Everything that happened, oldest first."""
        return list(self._timeline)

    @property
    def data(self) -> dict[str, Any]:
        """A copy of the case data as of the last completed step (the final data once ended)."""
        task = self._workflow.last_task or self._workflow.task_tree
        data: dict[str, Any] = json.loads(json.dumps(task.data))  # a deep copy that also proves it is plain JSON
        return data

    def ready_user_tasks(self) -> list[UserTaskView]:
        """The user tasks people can work on now, in called processes too."""
        now = self._now()
        views = []
        for task in self._workflow.get_tasks(state=TaskState.READY, manual=True):
            extensions = task.task_spec.extensions or {}
            deadlines = _deadlines(task)
            due = min(deadlines) if deadlines else None
            views.append(
                UserTaskView(
                    id=str(task.id),
                    task=task.task_spec.bpmn_id,
                    name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                    process_id=task.workflow.spec.name,
                    department=extensions.get("department"),
                    role=extensions.get("role", task.task_spec.lane),
                    due=due,
                    overdue=due is not None and now >= due,
                    data=json.loads(json.dumps(task.data)),
                )
            )
        return views

    def pending_timers(self) -> list[PendingTimer]:
        """Timers waiting to fire, earliest first."""
        timers = []
        for task in self._workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            due = task.internal_data.get("event_value")
            if isinstance(definition, TimerEventDefinition) and due is not None:
                timers.append(
                    PendingTimer(
                        process_id=task.workflow.spec.name,
                        timer=task.task_spec.bpmn_id,
                        name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                        due=datetime.fromisoformat(due).astimezone(UTC),
                    )
                )
        return sorted(timers, key=lambda timer: timer.due)

    def next_timer_due(self) -> datetime | None:
        """When `advance()` next has work to do; store it so a job loads only the cases that are due."""
        timers = self.pending_timers()
        return timers[0].due if timers else None

    # -- acting ------------------------------------------------------------------------------------

    def complete_task(
        self,
        task_id: str,
        *,
        actor: str,
        decision: str | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> list[TimelineEntry]:
        """Complete the ready user task `task_id` as `actor`, then run the engine on.

        `form` is merged into the case data; `decision` is stored as `decision` (what gateways
        test, e.g. 'approve', 'reject', 'request_more'). A task completed without a decision
        clears it, so an earlier task's decision never leaks into a later gateway. Returns the
        timeline entries this produced (the task, then any ends).
        """
        task = self._find(task_id)
        # SpiffWorkflow treats a plain bpmn:task as manual work too, so it is completed like a user task.
        if task.state != TaskState.READY or not isinstance(task.task_spec, UserTask | ManualTask | NoneTask):
            raise TaskNotReady(f"task {task_id} ({task.task_spec.bpmn_id}) is {TaskState.get_name(task.state)}, not a ready user task")
        if decision is not None and not _KEY.fullmatch(decision):
            raise InvalidTaskData(f"decision {decision!r} must be a word like 'approve'")
        update = _checked_data(form or {})
        before = len(self._timeline)
        with self._atomic():
            task.data.update(update)
            task.data["decision"] = decision
            task.run()
            extensions = task.task_spec.extensions or {}
            self._record(
                TimelineKind.TASK_COMPLETED,
                task.workflow.spec.name,
                task=task.task_spec.bpmn_id,
                name=task.task_spec.bpmn_name,
                actor=actor,
                department=extensions.get("department"),
                role=extensions.get("role"),
                outcome=decision,
            )
            self._run_engine()
        return self._timeline[before:]

    def advance(self) -> list[TimelineEntry]:
        """Fire the timers that are due on the instance's clock and run the engine on.

        What a background job calls periodically (and what `complete_task` does after each task).
        Returns the timeline entries this produced, e.g. deadlines that passed.
        """
        before = len(self._timeline)
        with self._atomic():
            self._run_engine()
        return self._timeline[before:]

    def cancel(self, *, actor: str, reason: str | None = None) -> None:
        """Stop the case (withdrawn by the applicant, or stopped by staff); its tasks are cancelled."""
        if self.status is not InstanceStatus.RUNNING:
            raise TaskNotReady(f"the case has already ended ({self.status.value})")
        with self._atomic():
            self._workflow.cancel()
            self._outcome = InstanceStatus.CANCELLED.value
            self._record(TimelineKind.CANCELLED, self.process_id, actor=actor, outcome=reason)

    # -- internals ---------------------------------------------------------------------------------

    def _now(self) -> datetime:
        engine = self._workflow.script_engine
        return engine.now() if isinstance(engine, _SafeScriptEngine) else utc_now()

    def _record(self, kind: TimelineKind, process_id: str, **details: Any) -> None:
        self._timeline.append(TimelineEntry(at=self._now().astimezone(UTC), kind=kind, process_id=process_id, **details))

    def _find(self, task_id: str) -> Any:
        try:
            task = self._workflow.get_task_from_id(UUID(task_id))
        except (ValueError, SpiffWorkflowException):
            task = None
        if task is None:
            raise TaskNotFound(f"no task {task_id!r} in this case")
        return task

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        # SpiffWorkflow changes task states as it goes, so a failure half-way (say a gateway
        # condition naming data that is missing) would leave a half-run case. Snapshot and roll back.
        saved = self.dumps()
        try:
            yield
        except Exception as exc:
            restored = ProcessInstance.loads(saved, clock=self._clock)
            self._workflow, self._timeline, self._outcome = restored._workflow, restored._timeline, restored._outcome
            if isinstance(exc, WorkflowError):
                raise
            raise WorkflowError(f"the process failed: {exc}") from exc

    def _run_engine(self) -> None:
        workflow = self._workflow
        # SpiffWorkflow 3.2 deprecates refresh_waiting_tasks in favour of refresh_timers.
        refresh = getattr(workflow, "refresh_timers", None) or workflow.refresh_waiting_tasks
        self._steps = 0
        while True:
            refresh()  # timers whose time has come on our clock become READY
            if not any(not task.task_spec.manual for task in workflow.get_tasks(state=TaskState.READY)):
                break
            workflow.do_engine_steps(will_complete_task=self._before_engine_step)
        if workflow.is_completed() and not any(entry.kind is TimelineKind.ENDED for entry in self._timeline):
            self._record(TimelineKind.ENDED, self.process_id, outcome=self.status.value)

    def _before_engine_step(self, task: Any) -> None:
        self._steps += 1
        if self._steps > MAX_ENGINE_STEPS:
            # A loop of gateways with no person or timer in it would otherwise spin forever.
            raise WorkflowError(
                f"the process ran {MAX_ENGINE_STEPS} automatic steps without waiting for a person or a timer; it loops at {_where(task)}"
            )
        spec = task.task_spec
        process_id = task.workflow.spec.name
        extensions = getattr(spec, "extensions", None) or {}
        if isinstance(spec, EndEvent):
            outcome = _declared_outcome(spec.bpmn_id)
            if outcome is None:
                return
            # Written before the end event runs, so the data that flows out of a called process
            # (and on to the bundle's gateways) carries it.
            task.data[f"{process_id}_outcome"] = outcome
            if task.workflow is self._workflow:
                self._outcome = outcome
            else:
                self._record(TimelineKind.SUBPROCESS_ENDED, process_id, task=spec.bpmn_id, name=spec.bpmn_name, outcome=outcome)
        elif isinstance(spec, BoundaryEvent | IntermediateCatchEvent) and isinstance(spec.event_definition, TimerEventDefinition):
            self._record(
                TimelineKind.TIMER_FIRED,
                process_id,
                task=spec.bpmn_id,
                name=spec.bpmn_name,
                department=extensions.get("department"),
                role=extensions.get("role"),
                outcome=_timer_outcome(spec),
            )


def _timer_outcome(spec: Any) -> str:
    if isinstance(spec, BoundaryEvent):
        return "interrupted" if spec.cancel_activity else "overdue"
    return "elapsed"  # a wait step (e.g. until a hearing date), not a deadline


def _declared_outcome(end_event_id: str) -> str | None:
    for outcome in (InstanceStatus.APPROVED.value, InstanceStatus.REJECTED.value):
        if end_event_id == outcome or end_event_id.endswith(f"_{outcome}"):
            return outcome
    return None


def _deadlines(task: Any) -> list[datetime]:
    """Due times of the timers attached to a user task (they are its siblings under a boundary split)."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return []
    deadlines = []
    for sibling in parent.children:
        definition = getattr(sibling.task_spec, "event_definition", None)
        due = sibling.internal_data.get("event_value")
        if sibling is not task and isinstance(definition, TimerEventDefinition) and due is not None:
            deadlines.append(datetime.fromisoformat(due).astimezone(UTC))
    return deadlines


def _checked_data(data: Mapping[str, Any]) -> dict[str, Any]:
    for key in data:
        if not isinstance(key, str) or not _KEY.fullmatch(key) or key.startswith("_"):
            # Conditions can only name identifiers, and refuse names starting with '_'.
            raise InvalidTaskData(f"field name {key!r} must be an identifier not starting with '_'")
        if key in _RESERVED_KEYS or key.endswith("_outcome"):
            # Outcomes are written only by the engine at end events; a form must not forge one.
            raise InvalidTaskData(f"field name {key!r} is reserved for the engine")
    try:
        # A round trip both proves the data is plain JSON (so the case can be saved) and copies it.
        copied: dict[str, Any] = json.loads(json.dumps(dict(data), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidTaskData(f"data must be plain JSON (text, numbers, true/false, null, lists, objects): {exc}") from None
    return copied
