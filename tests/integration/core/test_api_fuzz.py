"""Schemathesis generates requests from the OpenAPI document: no input may cause a 5xx.

The operations are walked in one test (rather than with ``schema.parametrize``) so that the run
uses the per-test rolled-back database on both backends.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from citybrain.core.auth import service as auth
from citybrain.settings import Settings
from tests.builders.core import make_org, make_user

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def admin_headers(session: Session, settings: Settings) -> dict[str, str]:
    """An admin of a department, so every route is reachable past authorisation."""
    user = make_user(session, make_org(session, code="t.fuzz-org"), username="fuzz.admin", roles=["admin"])
    make_org(session, code="t.fuzz-other")
    session.commit()
    token, _ = auth.issue_token(settings.resolved_secret_key(), user, settings.auth)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_no_request_causes_a_server_error(app: FastAPI, admin_headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])

        try:
            run()
        except BaseException as exc:
            exc.add_note(f"operation: {operation.label}")
            raise
