from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from citybrain.core.audit.chain import GENESIS_HASH, canonical_form, entry_hash

BASE = {
    "seq": 1,
    "at": datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC),
    "actor": "user:1",
    "actor_name": "admin",
    "org_id": 3,
    "action": "person.read",
    "subject_type": "registry.person",
    "subject_id": "42",
    "purpose": "低保资格核验",
    "personal": True,
    "request_id": "abc",
    "detail": {"b": 1, "a": [1, 2]},
    "prev_hash": GENESIS_HASH,
}


def test_canonical_form_is_sorted_compact_utf8() -> None:
    form = canonical_form(BASE)
    assert form.startswith(b'{"action":"person.read","actor":"user:1"')
    assert "低保资格核验".encode() in form
    assert b", " not in form
    assert b'"at":"2026-11-25T08:00:00.123456Z"' in form


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    shanghai = BASE["at"].astimezone(timezone(timedelta(hours=8)))  # type: ignore[attr-defined]
    assert entry_hash(BASE) == entry_hash({**BASE, "at": shanghai})


def test_any_change_changes_the_hash() -> None:
    original = entry_hash(BASE)
    for field, value in [
        ("actor_name", "mallory"),
        ("purpose", None),
        ("detail", {"b": 2, "a": [1, 2]}),
        ("prev_hash", "1" * 64),
        ("seq", 2),
    ]:
        assert entry_hash({**BASE, field: value}) != original, field


def test_detail_key_order_does_not_matter() -> None:
    assert entry_hash(BASE) == entry_hash({**BASE, "detail": {"a": [1, 2], "b": 1}})
