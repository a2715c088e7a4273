"""Engines and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout; its driver's own transaction
handling is replaced by explicit ``BEGIN`` so that savepoints work (SQLAlchemy's documented pysqlite
recipe), which the per-test rollback relies on. Writers queue at a :class:`WriteGate` before they
take SQLite's write lock. PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


#: How long a writer waits for its turn, as long as SQLite's busy timeout below.
WRITE_WAIT_SECONDS = 10.0


class WriteGate:
    """One SQLite writer at a time, waiting without SQLite's busy handler.

    SQLite has one write lock per database file. A transaction that finds it taken polls with
    sleeps that grow to 100 ms, so under load a writer can keep losing the race to newcomers until
    its busy timeout ends in "database is locked" (16 concurrent instant-approval applicants got
    such 500s after 10 s). Writers of this process therefore queue on a thread lock, which hands
    over the moment the holder commits, and writers of other processes (server workers, the CLI)
    on an advisory lock file next to the database, polled every millisecond. SQLite's own lock
    still guards the file; the gate only orders who asks for it. A writer that has waited
    :data:`WRITE_WAIT_SECONDS` goes on to SQLite's busy handler as before.
    """

    def __init__(self, database_path: str) -> None:
        self._threads = threading.Lock()
        self._path = database_path + ".write-lock"
        self._fd: int | None = None

    def _file(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only folder: the thread lock alone
                return None
        return self._fd

    def acquire(self) -> bool:
        """Wait for the turn to write; False when the wait ran out (nothing is held then)."""
        deadline = time.monotonic() + WRITE_WAIT_SECONDS
        if not self._threads.acquire(timeout=WRITE_WAIT_SECONDS):
            return False
        try:
            import fcntl
        except ImportError:  # not a POSIX system: the thread lock alone
            return True
        fd = self._file()
        while fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._threads.release()
                    return False
                time.sleep(0.001)
        return True

    def release(self) -> None:
        with contextlib.suppress(ImportError, OSError):
            import fcntl

            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_GATE = "citybrain_write_gate"


def _configure_sqlite(engine: Engine) -> None:
    gate = WriteGate(engine.url.database) if engine.url.database not in (None, "", ":memory:") else None

    def _let_go(record_info: dict[str, Any]) -> None:
        if record_info.pop(_GATE, False) and gate is not None:
            gate.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so SAVEPOINT and BEGIN behave.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Sessions take the write lock up front (BEGIN IMMEDIATE): a transaction that reads and
        # then writes (a metered, audited lookup) would otherwise fail at once with SQLITE_BUSY
        # whenever another writer committed in between, instead of waiting its turn.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        info = connection.connection.info  # the pooled connection's, kept across check-outs
        if immediate and gate is not None and not info.get(_GATE) and gate.acquire():
            info[_GATE] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except BaseException:
            _let_go(info)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        # Commit here, then open the gate: the next writer's BEGIN IMMEDIATE must not find SQLite's
        # lock still held (SQLAlchemy's own COMMIT that follows finds no transaction and does nothing).
        info = connection.connection.info
        if info.get(_GATE):
            with contextlib.suppress(Exception):  # SQLAlchemy's COMMIT right after retries and reports it
                connection.connection.dbapi_connection.commit()
            _let_go(info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        info = connection.connection.info
        if info.get(_GATE):
            with contextlib.suppress(Exception):  # SQLAlchemy's ROLLBACK right after reports it
                connection.connection.dbapi_connection.rollback()
            _let_go(info)

    # A connection returned, reset or closed without a COMMIT or ROLLBACK event lets go too.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _let_go(record.info)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _state: Any = None) -> None:
        _let_go(record.info)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        _let_go(record.info)


def create_engine_for(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with citybrain's per-backend settings."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


@dataclass
class Database:
    """An engine and its session factory; one per app (or CLI run, or test)."""

    engine: Engine
    sessionmaker: sessionmaker[Session]
    _readers: threading.local = field(default_factory=threading.local, repr=False)
    _opened: list[Any] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on any error.

        Requests, CLI commands and jobs own the transaction; services only ``flush()``.
        """
        with self.sessionmaker() as session, session.begin():
            yield session

    @property
    def single_connection(self) -> bool:
        """Its sessions all run on one connection (a test's rolled-back transaction), which two
        threads must not use at once."""
        return isinstance(self.sessionmaker.kw.get("bind"), Connection)

    def read_session(self) -> Session:
        """A session for reading only: on SQLite it begins deferred, so it does not queue for the
        write lock that every other session takes up front."""
        bind = self.sessionmaker.kw.get("bind")
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            return self.sessionmaker(bind=bind.execution_options(sqlite_immediate=False))
        return self.sessionmaker()

    def read_connection(self) -> Any:
        """This thread's DB-API connection for hot reads (see :mod:`citybrain.core.db.prepared`).

        It is kept open for the thread, in autocommit and read-only: each statement sees what is
        committed when it runs, takes no write lock (no ``BEGIN IMMEDIATE`` on SQLite) and leaves no
        snapshot open. Sessions bound to one connection (a test's rolled-back transaction) read on
        that connection instead, so they see what the test wrote.
        """
        bind = self.sessionmaker.kw.get("bind")
        if isinstance(bind, Connection):
            return bind.connection.dbapi_connection
        found: Any = getattr(self._readers, "conn", None)
        if found is not None:
            return found
        proxied = self.engine.raw_connection()
        proxied.detach()  # ours for the thread's life; it takes no place in the pool
        conn: Any = proxied.dbapi_connection
        if self.engine.dialect.name == "sqlite":
            conn.execute("PRAGMA query_only = ON")  # already in autocommit (see _configure_sqlite)
        else:
            conn.rollback()
            conn.autocommit = True
            conn.execute("SET default_transaction_read_only = on")
        self._readers.conn = conn
        with self._lock:
            self._opened.append(conn)
        return conn

    def drop_read_connection(self) -> None:
        """Forget this thread's read connection after an error; the next read opens a new one."""
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            return
        self._readers.conn = None
        with self._lock:
            if conn in self._opened:
                self._opened.remove(conn)
        with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone either way
            conn.close()

    def dispose(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._readers = threading.local()
        for conn in opened:
            with contextlib.suppress(Exception):  # closing at shutdown; nothing to do about a failure
                conn.close()
        self.engine.dispose()


def create_database(url: str, *, echo: bool = False) -> Database:
    engine = create_engine_for(url, echo=echo)
    # On SQLite every session begins IMMEDIATE (see _configure_sqlite); other backends ignore it.
    factory = sessionmaker(bind=engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
    return Database(engine=engine, sessionmaker=factory)
