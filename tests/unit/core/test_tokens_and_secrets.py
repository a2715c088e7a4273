from __future__ import annotations

import time

import pytest

from citybrain.core.auth import passwords, tokens
from citybrain.core.auth.principal import Principal, scope_matches, scopes_for_roles
from citybrain.core.errors import Unauthorized
from citybrain.core.web import csrf

SECRET = "unit-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def test_a_token_round_trips() -> None:
    token = tokens.issue_access_token(SECRET, user_id=3, org_id=9, lifetime_seconds=900)
    claims = tokens.verify_access_token(SECRET, token)
    assert (claims.user_id, claims.org_id) == (3, 9)
    assert claims.expires_at - time.time() == pytest.approx(900, abs=5)


def test_an_expired_token_says_so() -> None:
    token = tokens.issue_access_token(SECRET, user_id=3, org_id=9, lifetime_seconds=60, now=time.time() - 61)
    with pytest.raises(Unauthorized) as caught:
        tokens.verify_access_token(SECRET, token)
    assert caught.value.key == "auth.token_expired"


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: t.replace(".", "..", 1), lambda t: "", lambda t: "a.b.c"])
def test_a_mangled_token_is_invalid(mangle: object) -> None:
    token = tokens.issue_access_token(SECRET, user_id=3, org_id=9, lifetime_seconds=60)
    with pytest.raises(Unauthorized) as caught:
        tokens.verify_access_token(SECRET, mangle(token))  # type: ignore[operator]
    assert caught.value.key == "auth.token_invalid"


def test_an_unsigned_alg_none_token_is_refused() -> None:
    import base64
    import json

    def b64(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    forged = f"{b64({'alg': 'none'})}.{b64({'iss': 'citybrain', 'sub': '1', 'org': 1, 'exp': 9999999999, 'typ': 'access'})}."
    with pytest.raises(Unauthorized):
        tokens.verify_access_token(SECRET, forged)


def test_passwords_hash_with_argon2id_and_verify() -> None:
    hashed = passwords.hash_password("泉城 password 123")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "泉城 password 123")
    assert not passwords.verify_password(hashed, "wrong")
    assert not passwords.verify_password(None, "anything")
    assert not passwords.verify_password("not a hash", "anything")


def test_csrf_tokens_are_signed() -> None:
    token = csrf.new_token(SECRET)
    assert csrf.matches(SECRET, token, token)
    assert not csrf.matches(SECRET, token, None)
    assert not csrf.matches("other secret", token, token)
    nonce = token.split(".")[0]
    assert not csrf.is_valid(SECRET, f"{nonce}.forged")
    assert not csrf.matches(SECRET, token, csrf.new_token(SECRET))


def test_scopes_match_exactly_by_area_wildcard_or_everything() -> None:
    assert scope_matches("*", "users:admin")
    assert scope_matches("files:*", "files:write")
    assert scope_matches("files:read", "files:read")
    assert not scope_matches("files:read", "files:write")
    assert not scope_matches("files:*", "filesx:read")


def test_roles_give_scopes_and_the_admin_everything() -> None:
    admin = Principal(kind="user", id=1, name="a", org_id=1, scopes=scopes_for_roles(["admin"]))
    viewer = Principal(kind="user", id=2, name="v", org_id=1, scopes=scopes_for_roles(["viewer"]))
    assert admin.has("anything:at_all")
    assert viewer.has("orgs:read")
    assert not viewer.has("files:write")
    assert not viewer.has("audit:read")
