"""Decision tables for instant approval: DMN parsing, the FEEL subset, hit policies, overlap checks, demo tables."""

from __future__ import annotations

import builtins
import itertools
import json
import random
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from xml.sax.saxutils import escape

import pytest

from citybrain.gov_services import decisions as d
from citybrain.gov_services.decisions import (
    DecisionTableError,
    DmnFormatError,
    FeelSyntaxError,
    FeelTypeError,
    HitPolicy,
    HitPolicyViolation,
    MissingFactError,
    OverlapError,
)

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"

# --------------------------------------------------------------------------------------- builders

Input = tuple[str, str, str | None, str | None]  # label, expression, typeRef, inputValues
Output = tuple[str, str | None, str | None, str | None]  # name, typeRef, outputValues, default
RuleSpec = tuple[Sequence[str], Sequence[str]] | tuple[Sequence[str], Sequence[str], str]  # inputs, outputs[, description]


def table_xml(
    rules: Sequence[RuleSpec],
    *,
    inputs: Sequence[Input] = (("年龄", "age", "number", None),),
    outputs: Sequence[Output] = (("result", None, None, None),),
    hit_policy: str = "UNIQUE",
    aggregation: str | None = None,
    decision_id: str = "t",
    namespace: str = DMN13,
) -> str:
    """A DMN document with one decision table; each rule is (input cells, output cells[, description])."""

    def text(value: str) -> str:
        return f"<text>{escape(value)}</text>"

    parts = [f'<definitions xmlns="{namespace}" id="defs" name="defs" namespace="https://example.org/t">']
    parts.append(f'<decision id="{decision_id}" name="测试决策 {decision_id}">')
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    parts.append(f'<decisionTable id="{decision_id}_table" hitPolicy="{hit_policy}"{agg}>')
    for i, (label, expression, type_ref, allowed) in enumerate(inputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        values = f"<inputValues>{text(allowed)}</inputValues>" if allowed else ""
        parts.append(
            f'<input id="in{i}" label="{escape(label)}"><inputExpression{type_attr}>{text(expression)}</inputExpression>{values}</input>'
        )
    for i, (name, type_ref, allowed, default) in enumerate(outputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        values = f"<outputValues>{text(allowed)}</outputValues>" if allowed else ""
        default_xml = f"<defaultOutputEntry>{text(default)}</defaultOutputEntry>" if default else ""
        parts.append(f'<output id="out{i}" name="{name}"{type_attr}>{values}{default_xml}</output>')
    parts.append('<annotation name="依据"/>')
    for n, rule in enumerate(rules, start=1):
        ins, outs = rule[0], rule[1]
        description = f"<description>{escape(rule[2])}</description>" if len(rule) > 2 else ""
        cells = "".join(f"<inputEntry>{text(c)}</inputEntry>" for c in ins)
        cells += "".join(f"<outputEntry>{text(c)}</outputEntry>" for c in outs)
        parts.append(f'<rule id="r{n}">{description}{cells}<annotationEntry>{text(f"注释{n}")}</annotationEntry></rule>')
    parts.append("</decisionTable></decision></definitions>")
    return "".join(parts)


def table(rules: Sequence[RuleSpec], **kwargs: object) -> d.DecisionTable:
    return d.parse_dmn(table_xml(rules, **kwargs))  # type: ignore[arg-type]


def one_column(*cells: str, type_ref: str | None = "number", hit_policy: str = "UNIQUE") -> d.DecisionTable:
    """A table over one input ``x`` whose rule n outputs n."""
    return table([([c], [str(n)]) for n, c in enumerate(cells, start=1)], inputs=(("x", "x", type_ref, None),), hit_policy=hit_policy)


def fired(t: d.DecisionTable, facts: dict[str, object]) -> list[int]:
    return [r.index for r in d.evaluate(t, facts).rules]


# ------------------------------------------------------------------------------------ hit policies


def test_unique_picks_the_one_matching_rule_and_records_why() -> None:
    t = table(
        [([">= 60"], ['"yes"'], "满60周岁"), (["< 60"], ['"no"'], "未满60周岁")],
        outputs=(("result", "string", None, None),),
    )
    result = d.evaluate(t, {"age": 65, "unused": "x"})
    assert result.outputs == {"result": "yes"}
    assert result.matched
    (rule,) = result.rules
    assert (rule.index, rule.id, rule.description, dict(rule.annotations)) == (1, "r1", "满60周岁", {"依据": "注释1"})
    assert result.facts == {"age": 65}  # only what the table read
    assert [(i.label, i.expression, i.value) for i in result.inputs] == [("年龄", "age", 65)]


def test_unique_with_no_match_gives_no_outputs_or_the_defaults() -> None:
    t = table([([">= 60"], ['"yes"'])])
    result = d.evaluate(t, {"age": 30})
    assert (result.matched, result.outputs, result.rules) == (False, {}, ())
    with_default = table([([">= 60"], ['"yes"'])], outputs=(("result", "string", None, '"manual"'),))
    assert d.evaluate(with_default, {"age": 30}).outputs == {"result": "manual"}


def test_unique_conflict_at_evaluation_names_the_rules() -> None:
    t = one_column(">= 60", "[50..70]", "< 10")
    with pytest.raises(HitPolicyViolation) as caught:
        d.evaluate(t, {"x": 65})
    assert caught.value.rules == (1, 2)
    assert "rules 1, 2" in str(caught.value)
    assert "x=65" in str(caught.value)
    assert caught.value.key == "gov_services.decision.hit_policy"
    assert fired(t, {"x": 80}) == [1]  # a value only one rule takes is fine


def test_first_takes_the_first_match_in_rule_order() -> None:
    cells = (">= 100", ">= 90", ">= 80", "-")
    t = one_column(*cells, hit_policy="FIRST")
    assert [d.evaluate(t, {"x": age}).outputs["result"] for age in (101, 95, 85, 20)] == [1, 2, 3, 4]
    reversed_order = one_column(*reversed(cells), hit_policy="FIRST")
    assert d.evaluate(reversed_order, {"x": 101}).outputs == {"result": 1}  # "-" is now first
    assert fired(reversed_order, {"x": 101}) == [1]


def test_collect_lists_every_match_in_rule_order() -> None:
    t = table([([">= 80"], ["100"]), ([">= 90"], ["100"]), ([">= 100"], ["300"])], hit_policy="COLLECT")
    result = d.evaluate(t, {"age": 95})
    assert result.outputs == {"result": (100, 100)}
    assert [r.index for r in result.rules] == [1, 2]
    assert d.evaluate(t, {"age": 20}).outputs == {"result": ()}
    rule_order = table([([">= 80"], ["1"]), (["-"], ["2"])], hit_policy="RULE ORDER")
    assert d.evaluate(rule_order, {"age": 85}).outputs == {"result": (1, 2)}


@pytest.mark.parametrize(
    ("aggregation", "age", "expected"),
    [
        ("SUM", 101, 500),
        ("SUM", 85, 100),
        ("SUM", 20, None),  # FEEL: the sum of no values is null
        ("MIN", 101, 100),
        ("MAX", 101, 300),
        ("COUNT", 101, 3),
        ("COUNT", 20, 0),
    ],
)
def test_collect_aggregators(aggregation: str, age: int, expected: object) -> None:
    t = table([([">= 80"], ["100"]), ([">= 90"], ["100"]), ([">= 100"], ["300"])], hit_policy="COLLECT", aggregation=aggregation)
    result = d.evaluate(t, {"age": age})
    assert result.outputs == {"result": expected}
    assert result.aggregation == aggregation


def test_collect_sum_is_decimal_exact() -> None:
    t = table([(["-"], ["0.1"]), (["-"], ["0.2"])], hit_policy="COLLECT", aggregation="SUM")
    assert d.evaluate(t, {"age": 1}).outputs == {"result": Decimal("0.3")}


def test_any_allows_agreeing_rules_and_refuses_disagreeing_ones() -> None:
    agreeing = table([([">= 60"], ['"yes"']), ([">= 65"], ['"yes"'])], hit_policy="ANY")
    result = d.evaluate(agreeing, {"age": 70})
    assert (result.outputs, [r.index for r in result.rules]) == ({"result": "yes"}, [1, 2])
    d.check_table(agreeing)  # overlapping with the same outputs is what ANY allows
    disagreeing = table([([">= 60"], ['"yes"']), ([">= 65"], ['"no"'])], hit_policy="ANY")
    with pytest.raises(HitPolicyViolation, match="different outputs") as caught:
        d.evaluate(disagreeing, {"age": 70})
    assert caught.value.rules == (1, 2)
    with pytest.raises(OverlapError):
        d.check_table(disagreeing)
    # 1 and true are equal in Python, not in FEEL
    mixed = table([([">= 60"], ["1"]), ([">= 65"], ["true"])], hit_policy="ANY")
    with pytest.raises(HitPolicyViolation):
        d.evaluate(mixed, {"age": 70})


def test_priority_and_output_order_rank_by_the_output_values() -> None:
    outputs = (("outcome", "string", '"rejected","manual_review","approved"', None),)
    rules = [([">= 18"], ['"approved"']), (["[16..20]"], ['"manual_review"']), ([">= 19"], ['"rejected"'])]
    priority = table(rules, outputs=outputs, hit_policy="PRIORITY")
    assert d.evaluate(priority, {"age": 19}).outputs == {"outcome": "rejected"}
    assert fired(priority, {"age": 19}) == [3]
    assert d.evaluate(priority, {"age": 18}).outputs == {"outcome": "manual_review"}
    assert d.evaluate(priority, {"age": 40}).outputs == {"outcome": "rejected"}
    output_order = table(rules, outputs=outputs, hit_policy="OUTPUT ORDER")
    assert d.evaluate(output_order, {"age": 19}).outputs == {"outcome": ("rejected", "manual_review", "approved")}


def test_hit_policy_configuration_errors() -> None:
    with pytest.raises(DmnFormatError, match="aggregation SUM needs hitPolicy COLLECT"):
        table([(["-"], ["1"])], hit_policy="FIRST", aggregation="SUM")
    with pytest.raises(DmnFormatError, match="exactly one output"):
        table([(["-"], ["1", "2"])], outputs=(("a", None, None, None), ("b", None, None, None)), hit_policy="COLLECT", aggregation="SUM")
    with pytest.raises(DmnFormatError, match="ranks rules by the output values"):
        table([(["-"], ["1"])], hit_policy="PRIORITY")
    with pytest.raises(DmnFormatError, match="unknown hitPolicy"):
        table([(["-"], ["1"])], hit_policy="SOMETIMES")
    with pytest.raises(FeelTypeError, match="SUM adds numbers"):
        table([(["-"], ['"a"'])], hit_policy="COLLECT", aggregation="SUM")
    assert table([(["-"], ["1"])], hit_policy="rule  order").hit_policy is HitPolicy.RULE_ORDER


# ------------------------------------------------------------------------------ static overlap check


def test_an_overlapping_unique_table_is_refused_at_upload_with_the_rule_numbers() -> None:
    source = table_xml(
        [([">= 60", '"历下区","市中区"'], ['"approved"']), (["[55..65]", '"历下区"'], ['"rejected"']), (["< 55", "-"], ['"rejected"'])],
        inputs=(("年龄", "age", "number", None), ("户籍", "household_district", "string", None)),
    )
    with pytest.raises(OverlapError) as caught:
        d.validate_upload(source)
    (overlap,) = caught.value.overlaps
    assert (overlap.first, overlap.second, overlap.first_id, overlap.second_id) == (1, 2, "r1", "r2")
    assert overlap.example == {"年龄": 60, "户籍": "历下区"}
    assert 'rules 1 and 2 both match 年龄=60, 户籍="历下区"' in str(caught.value)
    assert caught.value.params["pairs"] == [[1, 2]]
    # the example really does match both rules
    with pytest.raises(HitPolicyViolation) as at_runtime:
        d.evaluate(d.parse_dmn(source), {"age": 60, "household_district": "历下区"})
    assert at_runtime.value.rules == (1, 2)


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("< 60", ">= 60", False),
        ("<= 60", ">= 60", True),
        ("[1..5]", "(5..10]", False),
        ("[1..5]", "[5..10]", True),
        ("[1..5)", "]5..10]", False),
        ("(1..2)", "(1.5..3)", True),
        ("1, 2, 3", "[4..9]", False),
        ("1, 2, 3", "[3..9]", True),
        ("not(< 5)", "< 5", False),
        ("not([0..10])", "[5..10]", False),
        ("not([0..10])", "[10..20]", True),
        ("-", "7", True),
        ("null", "< 5", False),
        ("null", "not(< 5)", False),  # not() of a null answer is null: no match
        ("null", "not(5)", True),  # null = 5 is false, so not(5) takes null
        ("null", "-", True),
        ("-1.5", "[-2..-1]", True),
    ],
)
def test_overlap_of_number_cells(first: str, second: str, overlap: bool) -> None:
    t = one_column(first, second, hit_policy="COLLECT")
    found = d.overlaps(t)
    assert bool(found) is overlap
    if found:
        # the example is a real witness: both rules match it
        assert fired(t, {"x": found[0].example.get("x")}) == [1, 2]


