"""BPMN service processes on SpiffWorkflow (issue #5 §3): the demo processes end to end, timers on a
moved clock, save and restore (in a fresh interpreter too), and the safety rules: uploaded BPMN runs
no Python, conditions are a small whitelisted language, refused elements are named with their line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citybrain.gov_services.workflow import (
    DEMO_PROCESSES,
    ExpressionError,
    InstanceStatus,
    InvalidTaskData,
    ProcessDefinition,
    ProcessInstance,
    ProcessValidationError,
    TaskNotFound,
    TaskNotReady,
    TimelineKind,
    UserTaskView,
    WorkflowError,
    check_expression,
    evaluate_expression,
    load_demo_process,
    load_process,
)

START = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Jinan


@dataclass
class FakeClock:
    """The injected clock; tests move it instead of sleeping."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def demo() -> dict[str, ProcessDefinition]:
    return {process_id: load_demo_process(process_id) for process_id in ("simple_item", "joint_review", "restaurant_bundle")}


def bpmn(body: str, process_id: str = "p", extra: str = "") -> bytes:
    """A minimal BPMN document around a process body (and extra top-level elements)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="{process_id}" isExecutable="true">
{body}
  </bpmn:process>{extra}
</bpmn:definitions>
""".encode()


def gateway_process(condition: str) -> bytes:
    return bpmn(
        f"""    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:userTask id="check" name="审查"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f_no"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="end_approved">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end_rejected"/>
    <bpmn:endEvent id="end_approved"/>
    <bpmn:endEvent id="end_rejected"/>"""
    )


def only_task(instance: ProcessInstance, task: str) -> UserTaskView:
    matching = [view for view in instance.ready_user_tasks() if view.task == task]
    assert len(matching) == 1, [view.task for view in instance.ready_user_tasks()]
    return matching[0]


def complete(instance: ProcessInstance, task: str, decision: str | None = None, actor: str = "staff", **form: object) -> None:
    instance.complete_task(only_task(instance, task).id, actor=actor, decision=decision, form=form)


def ready(instance: ProcessInstance) -> set[tuple[str, str]]:
    return {(view.process_id, view.task) for view in instance.ready_user_tasks()}


# ---------------------------------------------------------------------------------------------------
# The safe expression language


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("decision == 'approve'", True),
        ("decision != 'approve' or area > 100", True),
        ("not (age >= 60 and district in ['历下区', '市中区'])", False),
        ("district not in ('槐荫区',)", True),
        ("10 < area <= 120", True),
        ("area * 2 - 1 > 200 % 7", True),
        ("-area < 0 and +area > 0", True),
        ("form['rooms'] == 3 and tags[0] == 'a'", True),
        ("missing_item is None and decision is not None", True),
        ("credit in {'A', 'B'}", True),
        # short-circuit: the unknown name on the right is never looked up
        ("decision == 'reject' and never_set == 1", False),
        ("decision == 'approve' or never_set == 1", True),
    ],
)
def test_safe_expressions_evaluate_over_case_data(expression: str, expected: object) -> None:
    names = {
        "decision": "approve",
        "area": 120,
        "age": 70,
        "district": "历下区",
        "form": {"rooms": 3},
        "tags": ["a"],
        "missing_item": None,
        "credit": "A",
    }
    assert evaluate_expression(expression, names) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('touch /tmp/pwned')", "function calls"),
        ("open('/etc/passwd')", "function calls"),
        ("exec('import os')", "function calls"),
        ("decision.upper == 'A'", "attribute access"),
        ("().__class__.__bases__", "attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "function calls"),
        ("(lambda: 1)", "lambdas"),
        ("[x for x in range(10)]", "comprehensions"),
        ("{k: 1 for k in 'ab'}", "comprehensions"),
        ("any(x for x in items)", "function calls"),
        ("f'{decision}'", "f-strings"),
        ("(x := 1)", "assignments"),
        ("items[0:2]", "only constant subscripts"),
        ("items[index]", "constant subscripts"),
        ("2 ** 100000", "the ** operator"),
        ("'a' if decision else 'b'", "conditional expressions"),
        ("{'a': 1}", "dict literals"),
        ("__builtins__", "names starting with '_'"),
        ("_secret == 1", "names starting with '_'"),
        ("b'bytes' == decision", "bytes literals"),
        ("decision is 'approve'", "'is' only compares with None"),
        ("decision ==", "not a valid expression"),
        ("import os", "not a valid expression"),
        ("x = 1", "not a valid expression"),
        ("(" * 300 + "1" + ")" * 300, "too many nested parentheses"),
        ("x == 1 or " * 300 + "x == 1", "longer than"),
    ],
)
def test_unsafe_or_unknown_syntax_is_refused_before_evaluation(expression: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(reason)):
        check_expression(expression)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        evaluate_expression("-" * 1999 + "1", {})


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("unknown == 1", "unknown name 'unknown'"),
        ("name * 100000000", "arithmetic needs numbers"),
        ("name + 'x'", "arithmetic needs numbers"),
        ("1 / zero", "division by zero"),
        ("name < 1", "cannot be evaluated"),
        ("form['nope']", "no item 'nope'"),
        ("number[0]", "cannot subscript"),
        ("1e308 * 10 > 1", "overflowed"),
    ],
)
def test_evaluation_errors_are_expression_errors(expression: str, reason: str) -> None:
    with pytest.raises(ExpressionError, match=reason):
        evaluate_expression(expression, {"name": "x", "zero": 0, "form": {}, "number": 5})


