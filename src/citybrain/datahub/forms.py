"""The catalogue's HTML forms: a resource's fields written one per line, read back to a schema.

A line is ``name | 中文名称 | type | sensitivity | flags`` where flags are any of ``required``,
``unique``, ``key``, ``resident_id``, ``credit_code``, ``mobile`` and ``enum=甲/乙/丙``, separated
by spaces. Only the name and title are needed: type defaults to string, sensitivity to internal.
"""

from __future__ import annotations

from typing import Any

from citybrain.core.errors import FieldError, ValidationFailed

TYPES = ("string", "integer", "number", "boolean", "date", "datetime")
SENSITIVITIES = ("public", "internal", "personal", "sensitive_personal")
IDENTIFIERS = ("resident_id", "credit_code", "mobile")


def parse_fields(text: str) -> dict[str, Any] | None:
    """The Table Schema (as the draft's ``table_schema``) written in ``text``; None when empty."""
    fields: list[dict[str, Any]] = []
    key: list[str] = []
    errors: list[FieldError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            errors.append(FieldError(("fields", number), "datahub.form.line_shape", {"line": number}))
            continue
        field: dict[str, Any] = {"name": parts[0], "title": parts[1]}
        if len(parts) > 2 and parts[2]:
            if parts[2] not in TYPES:
                errors.append(FieldError(("fields", number), "datahub.form.bad_type", {"line": number, "allowed": ", ".join(TYPES)}))
            field["type"] = parts[2]
        if len(parts) > 3 and parts[3]:
            if parts[3] not in SENSITIVITIES:
                errors.append(
                    FieldError(("fields", number), "datahub.form.bad_sensitivity", {"line": number, "allowed": ", ".join(SENSITIVITIES)})
                )
            field["sensitivity"] = parts[3]
        for flag in parts[4].split() if len(parts) > 4 else []:
            if flag in ("required", "unique"):
                field[flag] = True
            elif flag == "key":
                key.append(parts[0])
            elif flag in IDENTIFIERS:
                field["identifier"] = flag
            elif flag.startswith("enum="):
                field["enum"] = [v for v in flag[5:].split("/") if v]
            else:
                errors.append(FieldError(("fields", number), "datahub.form.bad_flag", {"line": number, "flag": flag}))
        fields.append(field)
    if errors:
        raise ValidationFailed("error.validation", errors=errors)
    if not fields:
        return None
    return {"fields": fields, "primary_key": key}


def format_fields(schema: dict[str, Any] | None) -> str:
    """A stored Table Schema written back as lines, to edit it."""
    if not schema:
        return ""
    key = set(schema.get("primaryKey", []))
    lines = []
    for f in schema.get("fields", []):
        constraints = f.get("constraints", {})
        flags = [name for name in ("required", "unique") if constraints.get(name)]
        if f["name"] in key:
            flags.append("key")
        if f.get("identifier"):
            flags.append(f["identifier"])
        if constraints.get("enum"):
            flags.append("enum=" + "/".join(constraints["enum"]))
        lines.append(
            " | ".join(
                [f["name"], f.get("title", f["name"]), f.get("type", "string"), f.get("sensitivity", "internal"), " ".join(flags)]
            ).rstrip(" |")
        )
    return "\n".join(lines)


def draft_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The draft (as the API takes it) from the submitted form's fields."""

    def text(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    def words(name: str) -> list[str]:
        raw = (form.get(name) or "").replace("、", ",").replace("，", ",").replace("/", ",")
        return [w.strip() for w in raw.split(",") if w.strip()]

    return {
        "name": text("name") or "",
        "name_en": text("name_en"),
        "summary": text("summary") or "",
        "classification": form.get("classification") or "department",
        "category_path": words("category_path"),
        "resource_type": form.get("resource_type") or "table",
        "update_cycle": form.get("update_cycle") or "irregular",
        "sharing": form.get("sharing") or "unconditional",
        "sharing_conditions": text("sharing_conditions"),
        "no_sharing_basis": text("no_sharing_basis"),
        "open_attribute": form.get("open_attribute") or "closed",
        "tags": words("tags"),
        "table_schema": parse_fields(form.get("fields") or ""),
        "change_note": text("change_note"),
    }