@pytest.mark.parametrize(
    ("first", "second", "type_ref", "overlap"),
    [
        ('"a"', '"b"', "string", False),
        ('"a", "b"', '"b"', "string", True),
        ('not("a")', '"a"', "string", False),
        ('not("a")', '"b"', "string", True),
        ('not("a")', 'not("b")', "string", True),
        ("true", "false", "boolean", False),
        ("not(true)", "false", "boolean", True),
        ("not(true)", "not(false)", "boolean", True),  # both take null: null = true is false
        ("not(true, null)", "not(false)", "boolean", False),
        ("true", "-", "boolean", True),
        ('"a"', '"a"', None, True),
    ],
)
def test_overlap_of_string_and_boolean_cells(first: str, second: str, type_ref: str | None, overlap: bool) -> None:
    t = table([([first], ["1"]), ([second], ["2"])], inputs=(("x", "x", type_ref, None),), hit_policy="COLLECT")
    found = d.overlaps(t)
    assert bool(found) is overlap
    if found:
        assert fired(t, {"x": found[0].example.get("x")}) == [1, 2]


def test_overlap_needs_every_column_to_meet() -> None:
    t = table(
        [([">= 60", "true"], ["1"]), ([">= 60", "false"], ["2"]), (["< 60", "-"], ["3"])],
        inputs=(("age", "age", "number", None), ("local", "local", "boolean", None)),
    )
    assert d.overlaps(t) == []
    d.check_table(t)


