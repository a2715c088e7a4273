"""Engines and sessions.

SQLite runs in WAL mode with foreign keys on and a busy timeout; its driver's own transaction
handling is replaced by explicit ``BEGIN`` so that savepoints work (SQLAlchemy's documented pysqlite
recipe), which the per-test rollback relies on. PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
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
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on any error.

        Requests, CLI commands and jobs own the transaction; services only ``flush()``.
        """
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def create_database(url: str, *, echo: bool = False) -> Database:
    engine = create_engine_for(url, echo=echo)
    # On SQLite every session begins IMMEDIATE (see _configure_sqlite); other backends ignore it.
    factory = sessionmaker(bind=engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
    return Database(engine=engine, sessionmaker=factory)
