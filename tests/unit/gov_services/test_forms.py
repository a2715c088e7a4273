"""Application forms and uploads without a database: JSON Schema checks, HTML form coercion,
field errors with message keys, and upload types by magic bytes."""

from __future__ import annotations

import pytest

from citybrain.gov_services import forms
from citybrain.gov_services.catalogue import DEMO_ITEMS

SCHEMA = {
    "type": "object",
    "required": ["name", "months"],
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "months": {"type": "integer", "minimum": 0, "maximum": 1200},
        "use": {"type": "string", "enum": ["就业", "入学"]},
        "permit": {"type": "boolean"},
        "area": {"type": "number"},
    },
}


def test_every_demo_form_is_a_valid_schema() -> None:
    for item in DEMO_ITEMS:
        forms.check_schema(item["form_schema"])


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"type": "object", "properties": {"a b": {"type": "string"}}}, "identifier"),
        ({"type": "object", "properties": {"decision": {"type": "string"}}}, "identifier"),
        ({"type": "array"}, "object schema"),
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "not a valid JSON Schema"),
    ],
)
def test_bad_schemas_are_refused_with_a_reason(schema: dict[str, object], reason: str) -> None:
    with pytest.raises(forms.BadSchema, match=reason):
        forms.check_schema(schema)


def test_posted_strings_become_the_schemas_types() -> None:
    posted = {"name": " 李明 ", "months": "12", "permit": "on", "area": "12.5", "use": ""}
    assert forms.coerce(SCHEMA, posted) == {"name": "李明", "months": 12, "permit": True, "area": 12.5}
    assert forms.coerce(SCHEMA, {"months": "twelve"}) == {"months": "twelve", "permit": False}


def test_each_failing_field_gets_one_error_with_its_keyword() -> None:
    errors = forms.validate(SCHEMA, {"name": "李", "months": 2000, "use": "旅游"})
    assert [(e.loc, e.key) for e in errors] == [
        (("body", "form", "name"), "gov.form.minLength"),
        (("body", "form", "months"), "gov.form.maximum"),
        (("body", "form", "use"), "gov.form.enum"),
    ]
    assert errors[2].params == {"allowed": "就业、入学"}
    missing = forms.validate(SCHEMA, {"months": "x"})
    assert [(e.loc[-1], e.key) for e in missing] == [("name", "gov.form.required"), ("months", "gov.form.type")]
    assert forms.validate(SCHEMA, {"name": "李明", "months": 3}) == []


def test_uploads_are_recognised_by_content_only() -> None:
    assert forms.sniff_media_type(b"%PDF-1.7\n") == "application/pdf"
    assert forms.sniff_media_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert forms.sniff_media_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    for content in (b"MZ\x90\x00", b"#!/bin/sh", b"<svg xmlns='http://www.w3.org/2000/svg'>", b"PK\x03\x04", b""):
        assert forms.sniff_media_type(content) is None