def test_overlap_respects_the_allowed_input_values() -> None:
    rules = [(['not("a")'], ["1"]), (['not("b")'], ["2"])]
    assert d.overlaps(table(rules, inputs=(("x", "x", "string", None),)))  # "c" matches both
    # with only "a" and "b" allowed, no allowed value matches both; null is left to a not() that takes it
    narrowed = table(rules, inputs=(("x", "x", "string", '"a","b"'),))
    assert [(o.first, o.second, dict(o.example)) for o in d.overlaps(narrowed)] == [(1, 2, {"x": None})]
    numbers = table([(["> 3"], ["1"]), (["< 7"], ["2"])], inputs=(("x", "x", "number", "< 3, > 7"),))
    assert d.overlaps(numbers) == []


def test_first_and_collect_tables_may_overlap() -> None:
    for policy in ("FIRST", "COLLECT", "RULE ORDER"):
        t = one_column(">= 60", "-", hit_policy=policy)
        assert len(d.overlaps(t)) == 1
        d.check_table(t)


def test_the_overlap_check_agrees_with_brute_force_evaluation() -> None:
    """Random number/string tables: a static overlap exactly when some sample input matches both rules."""
    rng = random.Random(20240505)
    points = [0, 5, 10]
    samples: list[object] = [-1, 0, 2.5, 5, 7.5, 10, 11, None]

    def number_cell() -> str:
        kind = rng.choice(["-", "eq", "cmp", "range", "list", "null"])
        a, b = sorted(rng.sample(points, 2))
        if kind == "-":
            return "-"
        if kind == "eq":
            return str(a)
        if kind == "cmp":
            return f"{rng.choice(['<', '<=', '>', '>='])} {a}"
        if kind == "range":
            return f"{rng.choice('[(]')}{a}..{b}{rng.choice('])[')}"
        if kind == "null":
            return "null"
        return f"{a}, {rng.choice(['<', '>='])} {b}"

    def string_cell() -> str:
        chosen = ", ".join(f'"{s}"' for s in rng.sample("abc", rng.randint(1, 2)))
        return rng.choice(["-", chosen, f"not({chosen})", "null"])

    for _ in range(150):
        rows = []
        for _ in range(4):
            number, string = number_cell(), string_cell()
            if rng.random() < 0.3 and number != "-":
                number = f"not({number})"
            rows.append(([number, string], ["1"]))
        t = table(rows, inputs=(("n", "n", "number", None), ("s", "s", "string", None)), hit_policy="COLLECT")
        brute: set[tuple[int, int]] = set()
        for n, s in itertools.product(samples, ["a", "b", "c", "z", None]):
            hit = fired(t, {"n": n, "s": s})
            brute |= {(i, j) for i in hit for j in hit if i < j}
        static = {(o.first, o.second) for o in d.overlaps(t)}
        assert static == brute, [r[0] for r in rows]


