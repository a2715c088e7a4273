"""Short-lived signed access tokens (JWT, HS256) issued and checked with joserfc."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from citybrain.core.errors import Unauthorized

ISSUER = "citybrain"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    org_id: int
    expires_at: int
    token_id: str


def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


def issue_access_token(secret: str, *, user_id: int, org_id: int, lifetime_seconds: int, now: float | None = None) -> str:
    """A signed token for ``user_id`` valid for ``lifetime_seconds`` seconds."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(user_id),
        "org": org_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_seconds,
        "jti": secrets.token_urlsafe(12),
        "typ": "access",
    }
    return jwt.encode({"alg": ALGORITHM}, claims, _key(secret))


def verify_access_token(secret: str, token: str, *, now: float | None = None) -> TokenClaims:
    """The token's claims, or :class:`Unauthorized` when it is malformed, tampered with or expired."""
    try:
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            now=int(now) if now is not None else None,
            leeway=0,
            iss={"essential": True, "value": ISSUER},
            sub={"essential": True},
            exp={"essential": True},
            typ={"essential": True, "value": "access"},
        )
        registry.validate(decoded.claims)
        claims = decoded.claims
        return TokenClaims(
            user_id=int(claims["sub"]),
            org_id=int(claims["org"]),
            expires_at=int(claims["exp"]),
            token_id=str(claims.get("jti", "")),
        )
    except ExpiredTokenError as exc:
        raise Unauthorized("auth.token_expired") from exc
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthorized("auth.token_invalid") from exc
