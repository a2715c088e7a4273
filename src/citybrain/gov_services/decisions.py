"""Instant approval (秒批): DMN decision tables evaluated with a safe FEEL subset (issue #5 §4).

A department publishes the rules of an instant item as a DMN decision table (DMN 1.1-1.5 XML, as
Camunda Modeler, bpmn.io or Trisotech write it: ``<definitions>``, ``<decision>``,
``<decisionTable hitPolicy=...>`` with ``<input>``/``<inputExpression>``, ``<output>`` and ``<rule>``
rows of ``<inputEntry>``/``<outputEntry>``). :func:`parse_dmn` reads it, :func:`check_table` refuses a
UNIQUE table whose rules overlap (at upload, naming the rules and an input both accept), and
:func:`evaluate` decides one application from its facts (age, household district, credit status,
existing licences, ...) and returns a :class:`DecisionResult`: the outputs, the rules that fired with
their descriptions and annotations, and the facts used, to show the applicant and to store.

Why not SpiffWorkflow's DMN engine (``SpiffWorkflow.dmn``, 3.x), though SpiffWorkflow runs our BPMN:

- Its cells are Python, not FEEL. ``DMNEngine.evaluate`` builds Python source by pasting the input
  expression and the cell text together (``input_expr + match_expr`` or ``(in) == (cell)``) and hands it
  to the script engine, whose default is ``eval``. A restricted script engine would not fix that: the
  cell text is still code, and FEEL's own tests (``[1..5]``, ``not("a")``, ``"a","b"``) do not parse.
- It has UNIQUE and COLLECT only (no FIRST, ANY, PRIORITY, no aggregators), and its UNIQUE returns
  the first matching rule, i.e. it silently resolves overlapping rules, which the issue forbids.
- It evaluates only inside a running workflow task and records neither the fired rules nor the facts.

So this module is its own small evaluator: a tokenizer and recursive-descent parser for the FEEL
subset below build a tree of our own node types, and an interpreter walks it. There is no ``eval``,
no ``getattr`` and no import anywhere on the path; a name can only be looked up in the facts mapping
and a call can only reach the fixed table of functions below, so ``__import__('os').system('x')`` or
``x.__class__`` is a syntax error at upload. The XML is read by the standard library's expat-based
parser after a pass that refuses any DTD (so no entity expansion), with a size limit.

The FEEL subset (FEEL is the DMN standard's expression language):

- Input entries are *simple unary tests*: ``-`` (any value), literals (``60``, ``-1.5``,
  ``"历下区"``, ``true``, ``false``, ``null``), comparisons ``< <= > >=`` with a number, ranges
  ``[a..b]``, ``(a..b)``, ``]a..b[`` and mixed, lists ``a, b, c`` (any may match), and
  ``not(a, b)``. Comparisons and ranges apply to numbers only; string and boolean columns take
  literals, which keeps the overlap check exact. Endpoints are literals, not names.
- Input expressions, output entries and default outputs are *expressions*: literals, fact names
  (``age``, ``household_district``; Unicode letters allowed, no spaces), list literals ``[..]``,
  ``+ - * /``, comparisons ``= != < <= > >=``, ``and``/``or``, ``if .. then .. else ..`` and the
  functions ``not abs floor ceiling decimal min max sum count string``, ``list contains``,
  ``string length``, ``contains``, ``starts with``, ``ends with``, ``upper case``, ``lower case``.
  No paths (``a.b``), filters, dates, contexts or user functions.

Values are FEEL's: ``None`` (null), ``bool``, numbers as ``int`` when integral else ``Decimal``
(arithmetic in decimal128 precision, never binary floats; a float fact is read via its ``repr``),
``str`` and tuples (lists). Nulls follow FEEL's three-valued logic (``< 5`` is null for a null input,
so neither it nor ``not(< 5)`` matches; ``null`` and ``not(5)`` do). Mixing types (``age + "x"``, a
string fact in a number column) is an error rather than FEEL's silent null, because a silent null in
an approval is a wrong decision nobody notices.

Hit policies: UNIQUE (two matching rules are an error naming them, never resolved), FIRST (rule
order), PRIORITY and OUTPUT ORDER (ranked by the order of the output's ``outputValues``), ANY
(matching rules must agree), COLLECT (optionally SUM, MIN, MAX or COUNT over its one output) and
RULE ORDER. One decision per table: decision requirement graphs (a decision feeding another) and
literal-expression decisions are refused, not half-supported.

Every error is a :class:`DecisionTableError` naming the rule (1-based row number as editors show
it), the column and the reason; ``key`` and ``params`` let the service layer translate it.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import ClassVar, Final, TypeAlias, TypeVar
from xml.parsers import expat

#: A FEEL value: null, boolean, number (int when integral, else Decimal), string or list.
Value: TypeAlias = bool | int | Decimal | str | tuple["Value", ...] | None

#: Refuse bigger uploads before parsing: the largest real tables are a few hundred rules (~200 kB).
MAX_DMN_BYTES: Final = 2_000_000
#: One cell's text; a legitimate cell is a few dozen characters.
MAX_EXPRESSION_CHARS: Final = 4_000
#: Nesting depth of one expression, so a crafted cell cannot exhaust the parser's stack.
MAX_NESTING: Final = 40

#: DMN 1.1 to 1.5 share the decision-table shape read here.
DMN_NAMESPACES: Final = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20211108/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    }
)

#: FEEL numbers are IEEE 754 decimal128: 34 digits; overflow and 0/0 raise instead of giving NaN.
_DECIMAL: Final = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=6144, Emin=-6143, traps=[InvalidOperation, DivisionByZero, Overflow])
_INT_LIMIT: Final = 10**34
_T = TypeVar("_T")


class HitPolicy(StrEnum):
    """How the matching rules make the table's result (DMN 1.3 §8.2.11)."""

    UNIQUE = "UNIQUE"
    FIRST = "FIRST"
    PRIORITY = "PRIORITY"
    ANY = "ANY"
    COLLECT = "COLLECT"
    RULE_ORDER = "RULE ORDER"
    OUTPUT_ORDER = "OUTPUT ORDER"

    @property
    def single(self) -> bool:
        """True for the policies whose result is one rule's outputs."""
        return self in (HitPolicy.UNIQUE, HitPolicy.FIRST, HitPolicy.PRIORITY, HitPolicy.ANY)


class Aggregation(StrEnum):
    """COLLECT's optional aggregator (C+, C<, C>, C#): applied to the outputs of all matching rules."""

    SUM = "SUM"
    MIN = "MIN"
    MAX = "MAX"
    COUNT = "COUNT"


# ---------------------------------------------------------------------------------------------- errors


class DecisionTableError(ValueError):
    """A table, cell or fact that cannot be used, with where and why.

    ``rule`` is the 1-based row number, ``column`` names the column (``input '年龄'``), ``text`` is the
    offending cell and ``position`` the 0-based character in it. ``str()`` reads in English; the
    service layer translates with ``key`` and ``params``.
    """

    key: ClassVar[str] = "gov_services.decision.invalid"

    def __init__(
        self,
        reason: str,
        *,
        rule: int | None = None,
        column: str | None = None,
        text: str | None = None,
        position: int | None = None,
    ) -> None:
        self.reason = reason
        self.rule = rule
        self.column = column
        self.text = text
        self.position = position
        where = ", ".join(part for part in (f"rule {rule}" if rule is not None else "", column or "") if part)
        message = reason
        if text is not None:
            message = f"{text!r}: {message}"
        if position is not None:
            message += f" (at character {position + 1})"
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def params(self) -> dict[str, object]:
        """The error's parts for a translated message."""
        return {"rule": self.rule, "column": self.column, "text": self.text, "position": self.position, "reason": self.reason}

    def located(self, *, rule: int | None = None, column: str | None = None) -> DecisionTableError:
        """The same error with the rule and column filled in where the caller knows them."""
        return type(self)(
            self.reason,
            rule=self.rule if self.rule is not None else rule,
            column=self.column or column,
            text=self.text,
            position=self.position,
        )


class DmnFormatError(DecisionTableError):
    """The XML is not a DMN decision table this module can read."""

    key = "gov_services.decision.format"


class FeelSyntaxError(DecisionTableError):
    """A cell is not in the FEEL subset (including anything that looks like code)."""

    key = "gov_services.decision.feel_syntax"


class FeelTypeError(DecisionTableError):
    """A literal, fact or computed value of the wrong type for its column or operator."""

    key = "gov_services.decision.type"