# ------------------------------------------------------------------------------------- FEEL subset


@pytest.mark.parametrize(
    ("cell", "matching", "not_matching"),
    [
        ("-", [1, None, -3], []),
        ("", [1, None], []),
        ("5", [5, Decimal("5.0"), 5.0], [4, None]),
        ("-5", [-5], [5]),
        (".5", [0.5], [5]),
        ("1.25", [Decimal("1.25")], [1.2]),
        ("< 10", [9.99, -100], [10, None]),
        ("<= 10", [10], [10.01]),
        ("> -1", [0], [-1]),
        (">= 0", [0], [-0.001]),
        ("[1..5]", [1, 5, 3], [0.99, 5.01]),
        ("(1..5)", [1.01, 4.99], [1, 5]),
        ("]1..5[", [2], [1, 5]),
        ("[1..5)", [1], [5]),
        ("(1..5]", [5], [1]),
        ("[-10..-1]", [-10, -1], [0]),
        ("1, 3, [5..6]", [1, 3, 5.5], [2, 4]),
        ("not(1, 2)", [3, None], [1, 2]),
        ("not(< 5)", [5, 6], [4, None]),
        ("null", [None], [0]),
        ("not(null)", [0], [None]),
        ("  >=   60  ", [60], [59]),
    ],
)
def test_number_unary_tests(cell: str, matching: list[object], not_matching: list[object]) -> None:
    tests = d.compile_unary_tests(cell)
    assert all(tests.matches(v) for v in matching), matching
    assert not any(tests.matches(v) for v in not_matching), not_matching


@pytest.mark.parametrize(
    ("cell", "matching", "not_matching"),
    [
        ('"历下区"', ["历下区"], ["市中区", None]),
        ('"a,b", "c"', ["a,b", "c"], ["a", "b"]),
        (r'"say \"hi\""', ['say "hi"'], ["say hi"]),
        (r'"\u5386\u4e0b"', ["历下"], ["x"]),
        ('not("失信惩戒")', ["正常", None], ["失信惩戒"]),
        ('""', [""], [" "]),
        ("true", [True], [False, None]),
        ("false", [False], [True]),
        ("not(true)", [False, None], [True]),
    ],
)
def test_string_and_boolean_unary_tests(cell: str, matching: list[object], not_matching: list[object]) -> None:
    tests = d.compile_unary_tests(cell)
    assert all(tests.matches(v) for v in matching)
    assert not any(tests.matches(v) for v in not_matching)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (">= sixty", "is a name"),
        ("历下区", "strings need double quotes"),
        ("[5..1]", "the range is empty"),
        ("(5..5]", "the range is empty"),
        ('>= "a"', "comparisons and ranges apply to numbers only"),
        ('["a".."b"]', "numbers only"),
        ("= 5", "write the value alone"),
        ("!= 5", "not(60)"),
        ('"abc', "unterminated string"),
        ("＞＝60", "full-width"),
        ("“历下区”", "full-width"),
        ("1 2", "unexpected '2'"),
        ("not(1", "')' closing not("),
        ("not 1", "expected a literal, found 'not'"),
        ("[1..5", "closing the range"),
        ("[1 5]", "'..' in the range"),
        ("1,", "expected a literal, found the end"),
        ("'a'", "double quotes"),
        (">= 1e5", "unexpected 'e5'"),
        (r'"\q"', "unknown escape"),
        ("not(not(1))", "expected a literal"),
        ("< age", "is a name"),
    ],
)
def test_malformed_unary_tests_are_refused_with_a_reason(cell: str, reason: str) -> None:
    with pytest.raises(FeelSyntaxError, match=None) as caught:
        d.compile_unary_tests(cell)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "facts", "expected"),
    [
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("10 / 4", {}, Decimal("2.5")),
        ("0.1 + 0.2 = 0.3", {}, True),
        ("-age + 100", {"age": 30}, 70),
        ("- - 1", {}, 1),
        ('age >= 60 and household_district = "历下区"', {"age": 61, "household_district": "历下区"}, True),
        ("age >= 60 or flag", {"age": 61, "flag": None}, True),
        ("age >= 60 and flag", {"age": 61, "flag": None}, None),
        ("age >= 60 and flag", {"age": 50, "flag": None}, False),
        ("if age >= 90 then 200 else 100", {"age": 95}, 200),
        ("if flag then 1 else 2", {"flag": None}, 2),
        ('"第" + string(n) + "孩"', {"n": 2}, "第2孩"),
        ("string(true)", {}, "true"),
        ('list contains(existing_licences, "个体工商户营业执照")', {"existing_licences": ["个体工商户营业执照"]}, True),
        ('list  contains ( existing_licences , "x" )', {"existing_licences": ()}, False),
        ("count(xs)", {"xs": [1, 2, 3]}, 3),
        ("sum(xs)", {"xs": [1, 2.5]}, Decimal("3.5")),
        ("sum(1, 2, 3)", {}, 6),
        ("min(xs)", {"xs": [3, 1, 2]}, 1),
        ("max([3, 1, 2])", {}, 3),
        ('max("a", "b")', {}, "b"),
        ("min([])", {}, None),
        ("sum([1, null])", {}, None),
        ("abs(-3.5)", {}, Decimal("3.5")),
        ("floor(-1.5)", {}, -2),
        ("ceiling(1.2)", {}, 2),
        ("decimal(1.125, 2)", {}, Decimal("1.12")),
        ("decimal(1.135, 2)", {}, Decimal("1.14")),
        ('string length("济南")', {}, 2),
        ('starts with(code, "3701")', {"code": "370102"}, True),
        ('ends with(code, "02")', {"code": "370102"}, True),
        ('contains(code, "01")', {"code": "370102"}, True),
        ('upper case("ab") + lower case("CD")', {}, "ABcd"),
        ("not(flag)", {"flag": False}, True),
        ("x = null", {"x": None}, True),
        ("x != 1", {"x": None}, True),
        ("x < 1", {"x": None}, None),
        ("x + 1", {"x": None}, None),
        ("[1, [2, 3]] = [1, [2, 3]]", {}, True),
        ("年龄 >= 60", {"年龄": 60}, True),
        ("1 / 3", {}, Decimal("0.3333333333333333333333333333333333")),
        ("xs", {"xs": {"b", "a"}}, ("a", "b")),
    ],
)
def test_expressions(expression: str, facts: dict[str, object], expected: object) -> None:
    assert d.compile_expression(expression).evaluate(facts) == expected


