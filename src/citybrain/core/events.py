"""An in-process event bus whose handlers run after the publishing transaction commits.

``publish(session, "case.closed", case_id=7)`` queues the event on the session; nothing happens if
the transaction rolls back. After commit every subscribed handler runs in a transaction of its own
on the same connection target, so a handler's failure never undoes the work that raised the event
(it is logged, and that handler's own writes are rolled back).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_PENDING = "citybrain.pending_events"


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event, Session], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, name: str, handler: Handler) -> None:
        """Run ``handler(event, session)`` after each committed ``name`` event (``"*"`` for all)."""
        if handler not in self._handlers[name]:
            self._handlers[name].append(handler)

    def unsubscribe(self, name: str, handler: Handler) -> None:
        if handler in self._handlers.get(name, []):
            self._handlers[name].remove(handler)

    def handlers_for(self, name: str) -> list[Handler]:
        return [*self._handlers.get(name, []), *self._handlers.get("*", [])]

    def publish(self, session: Session, name: str, **payload: Any) -> None:
        """Queue an event on ``session``; it is delivered only if the session commits."""
        if not session.in_transaction():
            session.begin()  # the event belongs to this transaction: its rollback must drop it
        session.info.setdefault(_PENDING, []).append(Event(name, payload))

    def _deliver(self, session: Session) -> None:
        pending: list[Event] = session.info.pop(_PENDING, [])
        if not pending:
            return
        bind = session.get_bind()
        for event in pending:
            for handler in self.handlers_for(event.name):
                try:
                    with (
                        Session(bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False) as s,
                        s.begin(),
                    ):
                        handler(event, s)
                except Exception:
                    log.exception("event handler %r failed for %s", handler, event.name)


bus = EventBus()


def publish(session: Session, name: str, **payload: Any) -> None:
    bus.publish(session, name, **payload)


def subscribe(name: str, handler: Handler) -> None:
    bus.subscribe(name, handler)


def _after_commit(session: Session) -> None:
    bus._deliver(session)


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # Fires on every rollback() call, even one with no database transaction begun yet; a rolled back
    # savepoint keeps the outer transaction's events.
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)


def _install() -> None:
    """Deliver events for every Session, whatever made it.

    Listening on the Session class (not on each sessionmaker) matters: SQLAlchemy keys listeners by
    the target's id(), so a listener "contained" by a collected sessionmaker could be mistaken for
    one on a new sessionmaker at the same address, and that factory's events would never arrive.
    """
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)


_install()
