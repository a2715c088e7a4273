"""The in-process event bus delivers after commit, and only then."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from citybrain.core import events
from citybrain.core.events import Event
from tests.builders.core import make_org


@pytest.fixture
def received() -> Iterator[list[Event]]:
    seen: list[Event] = []

    def handler(event: Event, session: Session) -> None:
        seen.append(event)

    events.subscribe("test.happened", handler)
    yield seen
    events.bus.unsubscribe("test.happened", handler)


def test_handlers_run_after_commit(session: Session, received: list[Event]) -> None:
    events.publish(session, "test.happened", case_id=7)
    make_org(session)
    assert received == []

    session.commit()

    assert received == [Event("test.happened", {"case_id": 7})]


def test_nothing_is_delivered_when_the_transaction_rolls_back(session: Session, received: list[Event]) -> None:
    events.publish(session, "test.happened", case_id=8)
    session.rollback()
    session.commit()
    assert received == []


def test_a_failing_handler_does_not_undo_the_committed_work_nor_stop_others(session: Session, received: list[Event]) -> None:
    def broken(event: Event, s: Session) -> None:
        make_org(s, code="t.written-by-broken-handler")
        raise RuntimeError("boom")

    events.subscribe("test.happened", broken)
    try:
        org = make_org(session, code="t.kept")
        events.publish(session, "test.happened")
        session.commit()
    finally:
        events.bus.unsubscribe("test.happened", broken)

    assert len(received) == 1
    assert session.get(type(org), org.id) is not None
    from sqlalchemy import select

    from citybrain.core.auth.models import Organisation

    assert session.scalar(select(Organisation).where(Organisation.code == "t.written-by-broken-handler")) is None


def test_a_handler_can_write_in_its_own_transaction(session: Session, caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import select

    from citybrain.core.auth.models import Organisation

    def follow_up(event: Event, s: Session) -> None:
        make_org(s, code=f"t.follow-{event.payload['n']}")

    events.subscribe("test.follow", follow_up)
    try:
        events.publish(session, "test.follow", n=1)
        session.commit()
    finally:
        events.bus.unsubscribe("test.follow", follow_up)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert session.scalar(select(Organisation).where(Organisation.code == "t.follow-1")) is not None


def test_events_arrive_from_every_session_factory_even_after_others_were_collected(connection: Connection) -> None:
    import gc

    seen: list[int] = []

    def handler(event: Event, s: Session) -> None:
        seen.append(event.payload["i"])

    events.subscribe("test.many", handler)
    try:
        for i in range(50):
            factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
            with factory() as s:
                events.publish(s, "test.many", i=i)
                s.commit()
            del factory
            gc.collect()
    finally:
        events.bus.unsubscribe("test.many", handler)

    assert seen == list(range(50))