@pytest.mark.parametrize(
    ("expression", "error", "reason"),
    [
        ("1 < 2 < 3", FeelSyntaxError, "chained comparisons"),
        ('date("2024-01-01")', FeelSyntaxError, "unknown function 'date'"),
        ("count(1, 2)", FeelSyntaxError, "count() takes 1 argument"),
        ("list contains(xs)", FeelSyntaxError, "takes 2 argument"),
        ("a.b", FeelSyntaxError, "attribute access"),
        ("then", FeelSyntaxError, "unexpected keyword 'then'"),
        ("if a then b", FeelSyntaxError, "expected 'else'"),
        ("", FeelSyntaxError, "empty expression"),
        ("(" * 60 + "1" + ")" * 60, FeelSyntaxError, "nested more than"),
        ("1+" * 3000 + "1", FeelSyntaxError, "longer than"),
        ("1 +", FeelSyntaxError, "unexpected the end"),
    ],
)
def test_malformed_expressions(expression: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as caught:
        d.compile_expression(expression)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "facts", "reason"),
    [
        ('age + "x"', {"age": 1}, "cannot apply + to number 1 and string"),
        ('age = "60"', {"age": 60}, "cannot compare number 60 with string"),
        ("flag < true", {"flag": False}, "cannot order"),
        ("1 / 0", {}, "division by zero"),
        ("age and true", {"age": 1}, "and needs a boolean"),
        ("if 1 then 2 else 3", {}, "if needs a boolean"),
        ("count(age)", {"age": 1}, "count() takes a list"),
        ('sum("a")', {}, "sum() takes numbers"),
        ("x", {"x": {"a": 1}}, "facts are numbers, strings"),
        ("x", {"x": float("nan")}, "not a finite number"),
        ("x * x", {"x": Decimal("1E+4000")}, "out of range"),
    ],
)
def test_expression_type_errors(expression: str, facts: dict[str, object], reason: str) -> None:
    with pytest.raises(FeelTypeError) as caught:
        d.compile_expression(expression).evaluate(facts)
    assert reason in str(caught.value)


def test_expression_names_and_missing_facts() -> None:
    expression = d.compile_expression("if age >= 60 then list contains(xs, household) else age")
    assert expression.names == ("age", "xs", "household")
    with pytest.raises(MissingFactError) as caught:
        expression.evaluate({})
    assert caught.value.names == ("age",)


# ------------------------------------------------------------------------------------------- safety


INJECTIONS = [
    "__import__('os').system('x')",
    '__import__("os").system("x")',
    "__import__",
    "__builtins__",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    'eval("1")',
    'exec("import os")',
    "open('/etc/passwd')",
    "lambda: 1",
    "[c for c in ()]",
    "x; import os",
    "globals()",
    "age.real",
    "getattr(age, 'real')",
]


@pytest.mark.parametrize("code", INJECTIONS)
def test_code_is_refused_as_an_expression(code: str) -> None:
    with pytest.raises(FeelSyntaxError):
        d.compile_expression(code)


@pytest.mark.parametrize("code", INJECTIONS)
def test_code_is_refused_in_every_cell_of_an_uploaded_table(code: str) -> None:
    with pytest.raises(FeelSyntaxError) as as_test:
        table([([code], ["1"])])
    assert (as_test.value.rule, as_test.value.column) == (1, "input '年龄'")
    with pytest.raises(FeelSyntaxError) as as_output:
        table([(["-"], [code])])
    assert (as_output.value.rule, as_output.value.column) == (1, "output 'result'")
    with pytest.raises(FeelSyntaxError) as as_input:
        table([(["-"], ["1"])], inputs=(("年龄", code, None, None),))
    assert as_input.value.column == "input '年龄' expression"


