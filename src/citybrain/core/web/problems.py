"""RFC 9457 problem details for every error, in the caller's language.

API callers get ``application/problem+json``; page visitors get the error page (or, for 401, the
login page). Unexpected exceptions become a 500 problem that names the request id, never a trace.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from citybrain.core.context import current_request_id
from citybrain.core.errors import CitybrainError, FieldError
from citybrain.core.i18n import has_key, translate

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

_STATUS_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "too-many-requests",
    500: "internal",
    503: "unavailable",
}


def language_of(request: Request) -> str:
    return getattr(request.state, "lang", None) or "zh-CN"


def _field_name(loc: tuple[str | int, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) if parts else ".".join(str(p) for p in loc)


def _render_field_error(error: FieldError, lang: str) -> dict[str, Any]:
    return {"loc": list(error.loc), "field": _field_name(error.loc), "message": translate(error.key, lang, error.params)}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    key: str,
    params: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    lang = language_of(request)
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": translate(f"problem.{code}", lang),
        "status": status,
        "detail": translate(key, lang, params),
        "instance": request.url.path,
        "code": key,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = errors
    for name, value in (extensions or {}).items():
        body.setdefault(name, value)
    if _wants_html(request):
        from citybrain.core.web.templating import render_error_page  # a page needs the templates

        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return render_error_page(request, body, status, headers)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith(("/api/", "/healthz", "/readyz", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _translate_pydantic(err: dict[str, Any], lang: str) -> dict[str, Any]:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "value_error")
    params = dict(err.get("ctx") or {})
    params.setdefault("msg", err.get("msg", ""))
    params.setdefault("input", str(err.get("input"))[:80])
    if lang == "zh-CN" and isinstance(params.get("expected"), str):
        params["expected"] = params["expected"].replace(" or ", "、").replace(", ", "、")
    key = f"validation.{kind}" if has_key(f"validation.{kind}") else "validation.other"
    return {"loc": list(loc), "field": _field_name(loc), "type": kind, "message": translate(key, lang, params)}


def install(app: FastAPI) -> None:
    @app.exception_handler(CitybrainError)
    async def _domain_error(request: Request, exc: CitybrainError) -> Response:
        lang = language_of(request)
        if exc.status >= 500:
            log.error("%s: %s", type(exc).__name__, exc.key)
        return problem(
            request,
            status=exc.status,
            code=exc.code,
            key=exc.key,
            params=exc.params,
            errors=[_render_field_error(e, lang) for e in exc.errors] or None,
            headers=exc.headers or None,
            extensions=exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        lang = language_of(request)
        return problem(
            request,
            status=422,
            code="validation",
            key="error.validation",
            errors=[_translate_pydantic(dict(e), lang) for e in exc.errors()],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "http-error")
        key = f"error.http_{exc.status_code}" if has_key(f"error.http_{exc.status_code}") else "error.http"
        return problem(
            request,
            status=exc.status_code,
            code=code,
            key=key,
            params={"status": exc.status_code},
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> Response:
        # SQLSTATE class 22: the database cannot hold a value (a NUL character, a number out of
        # range). That is bad input, not a server fault; the transaction was already rolled back.
        log.info("refused input the database cannot store on %s: %s", request.url.path, exc.orig)
        return problem(request, status=422, code="validation", key="error.invalid_data")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, status=500, code="internal", key="error.internal")