# ---------------------------------------------------------------------------------------------------
# Loading and refusing BPMN


def test_every_demo_process_loads_with_departments_and_roles() -> None:
    for process_id in DEMO_PROCESSES:
        definition = load_demo_process(process_id)
        assert definition.process_id == process_id
        assert definition.name
    bundle = load_demo_process("restaurant_bundle")
    assert bundle.process_ids == ["restaurant_bundle", "business_licence", "food_business_permit", "fire_safety", "outdoor_signage"]
    with pytest.raises(ProcessValidationError, match="no demo process 'nope'"):
        load_demo_process("nope")


def test_documents_load_from_paths_and_text(tmp_path: Path) -> None:
    path = tmp_path / "item.bpmn"
    path.write_bytes(gateway_process("decision == 'approve'"))
    assert load_process("p", path).process_id == "p"
    assert load_process("p", path.read_text()).process_id == "p"
    with pytest.raises(ProcessValidationError, match=r"^upload\.bpmn:6: <bpmn:scriptTask id='evil'>"):
        load_process("p", ("upload.bpmn", bpmn(SCRIPT_TASK)))
    with pytest.raises(ProcessValidationError, match="document 2: <bpmn:process id='p'> Duplicate process ID: p"):
        load_process("p", path, path.read_bytes())
    with pytest.raises(ProcessValidationError, match=r"process 'q' is not in the documents \(they define: p\)"):
        load_process("q", path)


SCRIPT_TASK = """    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="evil"/>
    <bpmn:scriptTask id="evil" name="clean up" scriptFormat="python">
      <bpmn:script>import os; os.system("rm -rf /")</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="evil" targetRef="end"/>
    <bpmn:endEvent id="end"/>"""


def test_a_script_task_is_refused_naming_the_element_its_id_and_line() -> None:
    with pytest.raises(ProcessValidationError) as caught:
        load_process("p", bpmn(SCRIPT_TASK))
    error = caught.value
    assert (error.element, error.element_id, error.line, error.document) == ("bpmn:scriptTask", "evil", 6, "document 1")
    assert "script tasks would run code" in str(error)
    assert str(error).startswith("document 1:6: <bpmn:scriptTask id='evil'>")