def test_nothing_is_evaluated_by_python(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("eval/exec/compile must never run")

    sources = {name: (resources.files("citybrain.gov_services") / "dmn" / f"{name}.dmn").read_bytes() for name in d.DEMO_DECISIONS}
    with monkeypatch.context() as patched:
        for name in ("eval", "exec", "compile"):
            patched.setattr(builtins, name, refuse)
        tables = {name: d.parse_dmn(source) for name, source in sources.items()}
        for t in tables.values():
            d.check_table(t)
        facts = {"household_district": "历下区", "has_residence_permit": False, "child_order": 2}
        result = d.evaluate(tables["birth_registration"], facts)
    assert result.outputs["outcome"] == "approved"


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        f'<definitions xmlns="{DMN13}">&lol2;</definitions>',
        f'<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><definitions xmlns="{DMN13}">&xxe;</definitions>',
        f'<!DOCTYPE definitions SYSTEM "http://example.org/dmn.dtd"><definitions xmlns="{DMN13}"/>',
    ],
)
def test_dtds_and_entities_are_refused(document: str) -> None:
    with pytest.raises(DmnFormatError, match="DOCTYPE"):
        d.parse_definitions(document)


# --------------------------------------------------------------------------------- facts and types


def test_missing_facts_are_listed_together() -> None:
    t = table(
        [(["-", "-", "-"], ["1"])],
        inputs=(("年龄", "age", None, None), ("户籍", "household_district", None, None), ("执照", "count(existing_licences)", None, None)),
    )
    with pytest.raises(MissingFactError) as caught:
        d.evaluate(t, {"age": 3})
    assert caught.value.names == ("household_district", "existing_licences")
    assert "missing facts: household_district, existing_licences" in str(caught.value)
    assert t.required_facts == ("age", "household_district", "existing_licences")
    assert d.evaluate(t, {"age": None, "household_district": None, "existing_licences": []}).matched  # None is a given null


def test_facts_used_only_by_outputs_are_required_when_the_rule_fires() -> None:
    t = table([([">= 60"], ['"满" + string(age) + "岁，" + name']), (["< 60"], ['"否"'])], outputs=(("result", "string", None, None),))
    assert t.required_facts == ("age", "name")
    assert d.evaluate(t, {"age": 10}).outputs == {"result": "否"}
    with pytest.raises(MissingFactError) as caught:
        d.evaluate(t, {"age": 70})
    assert (caught.value.rule, caught.value.column, caught.value.names) == (1, "output 'result'", ("name",))
    result = d.evaluate(t, {"age": 70, "name": "张三"})
    assert result.outputs == {"result": "满70岁，张三"}
    assert result.facts == {"age": 70, "name": "张三"}


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"age": "六十"}, 'expects a number, got string "六十"'),
        ({"age": "65"}, 'expects a number, got string "65"'),
        ({"age": True}, "expects a number, got boolean true"),
        ({"age": [65]}, "expects a number, got list"),
        ({"age": 200}, "200 is not an allowed value ([0..150])"),
        ({"age": -1}, "not an allowed value"),
    ],
)
def test_facts_of_the_wrong_type_are_refused(facts: dict[str, object], reason: str) -> None:
    t = table([([">= 60"], ["1"])], inputs=(("年龄", "age", "number", "[0..150]"),))
    with pytest.raises(FeelTypeError) as caught:
        d.evaluate(t, facts)
    assert reason in str(caught.value)
    assert caught.value.column == "input '年龄'"


def test_float_facts_are_read_as_decimals() -> None:
    t = one_column("0.3")
    assert fired(t, {"x": 0.1 + 0.2}) == []  # 0.30000000000000004 really is not 0.3
    assert fired(t, {"x": 0.3}) == [1]
    assert d.evaluate(t, {"x": 0.3}).facts == {"x": Decimal("0.3")}


@pytest.mark.parametrize(
    ("rules", "inputs", "error", "where", "reason"),
    [
        (
            [(['"a"'], ["1"])],
            (("年龄", "age", "number", None),),
            FeelTypeError,
            (1, "input '年龄'"),
            "is a string but the column holds numbers",
        ),
        ([(["1"], ["1"]), (['"a"'], ["1"])], (("x", "x", None, None),), FeelTypeError, (2, "input 'x'"), "(from rule 1)"),
        (
            [(["true"], ["1"]), (["> 1"], ["1"])],
            (("x", "x", None, None),),
            FeelTypeError,
            (2, "input 'x'"),
            "comparisons and ranges need numbers",
        ),
        ([(["1"], ["1"])], (("x", "x", "date", None),), DmnFormatError, (None, "input 'x'"), "typeRef 'date' is not supported"),
        ([(["1"], ["1"])], (("x", "x", "number", '"a"'),), FeelTypeError, (None, "input 'x' allowed values"), "the column holds numbers"),
        ([([">= x"], ["1"])], (("x", "x", "number", None),), FeelSyntaxError, (1, "input 'x'"), "is a name"),
    ],
)
def test_cell_errors_name_the_rule_and_column(
    rules: list[tuple[list[str], list[str]]],
    inputs: tuple[Input, ...],
    error: type[DecisionTableError],
    where: tuple[int | None, str],
    reason: str,
) -> None:
    with pytest.raises(error) as caught:
        table(rules, inputs=inputs)
    assert (caught.value.rule, caught.value.column) == where
    assert reason in str(caught.value)
    assert caught.value.params["reason"] == caught.value.reason


