"""CSRF protection for cookie-authenticated requests: a signed double-submit token (OWASP).

The cookie holds ``<random>.<hmac>``; a form field ``csrf_token`` or header ``X-CSRF-Token`` must
repeat it. The signature stops a cookie planted from elsewhere from being accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "citybrain_csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _sign(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()[:32]


def new_token(secret: str) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(secret, nonce)}"


def is_valid(secret: str, cookie_value: str | None) -> bool:
    if not cookie_value or "." not in cookie_value:
        return False
    nonce, _, signature = cookie_value.rpartition(".")
    return hmac.compare_digest(signature, _sign(secret, nonce))


def matches(secret: str, cookie_value: str | None, submitted: str | None) -> bool:
    return bool(submitted) and is_valid(secret, cookie_value) and hmac.compare_digest(cookie_value or "", submitted or "")
