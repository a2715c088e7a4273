"""The ``citybrain`` command as an operator uses it, against a real database file/server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from citybrain.cli import app
from citybrain.core.db.session import create_engine_for
from tests.conftest import BACKENDS, TEST_SECRET, fresh_database_url

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def cli_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """Environment for a CLI run on a fresh database of each backend; yields its URL."""
    url = fresh_database_url(request.param, request, tmp_path_factory)
    monkeypatch.setenv("CITYBRAIN_DATABASE_URL", url)
    monkeypatch.setenv("CITYBRAIN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CITYBRAIN_SECRET_KEY", TEST_SECRET)
    # a small demo city: the full one (100,000 residents) is for `make run`
    monkeypatch.setenv("CITYBRAIN_DEMO__PERSONS", "1000")
    monkeypatch.setenv("CITYBRAIN_DEMO__COMPANIES", "200")
    return url


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def tamper(url: str, sql: str) -> None:
    engine = create_engine_for(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE core_audit_log DISABLE TRIGGER core_audit_log_append_only"))
            else:
                conn.execute(text("DROP TRIGGER core_audit_log_no_update"))
                conn.execute(text("DROP TRIGGER core_audit_log_no_delete"))
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_demo_is_built_once_and_audit_verify_names_an_edited_row(cli_env: str, tmp_path: Path) -> None:
    invoke("db", "upgrade")
    first = invoke("demo", "--seed", "42")
    assert "admin login: admin / " in first
    password = re.search(r"admin / (\S+)", first)
    assert password is not None
    assert (tmp_path / "var" / "demo-admin.txt").read_text().strip() == f"admin / {password.group(1)}"
    assert "already built" in invoke("demo")

    orgs = invoke("org", "list", "--kind", "district")
    assert "历下区" in orgs
    assert "12 organisations" in orgs
    assert "70 organisations" in invoke("org", "list")  # with the demo citizen, the demo company and the 10 connected systems

    assert "审计日志完整" in invoke("audit", "verify")
    tamper(cli_env, "UPDATE core_audit_log SET actor_name = 'mallory' WHERE seq = 7")
    broken = invoke("audit", "verify", code=2)
    assert "Audit entry 7 was altered" in broken
    assert "审计日志第 7 条记录被篡改" in broken


def test_users_and_api_keys_from_the_command_line(cli_env: str) -> None:
    invoke("db", "upgrade")
    invoke("demo", "--seed", "1")

    created = invoke(
        "user", "create", "wang.fang", "--org", "jn.scjgj", "--name", "王芳", "--role", "data_steward", "--password", "a long password"
    )
    assert "wang.fang" in created
    assert "wang.fang" in invoke("user", "list", "--org", "jn.scjgj")
    refused = invoke("user", "create", "wang.fang", "--org", "jn.scjgj", "--password", "a long password", code=1)
    assert "already taken" in refused

    key_out = invoke("apikey", "create", "水位监测", "--org", "jn.slj", "--scope", "orgs:read")
    key = re.search(r"cbk_\S+", key_out)
    assert key is not None
    prefix = key.group(0).split("_")[1]
    assert prefix in invoke("apikey", "list")
    assert "revoked" in invoke("apikey", "revoke", prefix)
    assert "No API key" in invoke("apikey", "revoke", "nonexistent", code=1)


def test_bad_input_on_the_command_line_is_a_clear_error(cli_env: str) -> None:
    invoke("db", "upgrade")
    out = invoke("user", "create", "someone", "--org", "jn.nowhere", "--password", "a long password", code=1)
    assert "jn.nowhere" in out