def test_feel_syntax_errors_carry_the_position() -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        table([(["[1..5] , >= x"], ["1"])])
    error = caught.value
    assert (error.rule, error.column, error.text, error.position) == (1, "input '年龄'", "[1..5] , >= x", 12)
    assert str(error) == (
        "rule 1, input '年龄': '[1..5] , >= x': 'x' is a name: tests here take literals (60, \"历下区\", true); "
        "strings need double quotes (at character 13)"
    )
    assert error.key == "gov_services.decision.feel_syntax"


def test_output_values_and_types_are_checked_at_upload_and_at_evaluation() -> None:
    outputs = (("outcome", "string", '"approved","rejected"', None),)
    with pytest.raises(FeelTypeError) as caught:
        table([(["-"], ['"maybe"'])], outputs=outputs)
    assert (caught.value.rule, caught.value.column) == (1, "output 'outcome'")
    assert "not one of the output values" in str(caught.value)
    with pytest.raises(FeelTypeError, match="is a number, the column holds strings"):
        table([(["-"], ["1"])], outputs=outputs)
    computed = table([(["-"], ["age * 2"])], outputs=(("doubled", "string", None, None),))
    with pytest.raises(FeelTypeError) as at_runtime:
        d.evaluate(computed, {"age": 3})
    assert (at_runtime.value.rule, at_runtime.value.column) == (1, "output 'doubled'")
    empty_cell = table([(["-"], [""])])
    assert d.evaluate(empty_cell, {"age": 1}).outputs == {"result": None}


# ------------------------------------------------------------------------------------ DMN documents


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("<definitions", "not well-formed XML"),
        ('<definitions xmlns="http://example.org/not-dmn"/>', "not a DMN <definitions>"),
        (f'<process xmlns="{DMN13}"/>', "not a DMN <definitions>"),
        (f'<definitions xmlns="{DMN13}"/>', "has no <decision>"),
        (f'<definitions xmlns="{DMN13}"><decision id="x"><literalExpression/></decision></definitions>', "not a decision table"),
        (table_xml([(["-"], ["1"])]).replace("<inputEntry><text>-</text></inputEntry>", ""), "0 input entries for 1 inputs"),
        (table_xml([(["-"], ["1"])]).replace('<output id="out0" name="result">', '<output id="out0">'), "neither name nor label"),
        (
            table_xml([(["-"], ["1"])]).replace('<inputExpression typeRef="number"><text>age</text></inputExpression>', ""),
            "no <inputExpression>",
        ),
        (table_xml([(["-"], ["1"])]).replace(' id="t"', ""), "has no id"),
        (
            table_xml([(["-"], ["1"])]).replace(
                '<decisionTable id="t_table"',
                '<informationRequirement><requiredDecision href="#other"/></informationRequirement><decisionTable id="t_table"',
            ),
            "requires decision 'other': decision graphs are not supported",
        ),
    ],
)
def test_bad_documents(document: str, reason: str) -> None:
    with pytest.raises(DmnFormatError) as caught:
        d.parse_definitions(document)
    assert reason in str(caught.value)


def test_size_limit() -> None:
    with pytest.raises(DmnFormatError, match="the limit is"):
        d.parse_definitions(b" " * (d.MAX_DMN_BYTES + 1))


def test_older_dmn_namespaces_and_bytes_with_an_xml_declaration() -> None:
    for namespace in ("http://www.omg.org/spec/DMN/20151101/dmn.xsd", "http://www.omg.org/spec/DMN/20180521/MODEL/"):
        t = table([([">= 60"], ["1"])], namespace=namespace)
        assert d.evaluate(t, {"age": 60}).outputs == {"result": 1}
    source = ('<?xml version="1.0" encoding="UTF-8"?>' + table_xml([(['"历下区"'], ["1"])], inputs=(("户籍", "h", None, None),))).encode()
    assert d.evaluate(d.parse_dmn(source), {"h": "历下区"}).outputs == {"result": 1}


def test_several_decisions_in_one_document() -> None:
    first, second = table_xml([(["-"], ["1"])], decision_id="a"), table_xml([(["-"], ["2"])], decision_id="b")
    inner = (
        first[first.index("<decision ") : first.index("</definitions>")]
        + second[second.index("<decision ") : second.index("</definitions>")]
    )
    document = first[: first.index("<decision ")] + inner + "</definitions>"
    assert list(d.parse_definitions(document)) == ["a", "b"]
    assert d.parse_dmn(document, "b").id == "b"
    with pytest.raises(DmnFormatError, match="name one"):
        d.parse_dmn(document)
    with pytest.raises(DmnFormatError, match="no decision 'c'"):
        d.parse_dmn(document, "c")
    with pytest.raises(DmnFormatError, match="two decisions have the id"):
        d.parse_definitions(document.replace('id="b"', 'id="a"'))


def test_the_record_is_json_ready() -> None:
    t = table([(["-"], ["age / 4"], "四分之一")], outputs=(("quarter", "number", None, None),))
    record = d.evaluate(t, {"age": 10}).as_json()
    assert json.loads(json.dumps(record, ensure_ascii=False)) == record
    assert record["outputs"] == {"quarter": "2.5"}  # decimals as exact strings
    assert record["rules"] == [
        {"index": 1, "id": "r1", "description": "四分之一", "annotations": {"依据": "注释1"}, "outputs": {"quarter": "2.5"}}
    ]
    assert record["decision"] == {"id": "t", "name": "测试决策 t"}
    assert record["matched"] is True


# ------------------------------------------------------------------------------------- demo tables


