"""One pure-ASGI middleware for what every request needs before routing.

- a request id (``X-Request-ID`` from a proxy when sane, else a new one), echoed in the response and
  recorded by the audit log;
- the language: ``?lang=``, then the ``citybrain_lang`` cookie, then (for ``/api/`` only)
  ``Accept-Language``, then the configured default (zh-CN); ``?lang=`` also sets the cookie, which
  is how the page switch works;
- a CSRF cookie for the page forms, set when missing;
- a few security headers.
"""

from __future__ import annotations

import os
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citybrain.core.context import reset_request_id, set_request_id
from citybrain.core.i18n import negotiate, normalise
from citybrain.core.web import csrf

LANG_COOKIE = "citybrain_lang"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ShellMiddleware:
    def __init__(self, app: ASGIApp, *, default_language: str, secret: str, secure_cookies: bool = False) -> None:
        self.app = app
        self.default_language = default_language
        self.secret = secret
        self.secure = "; Secure" if secure_cookies else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming_id = headers.get("x-request-id", "")
        request_id = incoming_id if _REQUEST_ID.match(incoming_id) else os.urandom(16).hex()
        cookies: dict[str, str] = {}
        if "cookie" in headers:
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(headers["cookie"])
            except Exception:  # noqa: BLE001 - a malformed cookie header is ignored, not fatal
                jar = SimpleCookie()
            cookies = {k: m.value for k, m in jar.items()}
        query_string = scope.get("query_string", b"")
        # parsed only when it may hold ?lang= (most API calls carry other parameters only)
        query = parse_qs(query_string.decode("latin-1")) if b"lang=" in query_string else {}
        asked = normalise((query.get("lang") or [None])[0])
        lang = asked or normalise(cookies.get(LANG_COOKIE))
        if lang is None:
            # API callers get their Accept-Language; pages open in the platform's language (Chinese
            # first) whatever the browser asks, and the visitor switches with one click.
            is_api = scope.get("path", "").startswith("/api/")
            lang = negotiate(headers.get("accept-language"), self.default_language) if is_api else self.default_language
        csrf_token = cookies.get(csrf.COOKIE)
        new_csrf = None
        # CSRF concerns cookie-authenticated requests only: a system calling with its API key or a
        # bearer token gets no CSRF cookie (and pays for no random token per call)
        by_credential = "x-api-key" in headers or "authorization" in headers
        if not by_credential and not csrf.is_valid(self.secret, csrf_token):
            csrf_token = new_csrf = csrf.new_token(self.secret)

        state = scope.setdefault("state", {})
        state["lang"] = lang
        state["request_id"] = request_id
        state["csrf_token"] = csrf_token

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = request_id
                out.setdefault("Content-Language", lang)
                out.setdefault("X-Content-Type-Options", "nosniff")
                out.setdefault("X-Frame-Options", "DENY")
                out.setdefault("Referrer-Policy", "same-origin")
                if asked:
                    out.append("Set-Cookie", f"{LANG_COOKIE}={asked}; Path=/; Max-Age=31536000; SameSite=Lax{self.secure}")
                if new_csrf:
                    out.append("Set-Cookie", f"{csrf.COOKIE}={new_csrf}; Path=/; SameSite=Strict{self.secure}")
            await send(message)

        token = set_request_id(request_id)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            reset_request_id(token)