class MissingFactError(DecisionTableError):
    """Facts the table needs were not given; ``names`` lists them all at once."""

    key = "gov_services.decision.missing_fact"

    def __init__(self, names: Sequence[str], *, rule: int | None = None, column: str | None = None) -> None:
        self.names = tuple(names)
        super().__init__(f"missing fact{'s' if len(names) > 1 else ''}: {', '.join(names)}", rule=rule, column=column)

    def located(self, *, rule: int | None = None, column: str | None = None) -> DecisionTableError:
        """The same error with the rule and column filled in where the caller knows them."""
        return MissingFactError(self.names, rule=self.rule if self.rule is not None else rule, column=self.column or column)


class HitPolicyViolation(DecisionTableError):
    """Several rules matched where the hit policy allows one (UNIQUE) or one answer (ANY)."""

    key = "gov_services.decision.hit_policy"

    def __init__(self, reason: str, rules: Sequence[int]) -> None:
        self.rules = tuple(rules)
        super().__init__(reason)

    @property
    def params(self) -> dict[str, object]:
        """The error's parts for a translated message."""
        return {**super().params, "rules": list(self.rules)}


class OverlapError(DecisionTableError):
    """At upload: rules of a UNIQUE (or ANY, with different outputs) table that can match together."""

    key = "gov_services.decision.overlap"

    def __init__(self, table: str, overlaps: Sequence[Overlap]) -> None:
        self.overlaps = tuple(overlaps)
        listed = "; ".join(str(o) for o in overlaps[:10]) + ("; ..." if len(overlaps) > 10 else "")
        super().__init__(f"decision {table!r}: {len(overlaps)} pair(s) of rules can match the same input: {listed}")

    @property
    def params(self) -> dict[str, object]:
        """The error's parts for a translated message."""
        return {**super().params, "pairs": [[o.first, o.second] for o in self.overlaps]}


class _TypeProblem(Exception):
    """Raised inside evaluation; turned into a located :class:`FeelTypeError` by the caller."""


# -------------------------------------------------------------------------------------- FEEL values


def _category(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, not in FEEL
        return "boolean"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list"


def _number(value: Decimal) -> int | Decimal:
    """A computed number as an int when integral (so 100 stays 100, not Decimal('1E+2'))."""
    if value == value.to_integral_value() and abs(value) < _INT_LIMIT:
        return int(value)
    return value.normalize(_DECIMAL)


def _show(value: Value) -> str:
    """A value as FEEL text, for messages and witnesses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def to_feel(value: object, name: str = "value") -> Value:
    """A Python fact as a FEEL value: numbers to int/Decimal, lists, tuples and sets to tuples.

    Raises :class:`FeelTypeError` for anything else (dicts, dates, objects), naming the fact.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise FeelTypeError(f"fact {name!r} is {value!r}, not a finite number")
        return _number(number)
    if isinstance(value, list | tuple):
        return tuple(to_feel(v, f"{name}[{i}]") for i, v in enumerate(value))
    if isinstance(value, set | frozenset):
        # a set has no order; sort so that the recorded facts are the same on every run
        return tuple(sorted((to_feel(v, f"{name}[]") for v in value), key=_show))
    raise FeelTypeError(f"fact {name!r} is a {type(value).__name__}; facts are numbers, strings, booleans, null or lists of them")


def to_json(value: Value) -> object:
    """A FEEL value as JSON-ready Python: non-integral numbers as strings, to keep them exact."""
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _equal(a: Value, b: Value) -> bool:
    if a is None or b is None:
        return a is None and b is None
    ca, cb = _category(a), _category(b)
    if ca != cb:
        raise _TypeProblem(f"cannot compare {ca} {_show(a)} with {cb} {_show(b)}")
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _less(a: Value, b: Value, op: str) -> bool | None:
    if a is None or b is None:
        return None
    ca, cb = _category(a), _category(b)
    if ca != cb or ca not in ("number", "string"):
        raise _TypeProblem(f"cannot order {ca} {_show(a)} and {cb} {_show(b)} with {op}")
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _arith(op: str, a: Value, b: Value) -> Value:
    if a is None or b is None:
        return None
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if _category(a) != "number" or _category(b) != "number":
        raise _TypeProblem(f"cannot apply {op} to {_category(a)} {_show(a)} and {_category(b)} {_show(b)}")
    x, y = Decimal(a), Decimal(b)  # type: ignore[arg-type]
    try:
        if op == "+":
            return _number(_DECIMAL.add(x, y))
        if op == "-":
            return _number(_DECIMAL.subtract(x, y))
        if op == "*":
            return _number(_DECIMAL.multiply(x, y))
        return _number(_DECIMAL.divide(x, y))
    except DivisionByZero:
        raise _TypeProblem(f"division by zero: {_show(a)} / {_show(b)}") from None
    except ArithmeticError:
        raise _TypeProblem(f"number out of range: {_show(a)} {op} {_show(b)}") from None


# ------------------------------------------------------------------------------------- the tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, func, op, eof
    text: str
    pos: int


_MULTIWORD_FUNCTIONS: Final = ("list contains", "string length", "starts with", "ends with", "upper case", "lower case")
_TOKEN_RE: Final = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>\d+(?:\.\d+)?|\.\d+)"
    r'|(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?P<func>(?:" + "|".join(w.replace(" ", r"\s+") for w in _MULTIWORD_FUNCTIONS) + r")(?=\s*\())"
    r"|(?P<op>\.\.|<=|>=|!=|[<>=()\[\],+\-*/])"
    r"|(?P<name>[^\W\d]\w*)"
)
#: What a Chinese input method types instead of FEEL's ASCII punctuation: say so in the error.
_FULL_WIDTH: Final = {"“": '"', "”": '"', "，": ",", "（": "(", "）": ")", "＜": "<", "＞": ">", "＝": "=", "【": "[", "】": "]", "－": "-"}
_ESCAPES: Final = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "'": "'"}
_KEYWORDS: Final = frozenset({"true", "false", "null", "not", "and", "or", "if", "then", "else"})