def test_demo_tables_load_and_pass_the_upload_check() -> None:
    tables = d.demo_tables()
    assert list(tables) == list(d.DEMO_DECISIONS)
    assert {t.name for t in tables.values()} == {"老年人优待证", "高龄津贴", "生育登记", "个体工商户登记", "居住证明"}
    for t in tables.values():
        d.check_table(t)
        assert all(r.description for r in t.rules)
        assert t.outputs[0].allowed == ("approved", "manual_review", "rejected")
    assert tables["senior_allowance"].hit_policy is HitPolicy.FIRST
    assert tables["individual_business_registration"].required_facts == ("age", "credit_status", "existing_licences")


@pytest.mark.parametrize(
    ("decision", "facts", "outcome", "rule_id", "extra"),
    [
        ("elderly_preferential_card", {"age": 60, "household_district": "历下区"}, "approved", "elderly_card_approve", {}),
        ("elderly_preferential_card", {"age": 59, "household_district": "历下区"}, "rejected", "elderly_card_too_young", {}),
        ("elderly_preferential_card", {"age": 72, "household_district": "朝阳区"}, "manual_review", "elderly_card_not_local", {}),
        ("elderly_preferential_card", {"age": 72, "household_district": None}, "manual_review", "elderly_card_not_local", {}),
        ("senior_allowance", {"age": 79, "household_district": "章丘区"}, "rejected", "allowance_too_young", {"monthly_amount": 0}),
        ("senior_allowance", {"age": 80, "household_district": "章丘区"}, "approved", "allowance_80", {"monthly_amount": 100}),
        ("senior_allowance", {"age": 90, "household_district": "商河县"}, "approved", "allowance_90", {"monthly_amount": 200}),
        ("senior_allowance", {"age": 103, "household_district": "莱芜区"}, "approved", "allowance_centenarian", {"monthly_amount": 500}),
        ("senior_allowance", {"age": 103, "household_district": "青岛市市南区"}, "rejected", "allowance_not_local", {"monthly_amount": 0}),
        (
            "birth_registration",
            {"household_district": "天桥区", "has_residence_permit": False, "child_order": 3},
            "approved",
            "birth_local",
            {"reason": "本市户籍，准予办理第3孩生育登记。"},
        ),
        (
            "birth_registration",
            {"household_district": "德州市德城区", "has_residence_permit": True, "child_order": 1},
            "approved",
            "birth_resident",
            {},
        ),
        (
            "birth_registration",
            {"household_district": "德州市德城区", "has_residence_permit": False, "child_order": 1},
            "rejected",
            "birth_elsewhere",
            {},
        ),
        (
            "birth_registration",
            {"household_district": "历城区", "has_residence_permit": False, "child_order": 4},
            "manual_review",
            "birth_local_fourth",
            {},
        ),
        (
            "birth_registration",
            {"household_district": None, "has_residence_permit": True, "child_order": 5},
            "manual_review",
            "birth_resident_fourth",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 30, "credit_status": "正常", "existing_licences": ["食品经营许可证"]},
            "approved",
            "business_approve",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 30, "credit_status": "守信激励", "existing_licences": []},
            "approved",
            "business_approve",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 30, "credit_status": "失信惩戒", "existing_licences": []},
            "rejected",
            "business_dishonest",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 15, "credit_status": "失信惩戒", "existing_licences": []},
            "rejected",
            "business_dishonest",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 45, "credit_status": "正常", "existing_licences": ["个体工商户营业执照", "食品经营许可证"]},
            "rejected",
            "business_duplicate",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 17, "credit_status": "正常", "existing_licences": []},
            "manual_review",
            "business_minor_with_income",
            {},
        ),
        (
            "individual_business_registration",
            {"age": 15, "credit_status": "正常", "existing_licences": []},
            "rejected",
            "business_minor",
            {},
        ),
        (
            "residence_certificate",
            {"residence_district": "历下区", "residence_registered": True, "residence_months": 6},
            "approved",
            "residence_approve",
            {"reason": "已在历下区办理居住登记并连续居住满6个月，出具居住证明。"},
        ),
        (
            "residence_certificate",
            {"residence_district": "历下区", "residence_registered": True, "residence_months": 5},
            "rejected",
            "residence_too_short",
            {},
        ),
        (
            "residence_certificate",
            {"residence_district": "钢城区", "residence_registered": False, "residence_months": 24},
            "manual_review",
            "residence_unregistered",
            {},
        ),
        (
            "residence_certificate",
            {"residence_district": "淄博市张店区", "residence_registered": True, "residence_months": 24},
            "rejected",
            "residence_elsewhere",
            {},
        ),
    ],
)
def test_demo_tables_decide_as_expected(
    decision: str, facts: dict[str, object], outcome: str, rule_id: str, extra: dict[str, object]
) -> None:
    result = d.evaluate(d.demo_table(decision), facts)
    assert result.outputs["outcome"] == outcome
    assert [r.id for r in result.rules] == [rule_id]
    assert result.outputs["reason"]
    assert result.rules[0].description
    for key, value in extra.items():
        assert result.outputs[key] == value


def test_demo_tables_refuse_bad_registry_facts() -> None:
    with pytest.raises(FeelTypeError, match="not an allowed value"):
        d.evaluate(d.demo_table("individual_business_registration"), {"age": 30, "credit_status": "良好", "existing_licences": []})
    with pytest.raises(FeelTypeError, match="list contains\\(\\) takes a list first"):
        d.evaluate(d.demo_table("individual_business_registration"), {"age": 30, "credit_status": "正常", "existing_licences": "无"})
    with pytest.raises(KeyError):
        d.demo_table("no_such_item")
