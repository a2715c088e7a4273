"""Application forms: a service item's JSON Schema (Draft 2020-12), checked with ``jsonschema``.

A department publishes each item's form as a JSON Schema object: ``properties`` (one per field, with
``title`` in Chinese and ``x-title-en`` in English), ``required``, and the usual keywords (``type``,
``enum``, ``minimum``, ``maxLength``, ``pattern``, ``format: date`` ...). :func:`check_schema`
refuses a schema that is not valid Draft 2020-12 or whose field names cannot be process data
(identifiers); :func:`coerce` turns the strings an HTML form posts into the schema's types; and
:func:`validate` returns one :class:`FieldError` per failing field, with a message key per keyword
(``gov.form.required``, ``gov.form.minimum`` ...) and its parameters, so the page and the API
explain the problem in zh-CN and English. No database, no web.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from citybrain.core.errors import FieldError

#: keywords that have their own message; anything else is ``gov.form.invalid``
KEYWORDS: Final = frozenset(
    {"required", "type", "enum", "const", "minimum", "maximum", "minLength", "maxLength", "pattern", "format", "additionalProperties"}
)
_IDENTIFIER: Final = re.compile(r"[^\W\d]\w*")
MAX_FIELDS: Final = 60


class BadSchema(ValueError):
    """The form schema cannot be published; the message says why."""


def check_schema(schema: Mapping[str, Any]) -> None:
    """Refuse a form schema that is not a Draft 2020-12 object schema with identifier field names."""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as error:
        raise BadSchema(f"not a valid JSON Schema: {error.message}") from None
    if schema.get("type") != "object" or not isinstance(schema.get("properties", {}), dict):
        raise BadSchema("the form must be an object schema with properties")
    properties = schema.get("properties", {})
    if len(properties) > MAX_FIELDS:
        raise BadSchema(f"more than {MAX_FIELDS} fields")
    for name in properties:
        if not _IDENTIFIER.fullmatch(name) or name.startswith("_") or name == "decision" or name.endswith("_outcome"):
            raise BadSchema(f"field name {name!r} must be an identifier (it becomes process data)")


def fields(schema: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, property schema, required) for each field, in the schema's order."""
    required = set(schema.get("required", []))
    return [(name, dict(prop), name in required) for name, prop in schema.get("properties", {}).items()]


def coerce(schema: Mapping[str, Any], posted: Mapping[str, str]) -> dict[str, Any]:
    """The posted strings of an HTML form as the schema's types. Empty fields are left out (so
    ``required`` names them); a value that does not convert is kept as text, so ``type`` names it."""
    out: dict[str, Any] = {}
    for name, prop, _ in fields(schema):
        if name not in posted:
            if prop.get("type") == "boolean":
                out[name] = False  # an unticked checkbox is not posted
            continue
        raw = posted[name].strip()
        if raw == "":
            continue
        kind = prop.get("type")
        value: Any = raw
        try:
            if kind == "integer":
                value = int(raw)
            elif kind == "number":
                value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            elif kind == "boolean":
                value = raw.lower() in ("true", "on", "1", "yes", "是")
        except ValueError:
            value = raw
        out[name] = value
    return out


def _field_of(error: Any) -> str:
    if error.validator == "required":
        match = re.match(r"'([^']+)' is a required property", error.message)
        if match:
            return match.group(1)
    if error.validator == "additionalProperties":
        match = re.search(r"\('([^']+)'", error.message)
        return match.group(1) if match else ""
    return ".".join(str(p) for p in error.absolute_path)


def _params(error: Any) -> dict[str, Any]:
    keyword = error.validator
    value = error.validator_value
    if keyword == "enum":
        return {"allowed": "、".join(str(v) for v in value)}
    if keyword in ("minimum", "maximum", "minLength", "maxLength", "pattern", "format", "type", "const"):
        return {"limit": value}
    return {}


def validate(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[FieldError]:
    """Every problem of ``data`` against the form ``schema``, one :class:`FieldError` per field
    (the first failing keyword of each), located at ``("body", "form", <field>)``."""
    validator = Draft202012Validator(dict(schema), format_checker=FormatChecker())
    seen: dict[str, FieldError] = {}
    for error in sorted(validator.iter_errors(dict(data)), key=lambda e: (list(e.absolute_path), e.validator)):
        name = _field_of(error)
        if name in seen:
            continue
        keyword = str(error.validator)
        key = f"gov.form.{keyword}" if keyword in KEYWORDS else "gov.form.invalid"
        seen[name] = FieldError(("body", "form", name) if name else ("body", "form"), key, _params(error))
    order = [name for name, _, _ in fields(schema)]
    return sorted(seen.values(), key=lambda e: order.index(str(e.loc[-1])) if str(e.loc[-1]) in order else len(order))


#: what an uploaded material may be, by its first bytes (the file's own name and stated type are
#: not trusted): media type -> magic number
UPLOAD_TYPES: Final = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
#: the largest uploaded material, bytes (a scanned page is a few hundred kB)
MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024


def sniff_media_type(head: bytes) -> str | None:
    """The media type of an upload from its magic bytes, or None when it is none of PDF, PNG, JPEG."""
    return next((media for media, magic in UPLOAD_TYPES.items() if head.startswith(magic)), None)
