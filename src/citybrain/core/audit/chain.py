"""The canonical form of an audit entry and its hash: plain functions, no database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

#: The fields that are hashed, in a fixed set (their order in JSON is sorted anyway).
CHAINED_FIELDS = (
    "seq",
    "at",
    "actor",
    "actor_name",
    "org_id",
    "action",
    "subject_type",
    "subject_id",
    "purpose",
    "personal",
    "request_id",
    "detail",
    "prev_hash",
)


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical_form(fields: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace: the bytes that are hashed."""
    data = {name: _normalise(fields.get(name)) for name in CHAINED_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical form."""
    return hashlib.sha256(canonical_form(fields)).hexdigest()