def _unescape(body: str, pos: int, text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise FeelSyntaxError(f"unknown escape \\{nxt} in a string", text=text, position=pos + 1 + i)
    return "".join(out)


def _tokenize(text: str) -> list[_Token]:
    if len(text) > MAX_EXPRESSION_CHARS:
        raise FeelSyntaxError(f"longer than {MAX_EXPRESSION_CHARS} characters", text=text[:80] + "...")
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch == '"':
                reason = "unterminated string"
            elif ch in _FULL_WIDTH:
                reason = f"full-width {ch!r}: use the ASCII {_FULL_WIDTH[ch]!r}"
            elif ch == ".":
                reason = "unexpected '.': paths and attribute access are not allowed"
            elif ch == "'":
                reason = 'unexpected "\'": FEEL strings use double quotes'
            else:
                reason = f"unexpected character {ch!r}"
            raise FeelSyntaxError(reason, text=text, position=pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


# ----------------------------------------------------------------------------------- the syntax tree


@dataclass(frozen=True)
class _Lit:
    value: Value


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Logic:
    op: str  # and, or
    operands: tuple[_Node, ...]


@dataclass(frozen=True)
class _If:
    condition: _Node
    then: _Node
    otherwise: _Node


@dataclass(frozen=True)
class _Call:
    function: str
    args: tuple[_Node, ...]


_Node: TypeAlias = _Lit | _Name | _List | _Neg | _Binary | _Logic | _If | _Call


@dataclass(frozen=True)
class _EqTest:
    value: Value


@dataclass(frozen=True)
class _NullTest:
    pass


@dataclass(frozen=True)
class _CmpTest:
    op: str
    value: int | Decimal


@dataclass(frozen=True)
class _RangeTest:
    low: int | Decimal
    low_closed: bool
    high: int | Decimal
    high_closed: bool


_Test: TypeAlias = _EqTest | _NullTest | _CmpTest | _RangeTest


@dataclass(frozen=True)
class _Entry:
    """One input cell: ``any`` (``-``), or tests of which one must hold, negated by ``not(...)``."""

    any: bool
    negated: bool = False
    tests: tuple[_Test, ...] = ()


_ANY: Final = _Entry(any=True)


# -------------------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.i += 1
        return token

    def at(self, kind: str, *texts: str) -> bool:
        token = self.peek()
        return token.kind == kind and (not texts or token.text in texts)

    def error(self, reason: str, token: _Token | None = None) -> FeelSyntaxError:
        return FeelSyntaxError(reason, text=self.text, position=(token or self.peek()).pos)

    def expect(self, kind: str, text: str, what: str) -> _Token:
        if not self.at(kind, text):
            raise self.error(f"expected {what}, found {self.describe(self.peek())}")
        return self.take()

    def end(self) -> None:
        if not self.at("eof"):
            raise self.error(f"unexpected {self.describe(self.peek())}")

    @staticmethod
    def describe(token: _Token) -> str:
        return "the end" if token.kind == "eof" else repr(token.text)

    # expressions --------------------------------------------------------------------------------

    def expression(self) -> _Node:
        if self.at("name", "if"):
            self.take()
            condition = self.expression()
            self.expect("name", "then", "'then'")
            then = self.expression()
            self.expect("name", "else", "'else'")
            return _If(condition, then, self.expression())
        return self.disjunction()

    def disjunction(self) -> _Node:
        operands = [self.conjunction()]
        while self.at("name", "or"):
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else _Logic("or", tuple(operands))

    def conjunction(self) -> _Node:
        operands = [self.comparison()]
        while self.at("name", "and"):
            self.take()
            operands.append(self.comparison())
        return operands[0] if len(operands) == 1 else _Logic("and", tuple(operands))

    def comparison(self) -> _Node:
        left = self.additive()
        if self.at("op", "=", "!=", "<", "<=", ">", ">="):
            op = self.take().text
            node = _Binary(op, left, self.additive())
            if self.at("op", "=", "!=", "<", "<=", ">", ">="):
                raise self.error("chained comparisons are not FEEL: join them with 'and'")
            return node
        return left

    def additive(self) -> _Node:
        node = self.multiplicative()
        while self.at("op", "+", "-"):
            op = self.take().text
            node = _Binary(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> _Node:
        node = self.unary()
        while self.at("op", "*", "/"):
            op = self.take().text
            node = _Binary(op, node, self.unary())
        return node

    def unary(self) -> _Node:
        # every nested construct passes through here, so this one check bounds the recursion
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"nested more than {MAX_NESTING} deep")
        try:
            if self.at("op", "-"):
                self.take()
                operand = self.unary()
                if isinstance(operand, _Lit) and _category(operand.value) == "number":
                    return _Lit(-operand.value)  # type: ignore[operator]
                return _Neg(operand)
            return self.primary()
        finally:
            self.depth -= 1

    def primary(self) -> _Node:
        token = self.peek()
        if token.kind == "number":
            self.take()
            return _Lit(_number(Decimal(token.text)))
        if token.kind == "string":
            self.take()
            return _Lit(_unescape(token.text[1:-1], token.pos, self.text))
        if token.kind == "func":
            self.take()
            return self.call(" ".join(token.text.split()), token)
        if token.kind == "name":
            self.take()
            if token.text in ("true", "false"):
                return _Lit(token.text == "true")
            if token.text == "null":
                return _Lit(None)
            if self.at("op", "("):
                return self.call(token.text, token)
            if token.text in _KEYWORDS:
                raise self.error(f"unexpected keyword {token.text!r}", token)
            if token.text.startswith("__"):
                # harmless here (a name is only a key into the facts), but never a fact: say no plainly
                raise self.error(f"names starting with '__' are not allowed: {token.text!r}", token)
            return _Name(token.text)
        if token.kind == "op" and token.text == "(":
            self.take()
            node = self.expression()
            self.expect("op", ")", "')'")
            return node
        if token.kind == "op" and token.text == "[":
            self.take()
            items: list[_Node] = []
            if not self.at("op", "]"):
                items.append(self.expression())
                while self.at("op", ","):
                    self.take()
                    items.append(self.expression())
            self.expect("op", "]", "']' or ','")
            return _List(tuple(items))
        raise self.error(f"unexpected {self.describe(token)}", token)

    def call(self, name: str, token: _Token) -> _Node:
        if name not in _FUNCTIONS:
            raise self.error(f"unknown function {name!r}; allowed: {', '.join(sorted(_FUNCTIONS))}", token)
        self.expect("op", "(", "'('")
        args: list[_Node] = []
        if not self.at("op", ")"):
            args.append(self.expression())
            while self.at("op", ","):
                self.take()
                args.append(self.expression())
        self.expect("op", ")", "')' or ','")
        low, high, _ = _FUNCTIONS[name]
        if not low <= len(args) <= (high if high is not None else len(args)):
            wanted = f"{low}" if low == high else f"{low} or more" if high is None else f"{low} to {high}"
            raise self.error(f"{name}() takes {wanted} argument(s), got {len(args)}", token)
        return _Call(name, tuple(args))

    # unary tests --------------------------------------------------------------------------------

    def unary_tests(self) -> _Entry:
        if self.at("name", "not") and self.peek(1).kind == "op" and self.peek(1).text == "(":
            self.take()
            self.take()
            tests = self.positive_tests()
            self.expect("op", ")", "')' closing not(")
            self.end()
            return _Entry(any=False, negated=True, tests=tests)
        tests = self.positive_tests()
        self.end()
        return _Entry(any=False, tests=tests)

    def positive_tests(self) -> tuple[_Test, ...]:
        tests = [self.positive_test()]
        while self.at("op", ","):
            self.take()
            tests.append(self.positive_test())
        return tuple(tests)

    def positive_test(self) -> _Test:
        if self.at("op", "<", "<=", ">", ">="):
            op = self.take().text
            return _CmpTest(op, self.number_endpoint(f"the number after {op}"))
        if self.at("op", "[", "(", "]"):
            opening = self.take()
            low = self.number_endpoint("a number starting the range")
            self.expect("op", "..", "'..' in the range")
            high = self.number_endpoint("a number ending the range")
            if not self.at("op", "]", ")", "["):
                raise self.error(f"expected ']' or ')' closing the range, found {self.describe(self.peek())}")
            closing = self.take()
            test = _RangeTest(low, opening.text == "[", high, closing.text == "]")
            if low > high or (low == high and not (test.low_closed and test.high_closed)):
                raise self.error("the range is empty", opening)
            return test
        if self.at("name", "null"):
            self.take()
            return _NullTest()
        if self.at("op", "="):
            raise self.error("write the value alone (60, not = 60)")
        if self.at("op", "!="):
            raise self.error('write not(60) or not("a"), not != 60')
        return _EqTest(self.literal())

    def literal(self) -> Value:
        token = self.peek()
        if token.kind == "op" and token.text == "-" and self.peek(1).kind == "number":
            self.take()
            return -_number(Decimal(self.take().text))
        if token.kind == "number":
            self.take()
            return _number(Decimal(token.text))
        if token.kind == "string":
            self.take()
            return _unescape(token.text[1:-1], token.pos, self.text)
        if token.kind == "name" and token.text in ("true", "false"):
            self.take()
            return token.text == "true"
        if token.kind == "name" and token.text not in _KEYWORDS:
            raise self.error(f'{token.text!r} is a name: tests here take literals (60, "历下区", true); strings need double quotes', token)
        raise self.error(f"expected a literal, found {self.describe(token)}", token)

    def number_endpoint(self, what: str) -> int | Decimal:
        token = self.peek()
        value = self.literal()
        if _category(value) != "number":
            raise self.error(f"expected {what}: comparisons and ranges apply to numbers only", token)
        return value  # type: ignore[return-value]


def _parse_unary_tests(text: str) -> _Entry:
    stripped = text.strip()
    if stripped in ("", "-"):
        return _ANY
    return _Parser(stripped).unary_tests()


def _parse_expression(text: str) -> _Node:
    if not text.strip():
        raise FeelSyntaxError("empty expression", text=text)
    parser = _Parser(text)
    node = parser.expression()
    parser.end()
    return node


# ---------------------------------------------------------------------------------- the interpreter


def _numbers(args: Sequence[Value], name: str) -> list[Decimal] | None:
    """The arguments of min/max/sum: one list or several values; None when any is null (FEEL)."""
    values = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
    if any(v is None for v in values):
        return None
    for v in values:
        if _category(v) != "number":
            raise _TypeProblem(f"{name}() takes numbers, got {_category(v)} {_show(v)}")
    return [Decimal(v) for v in values]  # type: ignore[arg-type]


def _extreme(args: Sequence[Value], name: str) -> Value:
    values = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
    if not values or any(v is None for v in values):
        return None
    kinds = {_category(v) for v in values}
    if len(kinds) != 1 or kinds.pop() not in ("number", "string"):
        raise _TypeProblem(f"{name}() takes numbers or strings of one kind, got {_show(tuple(values))}")
    return min(values) if name == "min" else max(values)  # type: ignore[type-var]


def _fn_sum(args: Sequence[Value]) -> Value:
    numbers = _numbers(args, "sum")
    if not numbers:
        return None
    total = Decimal(0)
    for n in numbers:
        total = _DECIMAL.add(total, n)
    return _number(total)


def _string_arg(value: Value, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _TypeProblem(f"{name}() takes a string, got {_category(value)} {_show(value)}")


def _number_arg(value: Value, name: str) -> Decimal | None:
    if value is None:
        return None
    if _category(value) != "number":
        raise _TypeProblem(f"{name}() takes a number, got {_category(value)} {_show(value)}")
    return Decimal(value)  # type: ignore[arg-type]


def _fn_not(args: Sequence[Value]) -> Value:
    (value,) = args
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _TypeProblem(f"not() takes a boolean, got {_category(value)} {_show(value)}")
    return not value


def _fn_round(args: Sequence[Value], name: str, rounding: str) -> Value:
    number = _number_arg(args[0], name)
    return None if number is None else _number(number.to_integral_value(rounding=rounding))


def _fn_decimal(args: Sequence[Value]) -> Value:
    number, scale = _number_arg(args[0], "decimal"), _number_arg(args[1], "decimal")
    if number is None or scale is None:
        return None
    if scale != scale.to_integral_value() or not 0 <= scale <= 34:
        raise _TypeProblem(f"decimal() takes a scale from 0 to 34, got {scale}")
    return _number(number.quantize(Decimal(1).scaleb(-int(scale)), rounding=ROUND_HALF_EVEN, context=_DECIMAL))


def _fn_abs(args: Sequence[Value]) -> Value:
    number = _number_arg(args[0], "abs")
    return None if number is None else _number(abs(number))


def _fn_count(args: Sequence[Value]) -> Value:
    (values,) = args
    if values is None:
        return None
    if not isinstance(values, tuple):
        raise _TypeProblem(f"count() takes a list, got {_category(values)} {_show(values)}")
    return len(values)


def _fn_string(args: Sequence[Value]) -> Value:
    (value,) = args
    if value is None or isinstance(value, str):
        return value
    return _show(value)


def _fn_list_contains(args: Sequence[Value]) -> Value:
    values, item = args
    if values is None:
        return None
    if not isinstance(values, tuple):
        raise _TypeProblem(f"list contains() takes a list first, got {_category(values)} {_show(values)}")
    return any(_equal(v, item) for v in values)


def _string_fn(name: str, op: Callable[..., Value], arity: int) -> Callable[[Sequence[Value]], Value]:
    def apply(args: Sequence[Value]) -> Value:
        strings = [_string_arg(a, name) for a in args[:arity]]
        if any(s is None for s in strings):
            return None
        return op(*strings)

    return apply


#: name -> (fewest arguments, most arguments or None for any, implementation)
_FUNCTIONS: Final[dict[str, tuple[int, int | None, Callable[[Sequence[Value]], Value]]]] = {
    "not": (1, 1, _fn_not),
    "abs": (1, 1, _fn_abs),
    "floor": (1, 1, lambda a: _fn_round(a, "floor", ROUND_FLOOR)),
    "ceiling": (1, 1, lambda a: _fn_round(a, "ceiling", ROUND_CEILING)),
    "decimal": (2, 2, _fn_decimal),
    "min": (1, None, lambda a: _extreme(a, "min")),
    "max": (1, None, lambda a: _extreme(a, "max")),
    "sum": (1, None, _fn_sum),
    "count": (1, 1, _fn_count),
    "string": (1, 1, _fn_string),
    "list contains": (2, 2, _fn_list_contains),
    "string length": (1, 1, _string_fn("string length", len, 1)),
    "contains": (2, 2, _string_fn("contains", lambda s, t: t in s, 2)),
    "starts with": (2, 2, _string_fn("starts with", lambda s, t: s.startswith(t), 2)),
    "ends with": (2, 2, _string_fn("ends with", lambda s, t: s.endswith(t), 2)),
    "upper case": (1, 1, _string_fn("upper case", str.upper, 1)),
    "lower case": (1, 1, _string_fn("lower case", str.lower, 1)),
}


class _Facts:
    """The facts of one evaluation: looked up by name only, normalised once, and recorded when read."""

    def __init__(self, facts: Mapping[str, object]) -> None:
        self.facts = facts
        self.used: dict[str, Value] = {}

    def get(self, name: str) -> Value:
        if name in self.used:
            return self.used[name]
        if name not in self.facts:
            raise MissingFactError([name])
        value = to_feel(self.facts[name], name)
        self.used[name] = value
        return value


def _truth(value: Value, what: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _TypeProblem(f"{what} needs a boolean, got {_category(value)} {_show(value)}")


def _eval(node: _Node, facts: _Facts) -> Value:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _Name):
        return facts.get(node.name)
    if isinstance(node, _List):
        return tuple(_eval(item, facts) for item in node.items)
    if isinstance(node, _Neg):
        return _arith("-", 0, _eval(node.operand, facts))
    if isinstance(node, _Binary):
        left, right = _eval(node.left, facts), _eval(node.right, facts)
        if node.op == "=":
            return _equal(left, right)
        if node.op == "!=":
            return not _equal(left, right)
        if node.op in ("<", "<=", ">", ">="):
            return _less(left, right, node.op)
        return _arith(node.op, left, right)
    if isinstance(node, _Logic):
        # FEEL's three-valued and/or: a decisive operand wins even when another is null
        decisive = node.op == "or"
        seen_null = False
        for operand in node.operands:
            truth = _truth(_eval(operand, facts), node.op)
            if truth is decisive:
                return decisive
            seen_null = seen_null or truth is None
        return None if seen_null else not decisive
    if isinstance(node, _If):
        return _eval(node.then if _truth(_eval(node.condition, facts), "if") is True else node.otherwise, facts)
    return _FUNCTIONS[node.function][2]([_eval(arg, facts) for arg in node.args])


def _names(node: _Node) -> list[str]:
    """The fact names an expression reads, in order of appearance."""
    if isinstance(node, _Name):
        return [node.name]
    children: Iterable[_Node]
    if isinstance(node, _List):
        children = node.items
    elif isinstance(node, _Neg):
        children = (node.operand,)
    elif isinstance(node, _Binary):
        children = (node.left, node.right)
    elif isinstance(node, _Logic):
        children = node.operands
    elif isinstance(node, _If):
        children = (node.condition, node.then, node.otherwise)
    elif isinstance(node, _Call):
        children = node.args
    else:
        children = ()
    return list(dict.fromkeys(name for child in children for name in _names(child)))


def _test(test: _Test, value: Value) -> bool | None:
    if isinstance(test, _NullTest):
        return value is None
    if isinstance(test, _EqTest):
        return _equal(value, test.value)
    if value is None:
        return None
    if isinstance(test, _CmpTest):
        return _less(value, test.value, test.op)
    if _category(value) != "number":
        raise _TypeProblem(f"a range compares numbers, not {_category(value)} {_show(value)}")
    low_ok = value >= test.low if test.low_closed else value > test.low  # type: ignore[operator]
    high_ok = value <= test.high if test.high_closed else value < test.high  # type: ignore[operator]
    return bool(low_ok and high_ok)


def _matches(entry: _Entry, value: Value) -> bool | None:
    """FEEL's three-valued answer of one cell for one input value; a rule needs True in every cell."""
    if entry.any:
        return True
    results = [_test(t, value) for t in entry.tests]
    result: bool | None = True if True in results else None if None in results else False
    if entry.negated and result is not None:
        return not result
    return result


# ------------------------------------------------------------------------------ public expressions


@dataclass(frozen=True)
class Expression:
    """A compiled FEEL expression (see the module docstring for the subset); safe on untrusted text."""

    text: str
    _node: _Node = field(repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The fact names the expression reads."""
        return tuple(_names(self._node))

    def evaluate(self, facts: Mapping[str, object]) -> Value:
        """The expression's value over ``facts``; raises :class:`MissingFactError` or :class:`FeelTypeError`."""
        try:
            return _eval(self._node, _Facts(facts))
        except _TypeProblem as problem:
            raise FeelTypeError(str(problem), text=self.text) from None


def compile_expression(text: str) -> Expression:
    """Parse a FEEL expression once (raises :class:`FeelSyntaxError`), to evaluate it many times."""
    return Expression(text, _parse_expression(text))


@dataclass(frozen=True)
class UnaryTests:
    """A compiled cell of simple unary tests (``>= 60``, ``[1..3]``, ``not("a", "b")``, ``-``)."""

    text: str
    _entry: _Entry = field(repr=False, compare=False)

    def matches(self, value: object) -> bool:
        """Whether ``value`` passes (FEEL's null counts as not passing); raises :class:`FeelTypeError`."""
        try:
            return _matches(self._entry, to_feel(value)) is True
        except _TypeProblem as problem:
            raise FeelTypeError(str(problem), text=self.text) from None


def compile_unary_tests(text: str) -> UnaryTests:
    """Parse one input cell (raises :class:`FeelSyntaxError`)."""
    return UnaryTests(text, _parse_unary_tests(text))


# ------------------------------------------------------------------------------------- the table


#: typeRef values (with or without the ``feel:`` prefix, any case) and the value category they mean
_TYPE_REFS: Final = {
    "number": "number",
    "integer": "number",
    "int": "number",
    "long": "number",
    "double": "number",
    "decimal": "number",
    "string": "string",
    "boolean": "boolean",
    "any": None,
}


@dataclass(frozen=True)
class InputColumn:
    """One input: ``label`` as shown, ``expression`` over the facts, ``type`` (number/string/boolean or None)."""

    id: str
    label: str
    expression: str
    type: str | None
    #: the ``inputValues`` cell: which values are allowed (unary tests), or None
    allowed: str | None = None
    _expression: _Node = field(default=_Lit(None), repr=False, compare=False)
    _allowed: _Entry = field(default=_ANY, repr=False, compare=False)

    @property
    def title(self) -> str:
        """How errors name the column."""
        return f"input {self.label!r}"


@dataclass(frozen=True)
class OutputColumn:
    """One output: ``name`` is the result key; ``allowed`` the ``outputValues`` in priority order."""

    id: str
    name: str
    label: str
    type: str | None
    allowed: tuple[Value, ...] = ()
    default: str | None = None
    _default: _Node | None = field(default=None, repr=False, compare=False)

    @property
    def title(self) -> str:
        """How errors name the column."""
        return f"output {self.name!r}"


@dataclass(frozen=True)
class Rule:
    """One row: ``index`` is its 1-based number, ``inputs``/``outputs`` the cell texts."""

    index: int
    id: str
    description: str
    annotations: Mapping[str, str]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    _tests: tuple[_Entry, ...] = field(default=(), repr=False, compare=False)
    _results: tuple[_Node, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class DecisionTable:
    """A parsed, checked decision table, ready to evaluate many times."""

    id: str
    name: str
    hit_policy: HitPolicy
    aggregation: Aggregation | None
    inputs: tuple[InputColumn, ...]
    outputs: tuple[OutputColumn, ...]
    rules: tuple[Rule, ...]

    @property
    def required_facts(self) -> tuple[str, ...]:
        """Every fact name the inputs, outputs and defaults read: what to fetch before :func:`evaluate`."""
        nodes: list[_Node] = [c._expression for c in self.inputs]
        nodes += [node for rule in self.rules for node in rule._results]
        nodes += [c._default for c in self.outputs if c._default is not None]
        return tuple(dict.fromkeys(name for node in nodes for name in _names(node)))


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


class _Reader:
    """Reads one ``<definitions>`` document in whichever DMN namespace it uses."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def children(self, element: ET.Element, name: str) -> list[ET.Element]:
        return element.findall(self.q(name))

    def text(self, element: ET.Element | None) -> str | None:
        if element is None:
            return None
        node = element.find(self.q("text"))
        return None if node is None else (node.text or "")

    def description(self, element: ET.Element) -> str:
        node = element.find(self.q("description"))
        return (node.text or "").strip() if node is not None else ""


def _column_type(type_ref: str | None, where: str) -> str | None:
    if not type_ref:
        return None
    key = type_ref.strip().lower().removeprefix("feel:")
    if key not in _TYPE_REFS:
        raise DmnFormatError(f"typeRef {type_ref!r} is not supported: use number, string or boolean", column=where)
    return _TYPE_REFS[key]


def _literals(entry: _Entry) -> list[tuple[Value, bool]]:
    """The literals of a cell, each with whether it is compared by order (so must be a number)."""
    out: list[tuple[Value, bool]] = []
    for test in entry.tests:
        if isinstance(test, _EqTest):
            out.append((test.value, False))
        elif isinstance(test, _CmpTest):
            out.append((test.value, True))
        elif isinstance(test, _RangeTest):
            out += [(test.low, True), (test.high, True)]
    return out


def _parse_table(reader: _Reader, decision: ET.Element, element: ET.Element) -> DecisionTable:
    decision_id = decision.get("id") or ""
    if not decision_id:
        raise DmnFormatError("a <decision> has no id")
    name = decision.get("name") or decision_id
    policy_text = " ".join((element.get("hitPolicy") or "UNIQUE").upper().split())
    try:
        hit_policy = HitPolicy(policy_text)
    except ValueError:
        raise DmnFormatError(f"decision {decision_id!r}: unknown hitPolicy {policy_text!r}") from None
    aggregation: Aggregation | None = None
    if element.get("aggregation"):
        try:
            aggregation = Aggregation((element.get("aggregation") or "").upper())
        except ValueError:
            raise DmnFormatError(f"decision {decision_id!r}: unknown aggregation {element.get('aggregation')!r}") from None
        if hit_policy is not HitPolicy.COLLECT:
            raise DmnFormatError(f"decision {decision_id!r}: aggregation {aggregation} needs hitPolicy COLLECT")

    inputs = [_parse_input(reader, e, i) for i, e in enumerate(reader.children(element, "input"), start=1)]
    outputs = [_parse_output(reader, e, i) for i, e in enumerate(reader.children(element, "output"), start=1)]
    if not outputs:
        raise DmnFormatError(f"decision {decision_id!r}: the table has no <output>")
    if len({o.name for o in outputs}) != len(outputs):
        raise DmnFormatError(f"decision {decision_id!r}: two outputs share a name")
    if aggregation is not None and len(outputs) > 1:
        # as DMN 1.3 says: aggregating a row of several outputs has no single meaning
        raise DmnFormatError(f"decision {decision_id!r}: aggregation {aggregation} needs exactly one output")
    if hit_policy in (HitPolicy.PRIORITY, HitPolicy.OUTPUT_ORDER):
        for column in outputs:
            if not column.allowed:
                raise DmnFormatError(f"hitPolicy {hit_policy} ranks rules by the output values: list them", column=column.title)
    annotation_names = [a.get("name") or f"annotation {i}" for i, a in enumerate(reader.children(element, "annotation"), start=1)]

    rules = [_parse_rule(reader, e, i, inputs, outputs, annotation_names) for i, e in enumerate(reader.children(element, "rule"), start=1)]
    inputs = _infer_input_types(inputs, rules)
    if aggregation is Aggregation.SUM:
        if outputs[0].type not in (None, "number"):
            raise FeelTypeError(f"SUM adds numbers; the output holds {outputs[0].type}s", column=outputs[0].title)
        for rule in rules:
            result = rule._results[0]
            if isinstance(result, _Lit) and result.value is not None and _category(result.value) != "number":
                raise FeelTypeError(f"SUM adds numbers; this is {_show(result.value)}", rule=rule.index, column=outputs[0].title)
    return DecisionTable(decision_id, name, hit_policy, aggregation, tuple(inputs), tuple(outputs), tuple(rules))


def _feel(parse: Callable[[str], _T], text: str, *, rule: int | None = None, column: str) -> _T:
    try:
        return parse(text)
    except DecisionTableError as error:
        raise error.located(rule=rule, column=column) from None


def _parse_input(reader: _Reader, element: ET.Element, number: int) -> InputColumn:
    expression_element = element.find(reader.q("inputExpression"))
    label = element.get("label") or element.get("name") or ""
    text = reader.text(expression_element)
    where = f"input {label or number!r}"
    if expression_element is None or not (text or "").strip():
        raise DmnFormatError("the input has no <inputExpression><text>", column=where)
    assert text is not None  # checked just above; narrows the type for mypy
    label = label or text.strip()
    where = f"input {label!r}"
    column_type = _column_type(expression_element.get("typeRef") or element.get("typeRef"), where)
    node = _feel(_parse_expression, text, column=f"{where} expression")
    allowed_text = reader.text(element.find(reader.q("inputValues")))
    allowed = _feel(_parse_unary_tests, allowed_text, column=f"{where} allowed values") if allowed_text else _ANY
    return InputColumn(element.get("id") or f"input_{number}", label, text.strip(), column_type, allowed_text, node, allowed)


def _parse_output(reader: _Reader, element: ET.Element, number: int) -> OutputColumn:
    name = element.get("name") or element.get("label") or ""
    if not name:
        raise DmnFormatError(f"output {number} has neither name nor label")
    where = f"output {name!r}"
    column_type = _column_type(element.get("typeRef"), where)
    allowed_text = reader.text(element.find(reader.q("outputValues")))
    allowed: tuple[Value, ...] = ()
    if allowed_text and allowed_text.strip():
        entry = _feel(_parse_unary_tests, allowed_text, column=f"{where} output values")
        if entry.negated or any(not isinstance(t, _EqTest) for t in entry.tests):
            raise FeelSyntaxError("output values are a list of literals", text=allowed_text, column=where)
        allowed = tuple(t.value for t in entry.tests if isinstance(t, _EqTest))
        if column_type is not None:
            for value in allowed:
                _check_category(value, column_type, f"{where} output values")
    default_text = reader.text(element.find(reader.q("defaultOutputEntry")))
    default = _feel(_parse_expression, default_text, column=f"{where} default") if default_text and default_text.strip() else None
    column = OutputColumn(
        element.get("id") or f"output_{number}", name, element.get("label") or name, column_type, allowed, default_text, default
    )
    if isinstance(default, _Lit):
        _check_output(default.value, column, None)
    return column


def _parse_rule(
    reader: _Reader,
    element: ET.Element,
    index: int,
    inputs: Sequence[InputColumn],
    outputs: Sequence[OutputColumn],
    annotation_names: Sequence[str],
) -> Rule:
    in_cells = [reader.text(e) or "" for e in reader.children(element, "inputEntry")]
    out_cells = [reader.text(e) or "" for e in reader.children(element, "outputEntry")]
    if len(in_cells) != len(inputs):
        raise DmnFormatError(f"{len(in_cells)} input entries for {len(inputs)} inputs", rule=index)
    if len(out_cells) != len(outputs):
        raise DmnFormatError(f"{len(out_cells)} output entries for {len(outputs)} outputs", rule=index)
    tests = tuple(_feel(_parse_unary_tests, text, rule=index, column=c.title) for text, c in zip(in_cells, inputs, strict=True))
    results: list[_Node] = []
    for text, column in zip(out_cells, outputs, strict=True):
        # an empty output cell is FEEL null, as DMN editors leave it
        node = _feel(_parse_expression, text, rule=index, column=column.title) if text.strip() else _Lit(None)
        if isinstance(node, _Lit):
            _check_output(node.value, column, index)
        results.append(node)
    annotations = {
        name: (reader.text(e) or "").strip() for name, e in zip(annotation_names, reader.children(element, "annotationEntry"), strict=False)
    }
    return Rule(
        index,
        element.get("id") or f"rule_{index}",
        reader.description(element),
        annotations,
        tuple(c.strip() for c in in_cells),
        tuple(c.strip() for c in out_cells),
        tests,
        tuple(results),
    )


def _check_category(value: Value, expected: str, where: str, rule: int | None = None) -> None:
    if value is not None and _category(value) != expected:
        raise FeelTypeError(f"{_show(value)} is a {_category(value)}, the column holds {expected}s", rule=rule, column=where)


def _check_output(value: Value, column: OutputColumn, rule: int | None) -> None:
    if column.type is not None:
        _check_category(value, column.type, column.title, rule)
    if column.allowed and value is not None and not any(_safe_equal(value, a) for a in column.allowed):
        raise FeelTypeError(
            f"{_show(value)} is not one of the output values {', '.join(_show(a) for a in column.allowed)}", rule=rule, column=column.title
        )


def _safe_equal(a: Value, b: Value) -> bool:
    try:
        return _equal(a, b)
    except _TypeProblem:
        return False


def _infer_input_types(inputs: list[InputColumn], rules: Sequence[Rule]) -> list[InputColumn]:
    """Give each input column a type: its typeRef, else the one type all its literals share."""
    typed: list[InputColumn] = []
    for position, column in enumerate(inputs):
        column_type = column.type
        source = f"typeRef {column_type}"
        for value, _ in _literals(column._allowed):
            if column_type is None:
                column_type, source = _category(value), "the allowed values"
            _check_category(value, column_type, f"{column.title} allowed values")
        for rule in rules:
            for value, ordered in _literals(rule._tests[position]):
                category = _category(value)
                if column_type is None:
                    column_type, source = category, f"rule {rule.index}"
                elif category != column_type:
                    hint = " (comparisons and ranges need numbers)" if ordered else ""
                    raise FeelTypeError(
                        f"{_show(value)} is a {category} but the column holds {column_type}s (from {source}){hint}",
                        rule=rule.index,
                        column=column.title,
                        text=rule.inputs[position],
                    )
        typed.append(
            InputColumn(column.id, column.label, column.expression, column_type, column.allowed, column._expression, column._allowed)
        )
    return typed


def _refuse_dtd(data: bytes | str) -> None:
    """DMN needs no DTD; refusing any keeps entity expansion (billion laughs, XXE) out entirely."""

    def refuse(*_args: object) -> None:
        raise DmnFormatError("the XML has a DOCTYPE; DMN files need none and they are refused")

    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse
    scanner.EntityDeclHandler = refuse
    try:
        scanner.Parse(data, True)
    except expat.ExpatError as error:
        raise DmnFormatError(f"not well-formed XML: {error}") from None


def parse_definitions(source: str | bytes) -> dict[str, DecisionTable]:
    """Every decision table of a DMN ``<definitions>`` document, by decision id, in document order.

    Raises :class:`DmnFormatError` for XML or structure problems, :class:`FeelSyntaxError` for a cell
    outside the FEEL subset and :class:`FeelTypeError` for literals of the wrong type, each naming
    the rule and column. Overlaps are not checked here: see :func:`check_table`.
    """
    size = len(source.encode() if isinstance(source, str) else source)
    if size > MAX_DMN_BYTES:
        raise DmnFormatError(f"the file is {size} bytes; the limit is {MAX_DMN_BYTES}")
    _refuse_dtd(source)
    try:
        root = ET.fromstring(source)  # noqa: S314 - expat without a DTD (refused above) expands no entities
    except ET.ParseError as error:
        raise DmnFormatError(f"not well-formed XML: {error}") from None
    ns, local = _local(root.tag)
    if local != "definitions" or ns not in DMN_NAMESPACES:
        raise DmnFormatError(f"the root element is {root.tag!r}, not a DMN <definitions>")
    reader = _Reader(ns)
    tables: dict[str, DecisionTable] = {}
    for decision in reader.children(root, "decision"):
        for requirement in decision.iter(reader.q("requiredDecision")):
            # chaining decisions would need an evaluation order and cycle checks; not needed by any item yet
            raise DmnFormatError(
                f"decision {decision.get('id')!r} requires decision {requirement.get('href', '').lstrip('#')!r}: "
                "decision graphs are not supported (give that result as a fact)"
            )
        element = decision.find(reader.q("decisionTable"))
        if element is None:
            raise DmnFormatError(f"decision {decision.get('id')!r} is not a decision table (only tables are supported)")
        table = _parse_table(reader, decision, element)
        if table.id in tables:
            raise DmnFormatError(f"two decisions have the id {table.id!r}")
        tables[table.id] = table
    if not tables:
        raise DmnFormatError("the document has no <decision>")
    return tables


def parse_dmn(source: str | bytes, decision_id: str | None = None) -> DecisionTable:
    """The decision table ``decision_id`` of a DMN document (or its only one); see :func:`parse_definitions`."""
    tables = parse_definitions(source)
    if decision_id is None:
        if len(tables) > 1:
            raise DmnFormatError(f"the document has {len(tables)} decisions ({', '.join(tables)}): name one")
        return next(iter(tables.values()))
    if decision_id not in tables:
        raise DmnFormatError(f"no decision {decision_id!r}; the document has {', '.join(tables)}")
    return tables[decision_id]


def load_dmn(path: str | Path, decision_id: str | None = None) -> DecisionTable:
    """:func:`parse_dmn` on a file."""
    return parse_dmn(Path(path).read_bytes(), decision_id)


#: The demo's instant items (issue #5 §4), shipped as ``gov_services/dmn/<id>.dmn``.
DEMO_DECISIONS: Final = (
    "elderly_preferential_card",
    "senior_allowance",
    "birth_registration",
    "individual_business_registration",
    "residence_certificate",
)


def demo_table(decision_id: str) -> DecisionTable:
    """One of :data:`DEMO_DECISIONS`, read from the package data."""
    if decision_id not in DEMO_DECISIONS:
        raise KeyError(decision_id)
    data = (resources.files("citybrain.gov_services") / "dmn" / f"{decision_id}.dmn").read_bytes()
    return parse_dmn(data, decision_id)


def demo_tables() -> dict[str, DecisionTable]:
    """All demo tables, by decision id."""
    return {decision_id: demo_table(decision_id) for decision_id in DEMO_DECISIONS}


# ------------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class FiredRule:
    """A rule that made the decision: its number, id, description, annotations and outputs."""

    index: int
    id: str
    description: str
    annotations: Mapping[str, str]
    outputs: Mapping[str, Value]


@dataclass(frozen=True)
class InputValue:
    """One input column's value for this application (e.g. 已持有同类执照 = false)."""

    label: str
    expression: str
    value: Value


@dataclass(frozen=True)
class DecisionResult:
    """What was decided and why, to show the applicant and to store.

    ``outputs``: for UNIQUE, FIRST, ANY and PRIORITY the fired rule's outputs, or the outputs'
    defaults when no rule matched (empty when there are none); for COLLECT, RULE ORDER and OUTPUT
    ORDER each output's values as a tuple, or with an aggregator its SUM/MIN/MAX/COUNT.
    ``rules``: the rules behind the outputs (for ANY, every matching rule). ``inputs``: each input
    column's value. ``facts``: every fact read, name -> value.
    """

    decision_id: str
    decision_name: str
    hit_policy: HitPolicy
    aggregation: Aggregation | None
    outputs: Mapping[str, Value]
    rules: tuple[FiredRule, ...]
    inputs: tuple[InputValue, ...]
    facts: Mapping[str, Value]

    @property
    def matched(self) -> bool:
        """Whether any rule matched (when none did, the outputs are the defaults, if any)."""
        return bool(self.rules)

    def as_json(self) -> dict[str, object]:
        """The record as JSON-ready data (non-integral numbers as strings)."""
        return {
            "decision": {"id": self.decision_id, "name": self.decision_name},
            "hit_policy": str(self.hit_policy),
            "aggregation": str(self.aggregation) if self.aggregation else None,
            "matched": self.matched,
            "outputs": {k: to_json(v) for k, v in self.outputs.items()},
            "rules": [
                {
                    "index": r.index,
                    "id": r.id,
                    "description": r.description,
                    "annotations": dict(r.annotations),
                    "outputs": {k: to_json(v) for k, v in r.outputs.items()},
                }
                for r in self.rules
            ],
            "inputs": [{"label": i.label, "expression": i.expression, "value": to_json(i.value)} for i in self.inputs],
            "facts": {k: to_json(v) for k, v in self.facts.items()},
        }


def _located_eval(node: _Node, facts: _Facts, *, rule: int | None, column: str) -> Value:
    try:
        return _eval(node, facts)
    except _TypeProblem as problem:
        raise FeelTypeError(str(problem), rule=rule, column=column) from None
    except DecisionTableError as error:
        raise error.located(rule=rule, column=column) from None


def _rule_outputs(table: DecisionTable, rule: Rule, facts: _Facts) -> dict[str, Value]:
    outputs: dict[str, Value] = {}
    for column, node in zip(table.outputs, rule._results, strict=True):
        value = _located_eval(node, facts, rule=rule.index, column=column.title)
        _check_output(value, column, rule.index)
        outputs[column.name] = value
    return outputs


def _priority(table: DecisionTable, outputs: Mapping[str, Value]) -> tuple[int, ...]:
    """Rank of a rule's outputs by the outputs' value lists (earlier = higher priority)."""
    ranks: list[int] = []
    for column in table.outputs:
        value = outputs[column.name]
        ranks.append(next((i for i, a in enumerate(column.allowed) if _safe_equal(value, a)), len(column.allowed)))
    return tuple(ranks)


def _aggregate(aggregation: Aggregation, values: list[Value], column: OutputColumn) -> Value:
    if aggregation is Aggregation.COUNT:
        return len(values)
    try:
        if aggregation is Aggregation.SUM:
            return _fn_sum([tuple(values)])
        return _extreme([tuple(values)], "min" if aggregation is Aggregation.MIN else "max")
    except _TypeProblem as problem:
        raise FeelTypeError(f"{aggregation}: {problem}", column=column.title) from None


def evaluate(table: DecisionTable, facts: Mapping[str, object]) -> DecisionResult:
    """Decide one case: evaluate the inputs over ``facts``, match the rules, apply the hit policy.

    ``facts`` maps fact names (``age``, ``household_district``, ``existing_licences``, ...) to numbers,
    strings, booleans, None or lists; every name in :attr:`DecisionTable.required_facts` used by the
    inputs must be present (None is an explicit null). Raises :class:`MissingFactError` listing all
    missing names, :class:`FeelTypeError` for a value of the wrong type or outside the column's
    allowed values, and :class:`HitPolicyViolation` when several rules match under UNIQUE (naming
    them) or disagree under ANY.
    """
    missing = [name for column in table.inputs for name in _names(column._expression) if name not in facts]
    if missing:
        raise MissingFactError(list(dict.fromkeys(missing)))
    reader = _Facts(facts)
    values = [_input_value(column, reader) for column in table.inputs]

    matched: list[Rule] = []
    for rule in table.rules:
        if all(_matches(entry, value) is True for entry, value in zip(rule._tests, values, strict=True)):
            matched.append(rule)
            if table.hit_policy is HitPolicy.FIRST:
                break  # later rules cannot change a FIRST table's answer
    shown = ", ".join(f"{c.label}={_show(v)}" for c, v in zip(table.inputs, values, strict=True))
    numbers = [r.index for r in matched]
    if table.hit_policy is HitPolicy.UNIQUE and len(matched) > 1:
        raise HitPolicyViolation(f"decision {table.id!r} is UNIQUE but rules {', '.join(map(str, numbers))} all match ({shown})", numbers)

    fired = [FiredRule(r.index, r.id, r.description, r.annotations, _rule_outputs(table, r, reader)) for r in matched]
    if table.hit_policy is HitPolicy.ANY and any(not _safe_equal(f.outputs[k], v) for f in fired[1:] for k, v in fired[0].outputs.items()):
        raise HitPolicyViolation(
            f"decision {table.id!r} is ANY but rules {', '.join(map(str, numbers))} match ({shown}) with different outputs", numbers
        )
    if table.hit_policy is HitPolicy.PRIORITY and fired:
        fired = [min(fired, key=lambda f: _priority(table, f.outputs))]
    if table.hit_policy is HitPolicy.OUTPUT_ORDER:
        fired.sort(key=lambda f: _priority(table, f.outputs))  # stable: equal ranks keep rule order

    return DecisionResult(
        table.id,
        table.name,
        table.hit_policy,
        table.aggregation,
        _table_outputs(table, fired, reader),
        tuple(fired),
        tuple(InputValue(c.label, c.expression, v) for c, v in zip(table.inputs, values, strict=True)),
        dict(reader.used),
    )


def _input_value(column: InputColumn, reader: _Facts) -> Value:
    value = _located_eval(column._expression, reader, rule=None, column=column.title)
    if column.type is not None and value is not None and _category(value) != column.type:
        reason = f"expects a {column.type}, got {_category(value)} {_show(value)}"
        raise FeelTypeError(reason, column=column.title, text=column.expression)
    if value is not None and _matches(column._allowed, value) is not True:
        reason = f"{_show(value)} is not an allowed value ({column.allowed})"
        raise FeelTypeError(reason, column=column.title, text=column.expression)
    return value


def _table_outputs(table: DecisionTable, fired: Sequence[FiredRule], reader: _Facts) -> dict[str, Value]:
    if table.hit_policy.single:
        if fired:
            return dict(fired[0].outputs)
        if all(c._default is None for c in table.outputs):
            return {}
        return {
            c.name: None if c._default is None else _located_eval(c._default, reader, rule=None, column=f"{c.title} default")
            for c in table.outputs
        }
    if table.aggregation is not None:
        column = table.outputs[0]
        return {column.name: _aggregate(table.aggregation, [f.outputs[column.name] for f in fired], column)}
    return {c.name: tuple(f.outputs[c.name] for f in fired) for c in table.outputs}


# ------------------------------------------------------------------------- static overlap check
#
# Each cell is turned into the exact set of input values it accepts: a union of intervals for
# number columns, a finite or co-finite set for string and boolean columns (which take literals
# only), and whether null is in it. Two rules can match together iff, in every column, their sets
# (narrowed to the column's allowed values) intersect; a value from each intersection is the example.


@dataclass(frozen=True)
class _Span:
    low: Decimal | None  # None: unbounded
    low_closed: bool
    high: Decimal | None
    high_closed: bool

    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and not (self.low_closed and self.high_closed))


@dataclass(frozen=True)
class _NumberSet:
    spans: tuple[_Span, ...]  # sorted, disjoint, none empty
    null: bool


@dataclass(frozen=True)
class _PointSet:
    points: frozenset[Value]
    cofinite: bool  # the set is everything except ``points``
    null: bool
    boolean: bool  # the universe is {true, false}, so a co-finite set is finite


_ValueSet: TypeAlias = _NumberSet | _PointSet


def _point_set(points: Iterable[Value], cofinite: bool, null: bool, boolean: bool) -> _PointSet:
    values = frozenset(points)
    if boolean and cofinite:
        return _PointSet(frozenset({True, False}) - values, False, null, True)
    return _PointSet(values, cofinite, null, boolean)


def _low_key(span: _Span) -> tuple[int, Decimal, int]:
    return (0, Decimal(0), 0) if span.low is None else (1, span.low, 0 if span.low_closed else 1)


def _normalise(spans: Iterable[_Span]) -> tuple[_Span, ...]:
    merged: list[_Span] = []
    for span in sorted((s for s in spans if not s.empty()), key=_low_key):
        if merged:
            last = merged[-1]
            # touching spans merge when at least one side includes the shared point
            touches = (
                last.high is None
                or span.low is None
                or last.high > span.low
                or (last.high == span.low and (last.high_closed or span.low_closed))
            )
            if touches:
                if last.high is None or (
                    span.high is not None and (last.high > span.high or (last.high == span.high and last.high_closed))
                ):
                    high, high_closed = last.high, last.high_closed
                elif span.high is not None and last.high == span.high:
                    high, high_closed = span.high, span.high_closed or last.high_closed
                else:
                    high, high_closed = span.high, span.high_closed
                merged[-1] = _Span(last.low, last.low_closed, high, high_closed)
                continue
        merged.append(span)
    return tuple(merged)


def _complement_spans(spans: tuple[_Span, ...]) -> tuple[_Span, ...]:
    gaps: list[_Span] = []
    low: Decimal | None = None
    low_closed = False
    for span in spans:
        if span.low is not None:
            gaps.append(_Span(low, low_closed, span.low, not span.low_closed))
        if span.high is None:
            return _normalise(gaps)
        low, low_closed = span.high, not span.high_closed
    gaps.append(_Span(low, low_closed, None, False))
    return _normalise(gaps)


def _intersect_spans(a: tuple[_Span, ...], b: tuple[_Span, ...]) -> tuple[_Span, ...]:
    out: list[_Span] = []
    for x in a:
        for y in b:
            if x.low is None or (y.low is not None and (y.low > x.low or (y.low == x.low and not y.low_closed))):
                low, low_closed = y.low, y.low_closed
            else:
                low, low_closed = x.low, x.low_closed
            if x.high is None or (y.high is not None and (y.high < x.high or (y.high == x.high and not y.high_closed))):
                high, high_closed = y.high, y.high_closed
            else:
                high, high_closed = x.high, x.high_closed
            out.append(_Span(low, low_closed, high, high_closed))
    return _normalise(out)


def _union(a: _ValueSet, b: _ValueSet) -> _ValueSet:
    if isinstance(a, _NumberSet) and isinstance(b, _NumberSet):
        return _NumberSet(_normalise(a.spans + b.spans), a.null or b.null)
    assert isinstance(a, _PointSet)  # one column, one kind of set
    assert isinstance(b, _PointSet)
    null = a.null or b.null
    if a.cofinite and b.cofinite:
        return _point_set(a.points & b.points, True, null, a.boolean)
    if a.cofinite or b.cofinite:
        excluded, included = (a.points, b.points) if a.cofinite else (b.points, a.points)
        return _point_set(excluded - included, True, null, a.boolean)
    return _point_set(a.points | b.points, False, null, a.boolean)


def _intersect(a: _ValueSet, b: _ValueSet) -> _ValueSet:
    if isinstance(a, _NumberSet) and isinstance(b, _NumberSet):
        return _NumberSet(_intersect_spans(a.spans, b.spans), a.null and b.null)
    assert isinstance(a, _PointSet)  # one column, one kind of set
    assert isinstance(b, _PointSet)
    null = a.null and b.null
    if a.cofinite and b.cofinite:
        return _point_set(a.points | b.points, True, null, a.boolean)
    if a.cofinite or b.cofinite:
        excluded, included = (a.points, b.points) if a.cofinite else (b.points, a.points)
        return _point_set(included - excluded, False, null, a.boolean)
    return _point_set(a.points & b.points, False, null, a.boolean)


def _complement(a: _ValueSet, keep_null_out: bool) -> _ValueSet:
    null = not a.null and not keep_null_out
    if isinstance(a, _NumberSet):
        return _NumberSet(_complement_spans(a.spans), null)
    return _point_set(a.points, not a.cofinite, null, a.boolean)


def _universe(column_type: str | None) -> _ValueSet:
    if column_type == "number":
        return _NumberSet((_Span(None, False, None, False),), True)
    return _point_set((), True, True, column_type == "boolean")


def _nothing(column_type: str | None) -> _ValueSet:
    if column_type == "number":
        return _NumberSet((), False)
    return _point_set((), False, False, column_type == "boolean")


def _only_null(column_type: str | None) -> _ValueSet:
    if column_type == "number":
        return _NumberSet((), True)
    return _point_set((), False, True, column_type == "boolean")


def _test_set(test: _Test, column_type: str | None) -> tuple[_ValueSet, bool]:
    """The values a test accepts, and whether a null input makes it null (rather than false)."""
    if isinstance(test, _NullTest):
        return _only_null(column_type), False
    if isinstance(test, _EqTest):
        if column_type == "number":
            point = Decimal(test.value)  # type: ignore[arg-type]
            return _NumberSet((_Span(point, True, point, True),), False), False
        return _point_set((test.value,), False, False, column_type == "boolean"), False
    if isinstance(test, _CmpTest):
        point = Decimal(test.value)
        span = {
            "<": _Span(None, False, point, False),
            "<=": _Span(None, False, point, True),
            ">": _Span(point, False, None, False),
            ">=": _Span(point, True, None, False),
        }[test.op]
        return _NumberSet((span,), False), True
    return _NumberSet((_Span(Decimal(test.low), test.low_closed, Decimal(test.high), test.high_closed),), False), True


def _entry_set(entry: _Entry, column_type: str | None) -> _ValueSet:
    if entry.any:
        return _universe(column_type)
    accepted = _nothing(column_type)
    null_gives_null = False
    for test in entry.tests:
        values, gives_null = _test_set(test, column_type)
        accepted = _union(accepted, values)
        null_gives_null = null_gives_null or gives_null
    if not entry.negated:
        return accepted
    # not(...) of a null result is null, so a null input is accepted only if no test was null for it
    return _complement(accepted, keep_null_out=null_gives_null)


def _example(values: _ValueSet) -> tuple[bool, Value]:
    """(non-empty, a member): a non-null member when there is one, for a readable example."""
    if isinstance(values, _NumberSet):
        if values.spans:
            span = values.spans[0]
            if span.low is not None and span.low_closed:
                point = span.low
            elif span.high is not None and span.high_closed:
                point = span.high
            elif span.low is not None and span.high is not None:
                point = (span.low + span.high) / 2
            elif span.low is not None:
                point = span.low + 1
            elif span.high is not None:
                point = span.high - 1
            else:
                point = Decimal(0)
            return True, _number(point)
        return values.null, None
    if values.cofinite:
        candidate = "其他"
        suffix = 1
        while candidate in values.points:
            suffix += 1
            candidate = f"其他{suffix}"
        return True, candidate
    if values.points:
        return True, sorted(values.points, key=_show)[0]
    return values.null, None


@dataclass(frozen=True)
class Overlap:
    """Two rules (1-based numbers and ids) that both match ``example`` (input label -> value).

    Inputs left out of ``example`` are ``-`` in both rules: any value there.
    """

    first: int
    second: int
    first_id: str
    second_id: str
    example: Mapping[str, Value]

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.example.items()) or "any input"
        return f"rules {self.first} and {self.second} both match {shown}"


def overlaps(table: DecisionTable) -> list[Overlap]:
    """Every pair of rules that some input matches together, with such an input.

    Exact for the FEEL subset of input entries (intervals on numbers, literal sets on strings and
    booleans, null), within each input's allowed values; input expressions are treated as opaque,
    so two inputs computed from the same fact are treated as independent (an overlap may then be
    reported that no real facts reach).
    """
    # null is always allowed: the allowed values constrain the values given, not their absence
    domains = [_union(_entry_set(c._allowed, c.type), _only_null(c.type)) for c in table.inputs]
    cells = [
        [_intersect(_entry_set(entry, c.type), domain) for entry, c, domain in zip(rule._tests, table.inputs, domains, strict=True)]
        for rule in table.rules
    ]
    found: list[Overlap] = []
    for i, first in enumerate(table.rules):
        for j in range(i + 1, len(table.rules)):
            second = table.rules[j]
            example: dict[str, Value] = {}
            for position, column in enumerate(table.inputs):
                both = _intersect(cells[i][position], cells[j][position])
                possible, value = _example(both)
                if not possible:
                    break
                if not (first._tests[position].any and second._tests[position].any):
                    example[column.label] = value
            else:
                found.append(Overlap(first.index, second.index, first.id, second.id, example))
    return found


def check_table(table: DecisionTable) -> None:
    """Refuse a table at upload whose hit policy its rules break, naming the rules.

    UNIQUE: no two rules may match the same input. ANY: rules that can match together must have the
    same output cells. Raises :class:`OverlapError`; other hit policies allow overlaps by design.
    """
    if table.hit_policy is HitPolicy.UNIQUE:
        bad = overlaps(table)
    elif table.hit_policy is HitPolicy.ANY:
        by_index = {rule.index: rule for rule in table.rules}
        bad = [o for o in overlaps(table) if by_index[o.first]._results != by_index[o.second]._results]
    else:
        return
    if bad:
        raise OverlapError(table.id, bad)


def validate_upload(source: str | bytes) -> dict[str, DecisionTable]:
    """A department's uploaded DMN: parse every decision table and :func:`check_table` each."""
    tables = parse_definitions(source)
    for table in tables.values():
        check_table(table)
    return tables
