"""Unit tests run with no database: any attempt to open one fails the test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("unit tests must not reach a database; move this test to tests/integration")

    monkeypatch.setattr("citybrain.core.db.session.create_engine", refuse)
    monkeypatch.setattr("sqlalchemy.create_engine", refuse)


@pytest.fixture
def database_url() -> str:
    raise AssertionError("unit tests must not reach a database; move this test to tests/integration")
