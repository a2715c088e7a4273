"""Group commit: the audit entries and counters of many concurrent calls, written in one transaction.

A governed data-service call must not answer before the record of its read is committed. Committing
one transaction per call serialises every call on the audit chain's head row (about 150 calls a
second on SQLite). Instead each call hands its entries and counter increments to the app's
:class:`AuditWriter` and waits; the writer's thread takes everything that has queued up, writes it
in one transaction on its own connection — counters first, each counter row once with the sum of
its increments, then the entries appended to the chain in the order they arrived with the head
moved once — commits, and only then wakes the waiting calls, which only then send their answers.
If the transaction fails, every call in it gets 503 and no data: a read is never answered without
its committed record. While one batch is being written the next one gathers, so the batches grow
with the load and no call waits on a timer.

Each server process has its own writer; with several processes their batches take turns on the
chain head's row lock (``BEGIN IMMEDIATE`` on SQLite), so the chain stays one chain. On SQLite the
writers of one machine's processes also take turns on a lock file beside the database first: SQLite
makes a writer that finds the database locked sleep and poll (1 ms, 2 ms, 5 ms, ...), which wasted
more time than the batches took, while a waiter on the lock file wakes as soon as it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from citybrain.core.audit import service as audit
from citybrain.core.audit.service import PendingEntry
from citybrain.core.db.session import Database
from citybrain.core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

#: A counter: its kind (which registered function writes it) and the row's key within that kind.
CounterKey = tuple[str, Hashable]
#: Writes one batch's sums of one kind of counter, ``{key: (increment, ...)}``, in its session.
CounterWriter = Callable[[Session, Mapping[Any, tuple[int, ...]]], None]

#: Calls that may wait for the writer at once (per process); beyond that calls are refused with
#: 503 at once rather than queueing without bound behind a database that cannot keep up.
MAX_WAITING = 10_000
#: Entries and counters written in one transaction at most.
MAX_BATCH = 2_000


def unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("audit.unavailable", headers={"Retry-After": "1"})


@dataclass(slots=True)
class _Job:
    entries: Sequence[PendingEntry]
    counters: Mapping[CounterKey, tuple[int, ...]]
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    done: threading.Event | None = None
    error: BaseException | None = None

    @property
    def size(self) -> int:
        return len(self.entries) + len(self.counters)


class AuditWriter:
    """One app's group-commit writer: a thread with its own database session per batch."""

    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH, max_waiting: int = MAX_WAITING) -> None:
        self._database = database
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._counters: dict[str, CounterWriter] = {}
        #: hand-overs to the writer's thread: the jobs of one event-loop turn, or one job
        self._queue: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        #: jobs of the current event-loop turn, per loop, handed over together at its end
        self._turns: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiting = 0
        self._turn_file = _turn_file(database)
        #: batches written, calls woken and entries appended since start (for tests and the benchmark)
        self.batches = 0
        self.jobs = 0
        self.entries = 0

    def count_with(self, kind: str, write: CounterWriter) -> None:
        """Write counters of ``kind`` with ``write`` (a domain registers its own, e.g. usage)."""
        self._counters[kind] = write

    async def commit(self, entries: Sequence[PendingEntry] = (), counters: Mapping[CounterKey, tuple[int, ...]] | None = None) -> None:
        """Return once ``entries`` and ``counters`` are committed; raise 503 if they could not be."""
        loop = asyncio.get_running_loop()
        job = _Job(entries, self._checked(counters), loop=loop, future=loop.create_future())
        self._admit(1)
        turn = self._turns.get(loop)
        if turn is None:
            # the calls that reach this point in the same turn of the loop go over in one hand-over
            # (one wake-up of the writer's thread instead of one per call)
            turn = self._turns[loop] = []
            loop.call_soon(self._hand_over, loop)
        turn.append(job)
        assert job.future is not None
        await job.future

    def commit_sync(self, entries: Sequence[PendingEntry] = (), counters: Mapping[CounterKey, tuple[int, ...]] | None = None) -> None:
        """:meth:`commit` for a caller on a thread of its own (not on an event loop)."""
        job = _Job(entries, self._checked(counters), done=threading.Event())
        self._admit(1)
        self._start()
        self._queue.put([job])
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error

    def _checked(self, counters: Mapping[CounterKey, tuple[int, ...]] | None) -> Mapping[CounterKey, tuple[int, ...]]:
        for kind, _ in counters or {}:
            if kind not in self._counters:
                raise ValueError(f"no writer for counters of kind {kind!r}")
        return counters or {}

    def _admit(self, count: int) -> None:
        with self._lock:
            if self._waiting + count > self._max_waiting:
                raise unavailable()
            self._waiting += count

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._turns.pop(loop, [])
        if not jobs:
            return
        try:
            self._start()
            self._queue.put(jobs)
        except Exception:  # no thread to write them: refuse these calls rather than leave them waiting
            log.exception("could not hand %d calls to the audit writer", len(jobs))
            with self._lock:
                self._waiting -= len(jobs)
            _settle(jobs, failed=True)

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="citybrain-audit-writer", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (a later commit starts it again)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    # -- the writer's thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = list(first), False
            size = sum(job.size for job in batch)
            while size < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.extend(more)
                size += sum(job.size for job in more)
            failed = False
            try:
                self._write(batch)
            except Exception:  # every waiting call is told, none is answered
                log.exception("audit batch of %d calls failed; they are refused", len(batch))
                failed = True
            with self._lock:
                self._waiting -= len(batch)
            self.batches += 1
            self.jobs += len(batch)
            self.entries += 0 if failed else sum(len(job.entries) for job in batch)
            _settle(batch, failed)
            if stop:
                return

    def _write(self, batch: Sequence[_Job]) -> None:
        sums: dict[str, dict[Any, tuple[int, ...]]] = {}
        for job in batch:
            for (kind, key), values in job.counters.items():
                of_kind = sums.setdefault(kind, {})
                before = of_kind.get(key)
                of_kind[key] = values if before is None else tuple(a + b for a, b in zip(before, values, strict=True))
        entries = [e for job in batch for e in job.entries]
        with _taking_turns(self._turn_file), self._database.sessionmaker() as session:
            try:
                # counters before the chain head, in key order: a request transaction that meters and
                # then records takes its locks in the same order, so the two never deadlock
                for kind in sorted(sums):
                    self._counters[kind](session, dict(sorted(sums[kind].items(), key=_order)))
                audit.append(session, entries)
                session.commit()
            except BaseException:
                session.rollback()
                raise


def _turn_file(database: Database) -> str | None:
    """The lock file the writers of one SQLite database take turns on (none for PostgreSQL, whose
    waiters on a row lock are woken when it is released, or for a test's single connection)."""
    url = database.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if isinstance(database.sessionmaker.kw.get("bind"), Connection):
        return None
    return f"{url.database}-audit-writer.lock"


@contextlib.contextmanager
def _taking_turns(path: str | None) -> Iterator[None]:
    try:
        import fcntl  # POSIX; elsewhere the writers wait on SQLite's own lock
    except ImportError:
        path = None
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _order(item: tuple[Any, Any]) -> str:
    return repr(item[0])


def _settle(batch: Iterable[_Job], failed: bool) -> None:
    """Wake every call of the batch: async ones on their own event loop, once per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for job in batch:
        if job.loop is not None and job.future is not None:
            by_loop.setdefault(job.loop, []).append(job.future)
        elif job.done is not None:
            job.error = unavailable() if failed else None
            job.done.set()
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, futures, failed)


def _resolve(futures: list[asyncio.Future[None]], failed: bool) -> None:
    for future in futures:
        if future.done():  # the call was cancelled (its client went away)
            continue
        if failed:
            future.set_exception(unavailable())
        else:
            future.set_result(None)
