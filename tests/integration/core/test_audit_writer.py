"""The group-commit writer: a batch is committed whole or not at all, and its callers learn which."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.audit.writer import AuditWriter
from citybrain.core.auth.principal import cli_principal
from citybrain.core.db.session import Database
from citybrain.core.errors import ServiceUnavailable

T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(make())`` on a thread of its own: the browser tests leave an event loop
    running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _entry(i: int) -> audit.PendingEntry:
    return audit.entry(cli_principal("test"), "test.read", subject_type="test.person", subject_id=i, personal=True, purpose="测试")


def test_a_failing_batch_refuses_every_call_in_it_and_keeps_nothing(db: Database, session: Session) -> None:
    writer = AuditWriter(db)
    seen: list[Mapping[Any, tuple[int, ...]]] = []

    def count(_session: Session, sums: Mapping[Any, tuple[int, ...]]) -> None:
        seen.append(dict(sums))
        if ("down",) in sums:
            raise RuntimeError("the store is down")

    writer.count_with("test.count", count)
    before = audit.count(session)

    async def calls(key: str) -> list[BaseException | None]:
        # started in one turn of the loop, so handed to the writer together: one batch
        jobs = [writer.commit([_entry(i)], {("test.count", (key,)): (1,)}) for i in range(5)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        failed = run_async(lambda: calls("down"))
        assert all(isinstance(e, ServiceUnavailable) and e.status == 503 for e in failed)
        assert seen == [{("down",): (5,)}]  # one counter row, incremented once for the batch
        assert audit.count(session) == before

        assert run_async(lambda: calls("up")) == [None] * 5
        writer.commit_sync([_entry(99)])
        assert audit.count(session) == before + 6
        assert audit.verify(session).ok
    finally:
        writer.close()


def test_counters_need_a_writer(db: Database) -> None:
    writer = AuditWriter(db)
    with pytest.raises(ValueError, match="no writer"):
        writer.commit_sync([], {("nobody.counts", 1): (1,)})
