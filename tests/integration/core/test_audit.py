"""The hash-chained audit log: written with the change, refusing edits, and naming tampering."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.audit.models import AuditEntry
from citybrain.core.auth.principal import cli_principal
from citybrain.core.errors import ValidationFailed
from tests.builders.core import make_org


def _record(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(session, cli_principal("test"), "test.action", subject_type="test.thing", subject_id=i, detail={"i": i, "名": "值"})
    session.commit()


def drop_append_only_guard(connection: Connection) -> None:
    """What someone with full database rights could do before tampering."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE core_audit_log DISABLE TRIGGER core_audit_log_append_only"))
    else:
        connection.execute(text("DROP TRIGGER core_audit_log_no_update"))
        connection.execute(text("DROP TRIGGER core_audit_log_no_delete"))


def test_an_intact_chain_verifies(session: Session) -> None:
    _record(session, 5)
    result = audit.verify(session)
    assert result.ok
    assert result.checked == audit.count(session) >= 5


def test_entries_chain_each_to_the_hash_of_the_previous_one(session: Session) -> None:
    _record(session, 3)
    entries = session.query(AuditEntry).order_by(AuditEntry.seq).all()
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.hash
        assert entry.seq == previous.seq + 1


def test_the_entry_rolls_back_with_the_change_it_records(session: Session) -> None:
    before = audit.count(session)
    make_org(session)
    session.rollback()
    assert audit.count(session) == before


def test_reading_personal_data_needs_a_purpose(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        audit.record(session, cli_principal(), "person.read", subject_type="registry.person", subject_id="1", personal=True)
    entry = audit.record(
        session, cli_principal(), "person.read", subject_type="registry.person", subject_id="1", personal=True, purpose="低保资格核验"
    )
    assert entry.purpose == "低保资格核验"


def test_the_database_refuses_to_change_or_delete_entries(session: Session, connection: Connection) -> None:
    _record(session, 2)
    for statement in ("UPDATE core_audit_log SET action = 'x'", "DELETE FROM core_audit_log"):
        savepoint = connection.begin_nested()
        with pytest.raises((IntegrityError, DBAPIError)):
            connection.execute(text(statement))
        savepoint.rollback()


def test_an_edited_entry_is_named(session: Session, connection: Connection) -> None:
    _record(session, 5)
    target = audit.count(session) - 2
    drop_append_only_guard(connection)
    connection.execute(text("UPDATE core_audit_log SET actor_name = 'someone else' WHERE seq = :seq"), {"seq": target})

    result = audit.verify(session)

    assert not result.ok
    assert (result.first_bad_seq, result.reason) == (target, "audit.altered")


def test_an_entry_edited_with_its_hash_recomputed_is_still_named(session: Session, connection: Connection) -> None:
    from citybrain.core.audit.chain import CHAINED_FIELDS, entry_hash

    _record(session, 5)
    target = audit.count(session) - 2
    row = session.get(AuditEntry, target)
    assert row is not None
    fields = {name: getattr(row, name) for name in CHAINED_FIELDS} | {"action": "forged"}
    drop_append_only_guard(connection)
    connection.execute(
        text("UPDATE core_audit_log SET action = 'forged', hash = :h WHERE seq = :seq"), {"h": entry_hash(fields), "seq": target}
    )
    session.expire_all()

    result = audit.verify(session)

    assert (result.first_bad_seq, result.reason) == (target, "audit.altered")


def test_a_removed_entry_is_named(session: Session, connection: Connection) -> None:
    _record(session, 5)
    target = audit.count(session) - 2
    drop_append_only_guard(connection)
    connection.execute(text("DELETE FROM core_audit_log WHERE seq = :seq"), {"seq": target})

    result = audit.verify(session)

    assert (result.first_bad_seq, result.reason) == (target, "audit.removed")


def test_a_truncated_tail_is_named(session: Session, connection: Connection) -> None:
    _record(session, 5)
    last = audit.count(session)
    drop_append_only_guard(connection)
    connection.execute(text("DELETE FROM core_audit_log WHERE seq = :seq"), {"seq": last})

    result = audit.verify(session)

    assert (result.first_bad_seq, result.reason) == (last, "audit.truncated")
