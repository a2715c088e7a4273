"""Migrations build the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from citybrain.core.db import migrations
from citybrain.core.db.base import Base
from citybrain.core.db.session import create_engine_for
from citybrain.domains import load_models
from tests.conftest import BACKENDS, fresh_database_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_to_head_leaves_nothing_for_autogenerate(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = fresh_database_url(backend, request, tmp_path_factory)
    migrations.upgrade(url)
    load_models()
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert migrations.current_revisions(conn) == migrations.head_revisions()
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "target_metadata": Base.metadata, "include_name": migrations.include_name}
            )
            assert compare_metadata(context, Base.metadata) == []
            assert "core_audit_log" in inspect(conn).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_downgrade_to_base_and_up_again(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    from alembic import command

    url = fresh_database_url(backend, request, tmp_path_factory)
    migrations.upgrade(url)
    command.downgrade(migrations.alembic_config(url), "base")
    migrations.upgrade(url)
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            assert migrations.current_revisions(conn) == migrations.head_revisions()
    finally:
        engine.dispose()
