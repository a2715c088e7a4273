"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, migrations at head)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from citybrain.core.db.migrations import current_revisions, head_revisions
from citybrain.core.web.deps import Public, get_database

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[Public])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Public], responses={503: {"description": "not ready"}})
def readyz(request: Request) -> JSONResponse:
    database = get_database(request)
    checks: dict[str, str] = {}
    ok = True
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = current_revisions(conn)
        checks["database"] = "ok"
        heads = head_revisions()
        if current == heads:
            checks["migrations"] = "ok"
        else:
            ok = False
            checks["migrations"] = f"at {sorted(current) or 'nothing'}, head is {sorted(heads)}"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        ok = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
