"""``citybrain gov licence issue|verify|revoke`` on a fresh database of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from citybrain.cli import app
from citybrain.core.auth import service as auth
from citybrain.core.auth.models import OrgKind
from citybrain.core.auth.principal import cli_principal
from citybrain.core.auth.schemas import OrgCreate
from citybrain.core.db.session import create_database
from tests.builders.gov_services import credit_code
from tests.conftest import BACKENDS, TEST_SECRET, fresh_database_url

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def cli_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    url = fresh_database_url(request.param, request, tmp_path_factory)
    monkeypatch.setenv("CITYBRAIN_DATABASE_URL", url)
    monkeypatch.setenv("CITYBRAIN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CITYBRAIN_SECRET_KEY", TEST_SECRET)
    return url


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_a_licence_is_issued_verified_and_revoked_at_the_console(cli_env: str) -> None:
    invoke("db", "upgrade")
    database = create_database(cli_env)
    with database.transaction() as session:
        auth.create_organisation(session, cli_principal(), OrgCreate(code="jn.scjgj", name="市市场监管局", kind=OrgKind.DEPARTMENT))
    database.dispose()
    issued = invoke(
        "gov", "licence", "issue", "--issuer", "jn.scjgj", "--kind", "SP", "--kind-name", "食品经营许可证",
        "--holder-name", "济南泉城餐饮有限公司", "--credit-code", credit_code(7), "--valid-days", "30",
    )  # fmt: skip
    licence_id = issued.split()[1]
    code = issued.strip().splitlines()[-1]
    assert licence_id.startswith("JN-SP-")
    assert code.startswith("CB1:")

    assert "licence.valid" in invoke("gov", "licence", "verify", code)
    assert "revoked" in invoke("gov", "licence", "revoke", licence_id, "--reason", "测试")
    assert "licence.revoked" in invoke("gov", "licence", "verify", code, code=1)
    assert "licence.bad_prefix" in invoke("gov", "licence", "verify", "hello", code=1)
    assert "credit code (GB 32100)" in invoke(
        "gov", "licence", "issue", "--issuer", "jn.scjgj", "--kind", "SP", "--kind-name", "x", "--holder-name", "y",
        "--credit-code", "91370102MA3C8X2Y19", code=1,
    )  # fmt: skip


def test_guide_timers_and_figures_at_the_console(cli_env: str) -> None:
    invoke("db", "upgrade")
    assert "code" in invoke("gov", "items")
    assert "0 applications moved" in invoke("gov", "tick")
    assert "0 applications" in invoke("gov", "stats")
    from citybrain.core.auth.schemas import UserCreate

    database = create_database(cli_env)
    with database.transaction() as session:
        auth.create_organisation(session, cli_principal(), OrgCreate(code="t.firm", name="济南测试有限公司", kind=OrgKind.ENTERPRISE))
        auth.create_user(
            session, cli_principal(), UserCreate(username="firm", display_name="企业", password="x" * 12, org_code="t.firm", roles=[])
        )
    database.dispose()
    assert "no user" in invoke("gov", "apply", "residence_certificate", "--user", "nobody", code=2)
    assert "No service item no_such_item" in invoke("gov", "apply", "no_such_item", "--user", "firm", code=1)