@pytest.mark.parametrize(
    ("body", "element", "reason"),
    [
        ('<bpmn:serviceTask id="x"/>', "bpmn:serviceTask", "service tasks"),
        ('<bpmn:businessRuleTask id="x"/>', "bpmn:businessRuleTask", "decision tables"),
        ('<bpmn:subProcess id="x"/>', "bpmn:subProcess", "use a call activity"),
        ('<bpmn:inclusiveGateway id="x"/>', "bpmn:inclusiveGateway", "inclusive gateways"),
        ('<bpmn:sendTask id="x"/>', "bpmn:sendTask", "messages"),
        ('<bpmn:intermediateThrowEvent id="x"/>', "bpmn:intermediateThrowEvent", "supported: userTask"),
        (
            '<bpmn:userTask id="x"><bpmn:multiInstanceLoopCharacteristics/></bpmn:userTask>',
            "bpmn:multiInstanceLoopCharacteristics",
            "multi-instance",
        ),
        (
            '<bpmn:startEvent id="x"><bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:startEvent>",
            "bpmn:startEvent",
            "start events must be plain",
        ),
        (
            '<bpmn:userTask id="t"/><bpmn:boundaryEvent id="x" attachedToRef="t"><bpmn:timerEventDefinition>'
            "<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "bpmn:timeCycle",
            "repeating timers",
        ),
        (
            '<bpmn:userTask id="t"/><bpmn:boundaryEvent id="x" attachedToRef="t"><bpmn:messageEventDefinition/></bpmn:boundaryEvent>',
            "bpmn:boundaryEvent",
            "only timer events",
        ),
        (
            '<bpmn:exclusiveGateway id="t"/><bpmn:boundaryEvent id="x" attachedToRef="t"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "bpmn:boundaryEvent",
            "must be attached to a user task",
        ),
        (
            '<bpmn:userTask id="t"/><bpmn:boundaryEvent id="x" attachedToRef="t"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>P1X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "bpmn:timeDuration",
            "not an ISO 8601 duration",
        ),
        (
            '<bpmn:userTask id="t"/><bpmn:boundaryEvent id="x" attachedToRef="t"><bpmn:timerEventDefinition>'
            "<bpmn:timeDate>2025-03-10T09:00:00</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:boundaryEvent>",
            "bpmn:timeDate",
            "has no time zone",
        ),
        ('<bpmn:callActivity id="x"/>', "bpmn:callActivity", "must name the process it calls"),
        (
            '<bpmn:userTask id="t"/><bpmn:endEvent id="e"/>'
            '<bpmn:sequenceFlow id="x" sourceRef="t" targetRef="e"><bpmn:conditionExpression>a == 1</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>",
            "bpmn:sequenceFlow",
            "only allowed on flows leaving an exclusive gateway",
        ),
    ],
)
def test_unsupported_elements_are_refused_with_a_reason(body: str, element: str, reason: str) -> None:
    with pytest.raises(ProcessValidationError, match=reason) as caught:
        load_process("p", bpmn(f"    {body}"))
    assert caught.value.element == element
    assert caught.value.line is not None


@pytest.mark.parametrize(
    "condition",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "decision.__class__",
        "(lambda: 1)()",
        "[c for c in decision]",
    ],
)
def test_a_python_condition_in_uploaded_bpmn_is_refused_at_load(condition: str) -> None:
    with pytest.raises(ProcessValidationError, match="not allowed in conditions") as caught:
        load_process("p", gateway_process(condition))
    assert caught.value.element == "bpmn:conditionExpression"


def test_a_gateway_branch_without_condition_or_default_is_refused() -> None:
    document = gateway_process("decision == 'approve'").replace(b' default="f_no"', b"")
    with pytest.raises(ProcessValidationError, match="leaves gateway 'gw' without a condition") as caught:
        load_process("p", document)
    assert caught.value.element_id == "f_no"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"<bpmn:definitions", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>',
            "DOCTYPE is not allowed",
        ),
        (b'<definitions xmlns="urn:other"/>', "root element must be bpmn:definitions"),
        (bpmn('    <bpmn:userTask id="t"/>\n    <bpmn:userTask id="t"/>'), "'t' is not a valid value of the atomic type 'xs:ID'"),
        (bpmn('    <bpmn:sequenceFlow id="f" sourceRef="a"/>'), "'targetRef' is required"),  # per the XSD
        (bpmn('    <other:thing xmlns:other="urn:vendor" id="x"/>'), "outside BPMN"),
        (b" " * 1_000_001, "larger than"),
    ],
)
def test_malformed_and_hostile_documents_are_refused(document: bytes, reason: str) -> None:
    with pytest.raises(ProcessValidationError, match=reason):
        load_process("p", document)


def test_vendor_extension_elements_are_ignored_not_refused() -> None:
    document = gateway_process("decision == 'approve'").replace(
        b'<bpmn:userTask id="check" name="\xe5\xae\xa1\xe6\x9f\xa5"/>',
        b'<bpmn:userTask id="check"><bpmn:extensionElements><camunda:formData xmlns:camunda="http://camunda.org/schema/1.0/bpmn"/>'
        b"</bpmn:extensionElements></bpmn:userTask>",
    )
    assert b"camunda:formData" in document
    assert load_process("p", document).process_id == "p"


def test_calls_to_missing_or_recursive_processes_are_refused() -> None:
    calls = """    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c"/>
    <bpmn:callActivity id="c" calledElement="{target}"/><bpmn:sequenceFlow id="f2" sourceRef="c" targetRef="e"/>
    <bpmn:endEvent id="e"/>"""
    with pytest.raises(ProcessValidationError, match="nowhere"):
        load_process("p", bpmn(calls.format(target="nowhere")))
    with pytest.raises(ProcessValidationError, match=r"calls back into a calling process \(a -> b -> a\)"):
        load_process("a", bpmn(calls.format(target="b"), "a"), bpmn(calls.format(target="a"), "b"))


# ---------------------------------------------------------------------------------------------------
# The simple item: 受理 → 审查 → 决定, with 补正 and two statutory-deadline timers


def test_simple_item_runs_through_the_three_roles_to_approval(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], {"applicant": "张三", "area": 80}, actor="citizen:370102", clock=clock)
    assert case.status is InstanceStatus.RUNNING
    accept = only_task(case, "accept")
    assert (accept.name, accept.department, accept.role, accept.due) == ("受理", "济南市行政审批服务局", "受理", None)
    assert accept.data == {"applicant": "张三", "area": 80}

    clock.advance(hours=1)
    complete(case, "accept", "accept", actor="clerk:1")
    review = only_task(case, "review")
    assert (review.role, review.due, review.overdue) == ("审查", clock.now + timedelta(days=10), False)
    clock.advance(days=2)
    complete(case, "review", actor="reviewer:7", opinion="材料齐全")
    clock.advance(days=1)
    entries = case.complete_task(only_task(case, "decide").id, actor="head:2", decision="approve")

    assert case.status is InstanceStatus.APPROVED
    assert case.ready_user_tasks() == []
    assert case.pending_timers() == []
    assert [entry.kind for entry in entries] == [TimelineKind.TASK_COMPLETED, TimelineKind.ENDED]
    assert case.data["opinion"] == "材料齐全"
    assert case.data["simple_item_outcome"] == "approved"
    timeline = [(e.kind.value, e.task, e.actor, e.role, e.outcome, e.at - START) for e in case.timeline]
    assert timeline == [
        ("started", None, "citizen:370102", None, None, timedelta(0)),
        ("task_completed", "accept", "clerk:1", "受理", "accept", timedelta(hours=1)),
        ("task_completed", "review", "reviewer:7", "审查", None, timedelta(days=2, hours=1)),
        ("task_completed", "decide", "head:2", "决定", "approve", timedelta(days=3, hours=1)),
        ("ended", None, None, None, "approved", timedelta(days=3, hours=1)),
    ]
    assert all(entry.department in (None, "济南市行政审批服务局") for entry in case.timeline)


def test_request_for_more_material_loops_back_to_acceptance(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], {"applicant": "李四"}, clock=clock)
    complete(case, "accept", "request_more", missing="房屋租赁合同")
    supplement = only_task(case, "supplement")
    assert (supplement.role, supplement.department) == ("申请人", None)  # a lane outside any department
    complete(case, "supplement", actor="citizen:1", lease_contract="sha256:ab12")
    complete(case, "accept", "accept")
    complete(case, "review")
    complete(case, "decide", "request_more")  # the decision can ask for material too
    complete(case, "supplement", actor="citizen:1")
    complete(case, "accept", "reject")  # 不予受理
    assert case.status is InstanceStatus.REJECTED
    assert case.data["lease_contract"] == "sha256:ab12"
    tasks = [entry.task for entry in case.timeline if entry.kind is TimelineKind.TASK_COMPLETED]
    assert tasks == ["accept", "supplement", "accept", "review", "decide", "supplement", "accept"]


def test_a_decision_to_refuse_ends_rejected(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    complete(case, "accept", "accept")
    complete(case, "review")
    complete(case, "decide", "reject", reason="不符合规划")
    assert case.status is InstanceStatus.REJECTED
    assert case.timeline[-1].outcome == "rejected"


def test_a_task_completed_without_decision_clears_the_previous_one(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    complete(case, "accept", "accept")
    complete(case, "review")
    assert only_task(case, "decide").data["decision"] is None  # 'accept' does not reach the decision gateway


def test_non_interrupting_deadline_flags_the_review_as_overdue(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    complete(case, "accept", "accept")
    assert [timer.timer for timer in case.pending_timers()] == ["review_warning", "review_deadline"]
    assert case.next_timer_due() == START + timedelta(days=10)

    clock.advance(days=9, hours=23)
    assert case.advance() == []
    assert only_task(case, "review").overdue is False

    clock.advance(hours=2)
    fired = case.advance()
    assert [(e.kind, e.task, e.outcome, e.role) for e in fired] == [(TimelineKind.TIMER_FIRED, "review_warning", "overdue", "审查")]
    review = only_task(case, "review")  # the reviewer keeps the case...
    assert review.overdue is True  # ...flagged in the work queue
    assert case.next_timer_due() == START + timedelta(days=15)
    complete(case, "review")
    complete(case, "decide", "approve")
    assert case.status is InstanceStatus.APPROVED


def test_interrupting_deadline_escalates_the_review(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    complete(case, "accept", "accept")
    review_id = only_task(case, "review").id
    clock.advance(days=16)
    fired = case.advance()  # both timers are due; the statutory deadline takes the review away
    assert {(e.task, e.outcome) for e in fired} == {("review_warning", "overdue"), ("review_deadline", "interrupted")}
    escalated = only_task(case, "escalated_review")
    assert (escalated.role, escalated.department, escalated.due) == ("督办", "济南市行政审批服务局", None)
    assert ready(case) == {("simple_item", "escalated_review")}
    with pytest.raises(TaskNotReady, match="CANCELLED"):
        case.complete_task(review_id, actor="late reviewer")
    complete(case, "escalated_review", actor="deputy:1")
    complete(case, "decide", "approve")
    assert case.status is InstanceStatus.APPROVED


# ---------------------------------------------------------------------------------------------------
# Parallel joint review (并联审批)


def test_joint_review_waits_for_every_department_or_its_deemed_consent(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["joint_review"], {"project": "泉城广场改造"}, clock=clock)
    complete(case, "accept", "accept")
    reviews = {view.task: view for view in case.ready_user_tasks()}
    assert {task: (view.department, view.role) for task, view in reviews.items()} == {
        "planning_review": ("济南市自然资源和规划局", "审查"),
        "environment_review": ("济南市生态环境局", "审查"),
        "fire_review": ("济南市消防救援支队", "审查"),
    }
    assert {view.due for view in reviews.values()} == {START + timedelta(days=5)}

    clock.advance(days=1)
    complete(case, "planning_review", "approve", planning_opinion="符合控规")
    complete(case, "environment_review", "approve", environment_opinion="无需环评")
    assert ready(case) == {("joint_review", "fire_review")}  # the join waits

    clock.advance(days=4)
    fired = case.advance()  # 消防 did not answer in 5 days: deemed consent (逾期视为同意)
    assert [(e.task, e.outcome, e.department) for e in fired] == [("fire_deemed", "interrupted", "济南市消防救援支队")]
    decide = only_task(case, "decide")
    assert decide.data["planning_opinion"] == "符合控规"  # opinions from all branches are merged
    assert decide.data["environment_opinion"] == "无需环评"
    complete(case, "decide", "approve")
    assert case.status is InstanceStatus.APPROVED


# ---------------------------------------------------------------------------------------------------
# 开餐馆一件事: call activities, chained and in parallel


def test_restaurant_bundle_passes_through_four_departments(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["restaurant_bundle"], {"shop_name": "泉城小馆"}, actor="company:91370100", clock=clock)
    assert ready(case) == {("restaurant_bundle", "accept")}
    complete(case, "accept", "accept")
    departments = {view.process_id: view.department for view in case.ready_user_tasks()}
    assert departments == {  # business licence, fire safety and signage start together
        "business_licence": "济南市市场监督管理局",
        "fire_safety": "济南市消防救援支队",
        "outdoor_signage": "济南市城市管理局",
    }
    for process_id in ("business_licence", "fire_safety", "outdoor_signage"):
        view = next(v for v in case.ready_user_tasks() if v.process_id == process_id)
        case.complete_task(view.id, actor=f"{process_id}:reviewer")
    assert ready(case) == {(p, "decide") for p in ("business_licence", "fire_safety", "outdoor_signage")}

    licence = next(v for v in case.ready_user_tasks() if v.process_id == "business_licence")
    case.complete_task(licence.id, actor="amr:1", decision="approve")
    # the food business permit needs the business licence, so it starts only now
    assert ("food_business_permit", "review") in ready(case)
    for view in case.ready_user_tasks():
        if view.process_id in ("fire_safety", "outdoor_signage"):
            case.complete_task(view.id, actor="head", decision="approve")
    food = next(v for v in case.ready_user_tasks() if v.process_id == "food_business_permit")
    case.complete_task(food.id, actor="amr:2")
    food = next(v for v in case.ready_user_tasks() if v.process_id == "food_business_permit")
    case.complete_task(food.id, actor="amr:3", decision="approve")

    assert ready(case) == {("restaurant_bundle", "deliver")}
    complete(case, "deliver", actor="window:1")
    assert case.status is InstanceStatus.APPROVED
    ends = {(e.process_id, e.outcome) for e in case.timeline if e.kind is TimelineKind.SUBPROCESS_ENDED}
    assert ends == {(p, "approved") for p in ("business_licence", "food_business_permit", "fire_safety", "outdoor_signage")}
    assert case.data["food_business_permit_outcome"] == "approved"


def test_restaurant_bundle_without_a_business_licence_is_refused(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["restaurant_bundle"], clock=clock)
    complete(case, "accept", "accept")
    for view in case.ready_user_tasks():
        case.complete_task(view.id, actor="reviewer")
    for view in case.ready_user_tasks():
        case.complete_task(view.id, actor="head", decision="reject" if view.process_id == "business_licence" else "approve")
    # no food business permit without a business licence; the bundle is refused as a whole
    assert ready(case) == {("restaurant_bundle", "notify_refusal")}
    complete(case, "notify_refusal")
    assert case.status is InstanceStatus.REJECTED
    processes = {e.process_id for e in case.timeline}
    assert "food_business_permit" not in processes
    assert case.data["business_licence_outcome"] == "rejected"


def test_a_bundle_can_be_refused_at_the_window(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["restaurant_bundle"], clock=clock)
    complete(case, "accept", "reject")
    assert case.status is InstanceStatus.REJECTED
    assert case.ready_user_tasks() == []


def test_a_deadline_on_a_call_activity_interrupts_the_called_process(clock: FakeClock) -> None:
    parent = bpmn(
        """    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <bpmn:callActivity id="call" calledElement="child"/>
    <bpmn:boundaryEvent id="too_late" attachedToRef="call">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end_approved"/>
    <bpmn:sequenceFlow id="f3" sourceRef="too_late" targetRef="end_rejected"/>
    <bpmn:endEvent id="end_approved"/><bpmn:endEvent id="end_rejected"/>""",
        "parent",
    )
    child = bpmn(
        """    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <bpmn:userTask id="work"/><bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="e"/><bpmn:endEvent id="e"/>""",
        "child",
    )
    case = ProcessInstance.start(load_process("parent", parent, child), clock=clock)
    assert ready(case) == {("child", "work")}
    clock.advance(days=3)
    assert [(e.kind, e.task, e.outcome) for e in case.advance()] == [
        (TimelineKind.TIMER_FIRED, "too_late", "interrupted"),
        (TimelineKind.ENDED, None, "rejected"),
    ]
    assert case.ready_user_tasks() == []
    assert case.status is InstanceStatus.REJECTED


# ---------------------------------------------------------------------------------------------------
# Persistence and restart


def test_a_saved_case_resumes_with_its_waiting_timers(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], {"applicant": "王五"}, clock=clock)
    complete(case, "accept", "accept", actor="clerk:1")
    saved = case.dumps()
    del case

    later = FakeClock(START + timedelta(days=16))  # the server was down for two weeks
    restored = ProcessInstance.loads(saved, clock=later)
    assert restored.process_id == "simple_item"
    assert [timer.timer for timer in restored.pending_timers()] == ["review_warning", "review_deadline"]
    assert [entry.kind for entry in restored.timeline] == [TimelineKind.STARTED, TimelineKind.TASK_COMPLETED]
    fired = restored.advance()
    assert {e.task for e in fired} == {"review_warning", "review_deadline"}
    complete(restored, "escalated_review")
    complete(restored, "decide", "approve")
    assert restored.status is InstanceStatus.APPROVED
    assert restored.data["applicant"] == "王五"


def test_a_bundle_resumes_mid_flight_with_a_timer_inside_a_called_process(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["restaurant_bundle"], clock=clock)
    complete(case, "accept", "accept")
    licence = next(v for v in case.ready_user_tasks() if v.process_id == "business_licence")
    case.complete_task(licence.id, actor="amr:1")
    before = {(v.id, v.process_id, v.task, v.department, v.role, v.due) for v in case.ready_user_tasks()}

    restored = ProcessInstance.loads(case.dumps(), clock=clock)
    assert {(v.id, v.process_id, v.task, v.department, v.role, v.due) for v in restored.ready_user_tasks()} == before
    assert [(t.process_id, t.timer) for t in restored.pending_timers()] == [("fire_safety", "inspection_overdue")]
    clock.advance(days=10)
    assert [(e.process_id, e.task) for e in restored.advance()] == [("fire_safety", "inspection_overdue")]
    while restored.status is InstanceStatus.RUNNING:
        view = restored.ready_user_tasks()[0]
        restored.complete_task(view.id, actor="staff", decision="approve" if view.task == "decide" else None)
    assert restored.status is InstanceStatus.APPROVED


RESUME_IN_A_FRESH_INTERPRETER = """
import json, sys
from datetime import datetime, timedelta
from citybrain.gov_services.workflow import ProcessInstance
saved = open(sys.argv[1], encoding="utf-8").read()
now = datetime.fromisoformat(sys.argv[2])
case = ProcessInstance.loads(saved, clock=lambda: now)
fired = [entry.task for entry in case.advance()]
tasks = [view.task for view in case.ready_user_tasks()]
case.complete_task(case.ready_user_tasks()[0].id, actor="deputy", decision="done")
print(json.dumps({"fired": fired, "tasks": tasks, "saved": case.dumps()}))
"""


def test_a_saved_case_resumes_in_a_fresh_interpreter(demo: dict[str, ProcessDefinition], clock: FakeClock, tmp_path: Path) -> None:
    """As after a server restart: nothing of the first process survives but the JSON."""
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    complete(case, "accept", "accept")
    path = tmp_path / "case.json"
    path.write_text(case.dumps(), encoding="utf-8")
    later = (START + timedelta(days=15, minutes=1)).isoformat()
    result = subprocess.run(
        [sys.executable, "-c", RESUME_IN_A_FRESH_INTERPRETER, str(path), later], capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout)
    assert out["fired"] == ["review_warning", "review_deadline"]
    assert out["tasks"] == ["escalated_review"]
    back = ProcessInstance.loads(out["saved"], clock=FakeClock(START + timedelta(days=16)))
    complete(back, "decide", "approve")
    assert back.status is InstanceStatus.APPROVED
    assert [e.actor for e in back.timeline if e.kind is TimelineKind.TASK_COMPLETED] == ["staff", "deputy", "staff"]


def test_a_tampered_save_cannot_smuggle_in_a_script(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    saved = json.loads(case.dumps())
    spec = saved["workflow"]["spec"]["task_specs"]["accept"]
    spec.update(typename="ScriptTask", script="import os; os.system('touch /tmp/pwned')")
    with pytest.raises(ProcessValidationError, match="ScriptTask is not allowed"):
        ProcessInstance.loads(json.dumps(saved), clock=clock)

    saved = json.loads(case.dumps())
    gateway = saved["workflow"]["spec"]["task_specs"]["accept_gateway"]
    gateway["cond_task_specs"][1]["condition"] = "__import__('os').system('touch /tmp/pwned')"
    with pytest.raises(ProcessValidationError, match="function calls are not allowed"):
        ProcessInstance.loads(json.dumps(saved), clock=clock)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not in format"),
        ('{"format": "citybrain.gov_services.workflow/1", "workflow": {"nonsense": 1}}', "cannot be restored"),
    ],
)
def test_garbage_is_not_restored(text: str, reason: str) -> None:
    with pytest.raises(WorkflowError, match=reason):
        ProcessInstance.loads(text)


# ---------------------------------------------------------------------------------------------------
# Errors leave the case as it was


def test_a_failing_condition_leaves_the_case_unchanged(clock: FakeClock) -> None:
    definition = load_process("p", gateway_process("area > 100"))  # valid, but the form may lack 'area'
    case = ProcessInstance.start(definition, clock=clock)
    task = only_task(case, "check")
    saved = case.dumps()
    with pytest.raises(ExpressionError, match=r"p/gw: 'area > 100': unknown name 'area'"):
        case.complete_task(task.id, actor="staff")
    assert case.dumps() == saved
    assert only_task(case, "check").id == task.id
    case.complete_task(task.id, actor="staff", form={"area": 150})
    assert case.status is InstanceStatus.APPROVED


def test_a_loop_without_people_or_timers_is_stopped(clock: FakeClock) -> None:
    spinning = bpmn(
        """    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="again"/>
    <bpmn:sequenceFlow id="again" sourceRef="gw" targetRef="gw2"/>
    <bpmn:sequenceFlow id="out" sourceRef="gw" targetRef="e"><bpmn:conditionExpression>1 == 2</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:exclusiveGateway id="gw2"/><bpmn:sequenceFlow id="back" sourceRef="gw2" targetRef="gw"/>
    <bpmn:endEvent id="e"/>"""
    )
    with pytest.raises(WorkflowError, match="500 automatic steps without waiting for a person or a timer; it loops at p/"):
        ProcessInstance.start(load_process("p", spinning), clock=clock)


def test_task_errors(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["simple_item"], clock=clock)
    task_id = only_task(case, "accept").id
    with pytest.raises(TaskNotFound):
        case.complete_task("00000000-0000-0000-0000-000000000000", actor="x")
    with pytest.raises(TaskNotFound):
        case.complete_task("not-a-uuid", actor="x")
    for form, reason in [
        ({"decision": "approve"}, "reserved"),
        ({"simple_item_outcome": "approved"}, "reserved"),  # only end events write outcomes
        ({"__class__": 1}, "identifier"),
        ({"_private": 1}, "identifier"),
        ({"1st": 1}, "identifier"),
        ({"when": datetime.now(UTC)}, "plain JSON"),
        ({"ratio": float("nan")}, "plain JSON"),
    ]:
        with pytest.raises(InvalidTaskData, match=reason):
            case.complete_task(task_id, actor="x", form=form)
    with pytest.raises(InvalidTaskData, match="must be a word"):
        case.complete_task(task_id, actor="x", decision="approve; drop table")
    with pytest.raises(InvalidTaskData):
        ProcessInstance.start(demo["simple_item"], {"decision": "approve"}, clock=clock)
    case.complete_task(task_id, actor="x", decision="accept", form={"面积": 80})  # Chinese field names are identifiers
    with pytest.raises(TaskNotReady, match="COMPLETED"):
        case.complete_task(task_id, actor="x")


def test_cancel_withdraws_the_case(demo: dict[str, ProcessDefinition], clock: FakeClock) -> None:
    case = ProcessInstance.start(demo["joint_review"], clock=clock)
    complete(case, "accept", "accept")
    case.cancel(actor="applicant", reason="申请人撤回")
    assert case.status is InstanceStatus.CANCELLED
    assert case.ready_user_tasks() == []
    assert (case.timeline[-1].kind, case.timeline[-1].outcome) == (TimelineKind.CANCELLED, "申请人撤回")
    assert ProcessInstance.loads(case.dumps(), clock=clock).status is InstanceStatus.CANCELLED
    with pytest.raises(TaskNotReady, match="already ended"):
        case.cancel(actor="applicant")


def test_the_clock_must_be_timezone_aware(demo: dict[str, ProcessDefinition]) -> None:
    with pytest.raises(WorkflowError, match="timezone-aware"):
        ProcessInstance.start(demo["simple_item"], clock=lambda: datetime(2025, 3, 3))


# ---------------------------------------------------------------------------------------------------
# Timers written the other ways BPMN allows


def wait_process(timer: str) -> bytes:
    return bpmn(
        f"""    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hearing"/>
    <bpmn:intermediateCatchEvent id="hearing" name="听证日">
      <bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="hearing" targetRef="decide"/>
    <bpmn:userTask id="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="end"/>
    <bpmn:endEvent id="end"/>"""
    )


@pytest.mark.parametrize(
    ("timer", "data", "due"),
    [
        ("<bpmn:timeDuration>'P2D'</bpmn:timeDuration>", {}, START + timedelta(days=2)),  # SpiffWorkflow's quoted style
        ("<bpmn:timeDuration>PT36H</bpmn:timeDuration>", {}, START + timedelta(hours=36)),
        ("<bpmn:timeDuration>notice_period</bpmn:timeDuration>", {"notice_period": "P7D"}, START + timedelta(days=7)),
        ("<bpmn:timeDate>2025-03-10T09:00:00+08:00</bpmn:timeDate>", {}, datetime(2025, 3, 10, 1, 0, tzinfo=UTC)),
        ("<bpmn:timeDate>hearing_at</bpmn:timeDate>", {"hearing_at": "2025-03-05T14:30:00+08:00"}, datetime(2025, 3, 5, 6, 30, tzinfo=UTC)),
    ],
)
def test_catch_event_waits_until_its_time(timer: str, data: dict[str, str], due: datetime, clock: FakeClock) -> None:
    case = ProcessInstance.start(load_process("p", wait_process(timer)), data, clock=clock)
    assert case.ready_user_tasks() == []
    assert case.next_timer_due() == due
    clock.now = due - timedelta(seconds=1)
    assert case.advance() == []
    clock.now = due
    assert [(e.kind, e.name, e.outcome) for e in case.advance()] == [(TimelineKind.TIMER_FIRED, "听证日", "elapsed")]
    assert ready(case) == {("p", "decide")}


def test_a_timer_date_from_data_needs_a_time_zone(clock: FakeClock) -> None:
    definition = load_process("p", wait_process("<bpmn:timeDate>hearing_at</bpmn:timeDate>"))
    with pytest.raises(ExpressionError, match="has no time zone"):
        ProcessInstance.start(definition, {"hearing_at": "2025-03-05T14:30:00"}, clock=clock)
