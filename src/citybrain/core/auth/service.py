"""Organisations, users, logins, tokens, API keys, browser sessions and grants.

Every function takes the caller's ``Session`` and never commits (STYLE rule 1); changes are audited
in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from citybrain.core import cache
from citybrain.core.audit import service as audit
from citybrain.core.auth import identity, passwords, tokens
from citybrain.core.auth.models import (
    ApiKey,
    BrowserSession,
    Grant,
    LoginAttempt,
    Organisation,
    OrgKind,
    Role,
    User,
    UserRole,
)
from citybrain.core.auth.principal import Principal, known_roles, scopes_for_roles
from citybrain.core.auth.schemas import ApiKeyCreate, GrantCreate, OrgCreate, UserCreate, UserUpdate
from citybrain.core.db.base import utcnow
from citybrain.core.errors import Conflict, FieldError, Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from citybrain.settings import AuthSettings

API_KEY_PREFIX = "cbk"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- organisations ---------------------------------------------------------------------------------


def escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (``%`` and ``_`` are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_org_by_code(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound("org.not_found", code=code)
    return org


def get_org(session: Session, org_id: int) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("org.not_found", code=str(org_id))
    return org


def create_organisation(session: Session, actor: Principal, data: OrgCreate) -> Organisation:
    """Register an organisation; its ``code`` is unique."""
    if session.scalar(select(Organisation.id).where(Organisation.code == data.code)) is not None:
        raise Conflict("org.code_taken", code=data.code)
    parent_id = get_org_by_code(session, data.parent_code).id if data.parent_code else None
    org = Organisation(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        kind=data.kind,
        parent_id=parent_id,
        division_code=data.division_code,
        credit_code=data.credit_code,
    )
    session.add(org)
    session.flush()
    audit.record(session, actor, "org.created", subject_type="core.organisation", subject_id=org.id, detail={"code": org.code})
    return org


def list_organisations(
    session: Session, *, kind: OrgKind | None = None, q: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[Sequence[Organisation], int]:
    stmt = select(Organisation)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if q:
        like = f"%{escape_like(q)}%"
        stmt = stmt.where(
            or_(
                Organisation.name.ilike(like, escape="\\"),
                Organisation.code.ilike(like, escape="\\"),
                Organisation.name_en.ilike(like, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Organisation.kind, Organisation.code).offset(offset).limit(limit)).all()
    return rows, total


# -- users -----------------------------------------------------------------------------------------


def check_roles(roles: Sequence[str]) -> None:
    allowed = set(known_roles())
    errors = [
        FieldError(("body", "roles", i), "auth.unknown_role", {"role": role, "allowed": ", ".join(sorted(allowed))})
        for i, role in enumerate(roles)
        if role not in allowed
    ]
    if errors:
        raise ValidationFailed("error.validation", errors=errors)


def create_user(session: Session, actor: Principal, data: UserCreate, *, secret: str | None = None) -> User:
    """Create a user in an existing organisation with known roles. A citizen account names its
    holder's resident ID number, of which only the pseudonym (keyed with ``secret``) is kept."""
    check_roles(data.roles)
    org = get_org_by_code(session, data.org_code)
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict("user.username_taken", username=data.username)
    ref = None
    if data.id_number is not None:
        if secret is None or not identity.is_resident_id(data.id_number):
            raise ValidationFailed("error.validation", errors=[FieldError(("body", "id_number"), "user.bad_id_number")])
        ref = identity.person_ref(secret, data.id_number)
        if session.scalar(select(User.id).where(User.person_ref == ref)) is not None:
            raise Conflict("user.person_taken")
    user = User(
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        password_hash=passwords.hash_password(data.password),
        org_id=org.id,
        person_ref=ref,
    )
    user.role_rows = [UserRole(role=r) for r in sorted(set(data.roles))]
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.created",
        subject_type="core.user",
        subject_id=user.id,
        detail={"username": user.username, "roles": user.roles},
    )
    return user


def update_user(session: Session, actor: Principal, user_id: int, data: UserUpdate) -> User:
    """Change a user's name, e-mail, roles or active flag. A deactivated user's tokens and page
    sessions stop working at once (every request re-reads the user)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found", username=str(user_id))
    changes = data.model_dump(exclude_unset=True)
    if "roles" in changes:
        roles = changes["roles"] or []
        check_roles(roles)
        if user.id == actor.id and Role.ADMIN in user.roles and Role.ADMIN not in roles:
            raise Forbidden("user.cannot_drop_own_admin")
        user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    if changes.get("active") is False and user.id == actor.id:
        raise Forbidden("user.cannot_deactivate_self")
    for name in ("display_name", "email", "active"):
        if name in changes and changes[name] is not None:
            setattr(user, name, changes[name])
    session.flush()
    cache.access_changed(session)
    audit.record(session, actor, "user.updated", subject_type="core.user", subject_id=user.id, detail=changes)
    return user


def list_users(
    session: Session, principal: Principal, *, org_id: int | None = None, offset: int = 0, limit: int = 100
) -> tuple[Sequence[User], int]:
    """Users the principal may see: all for admins, their own organisation's otherwise."""
    stmt = select(User)
    if not principal.is_admin:
        if org_id is not None and org_id != principal.org_id:
            raise Forbidden("auth.other_org_users")
        org_id = principal.org_id
    if org_id is not None:
        stmt = stmt.where(User.org_id == org_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return session.scalars(stmt.order_by(User.username).offset(offset).limit(limit)).all(), total


def set_password(session: Session, actor: Principal, username: str, password: str) -> User:
    if len(password) < 10:
        raise ValidationFailed("auth.password_too_short", errors=[FieldError(("password",), "auth.password_too_short")])
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user.not_found", username=username)
    user.password_hash = passwords.hash_password(password)
    audit.record(session, actor, "user.password_set", subject_type="core.user", subject_id=user.id)
    return user


def principal_for_user(user: User, via: str) -> Principal:
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        org_id=user.org_id,
        org_kind=user.organisation.kind,
        roles=frozenset(user.roles),
        scopes=scopes_for_roles(user.roles),
        via=via,  # type: ignore[arg-type]
        language=user.language,
        display_name=user.display_name,
    )


# -- login and throttling --------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    #: the error to raise after the attempt has been recorded (and committed)
    error: Unauthorized | TooManyRequests | None = None


def _throttle_wait(session: Session, username: str, client: str | None, settings: AuthSettings, now: datetime) -> int:
    """Seconds until ``username`` may try again from ``client``, 0 when not throttled.

    Failures are counted within the window and since the last success; reaching the maximum locks
    the account until the oldest counted failure leaves the window. One client address trying many
    usernames (credential stuffing) is locked out the same way at a higher count.
    """
    window_start = now - timedelta(minutes=settings.login_window_minutes)
    if client:
        client_failures = session.scalars(
            select(LoginAttempt.at)
            .where(LoginAttempt.client == client[:64], LoginAttempt.succeeded.is_(False), LoginAttempt.at > window_start)
            .order_by(LoginAttempt.at.desc())
            .limit(settings.login_max_failures_per_client)
        ).all()
        if len(client_failures) >= settings.login_max_failures_per_client:
            oldest = client_failures[-1]
            return max(1, int((oldest + timedelta(minutes=settings.login_window_minutes) - now).total_seconds()) + 1)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(True))
    )
    since = max(window_start, last_success) if last_success else window_start
    failures = session.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
        .order_by(LoginAttempt.at.desc())
        .limit(settings.login_max_failures)
    ).all()
    if len(failures) < settings.login_max_failures:
        return 0
    oldest_counted = failures[-1]
    return max(1, int((oldest_counted + timedelta(minutes=settings.login_window_minutes) - now).total_seconds()) + 1)


def login(session: Session, username: str, password: str, *, client: str | None, settings: AuthSettings) -> LoginResult:
    """Check a username and password, recording the attempt.

    Returns the user, or the error to raise; the caller commits either way, so that failures count.
    """
    now = utcnow()
    wait = _throttle_wait(session, username, client, settings, now)
    if wait:
        return LoginResult(None, TooManyRequests("auth.throttled", headers={"Retry-After": str(wait)}, seconds=wait))
    user = session.scalar(select(User).where(User.username == username))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active and user.organisation.active
    session.add(LoginAttempt(username=username[:64], client=(client or "")[:64] or None, succeeded=ok, at=now))
    if not ok or user is None:
        session.flush()
        return LoginResult(None, Unauthorized("auth.bad_credentials"))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    audit.record(session, principal_for_user(user, "token"), "auth.login", subject_type="core.user", subject_id=user.id)
    return LoginResult(user)


def issue_token(secret: str, user: User, settings: AuthSettings) -> tuple[str, int]:
    """A signed access token for ``user`` and its lifetime in seconds."""
    lifetime = settings.access_token_minutes * 60
    return tokens.issue_access_token(secret, user_id=user.id, org_id=user.org_id, lifetime_seconds=lifetime), lifetime


def principal_from_token(session: Session, secret: str, token: str) -> Principal:
    claims = tokens.verify_access_token(secret, token)
    user = session.get(User, claims.user_id)
    if user is None or not user.active or not user.organisation.active:
        raise Unauthorized("auth.token_invalid")
    return principal_for_user(user, "token")


# -- API keys --------------------------------------------------------------------------------------


def create_api_key(session: Session, actor: Principal, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """Create a key for an organisation (usually a connected system). Returns the row and the key,
    which is shown once: only its prefix and SHA-256 are stored."""
    org = get_org_by_code(session, data.org_code)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise ValidationFailed("apikey.expiry_in_past", errors=[FieldError(("body", "expires_at"), "apikey.expiry_in_past")])
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        prefix=prefix,
        key_hash=_sha256(raw),
        name=data.name,
        org_id=org.id,
        scopes=sorted(set(data.scopes)),
        created_by_id=actor.id if actor.kind == "user" else None,
        expires_at=data.expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(
        session, actor, "apikey.created", subject_type="core.api_key", subject_id=key.id, detail={"prefix": prefix, "org": org.code}
    )
    return key, raw


def revoke_api_key(session: Session, actor: Principal, key_ref: str) -> ApiKey:
    """Revoke by id or prefix; revoking twice is harmless."""
    stmt = select(ApiKey).where(ApiKey.prefix == key_ref)
    if key_ref.isdigit():
        stmt = select(ApiKey).where(or_(ApiKey.id == int(key_ref), ApiKey.prefix == key_ref))
    key = session.scalar(stmt)
    if key is None:
        raise NotFound("apikey.not_found", ref=key_ref)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, actor, "apikey.revoked", subject_type="core.api_key", subject_id=key.id, detail={"prefix": key.prefix})
        cache.access_changed(session)
    return key


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


#: last_used_at is written at most this often per key, so busy systems do not write on every call
LAST_USED_RESOLUTION = timedelta(minutes=1)


def principal_from_api_key(session: Session, raw: str) -> Principal:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        raise Unauthorized("auth.apikey_invalid")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.key_hash, _sha256(raw)):
        raise Unauthorized("auth.apikey_invalid")
    now = utcnow()
    if key.revoked_at is not None:
        raise Unauthorized("auth.apikey_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("auth.apikey_expired")
    if not key.organisation.active:
        raise Unauthorized("auth.apikey_invalid")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return Principal(
        kind="system",
        id=key.id,
        name=key.name,
        org_id=key.org_id,
        org_kind=key.organisation.kind,
        scopes=frozenset(key.scopes),
        via="api_key",
    )


# -- browser sessions ------------------------------------------------------------------------------


def start_browser_session(session: Session, user: User, settings: AuthSettings) -> str:
    """A new page session for ``user``; returns the cookie value (its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    session.add(BrowserSession(token_hash=_sha256(raw), user_id=user.id, expires_at=utcnow() + timedelta(hours=settings.session_hours)))
    session.flush()
    return raw


def principal_from_browser_session(session: Session, raw: str) -> Principal | None:
    row = session.scalar(select(BrowserSession).where(BrowserSession.token_hash == _sha256(raw)))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active or not user.organisation.active:
        return None
    return principal_for_user(user, "session")


def end_browser_session(session: Session, raw: str) -> None:
    row = session.scalar(select(BrowserSession).where(BrowserSession.token_hash == _sha256(raw)))
    if row is not None:
        session.delete(row)


# -- grants ----------------------------------------------------------------------------------------


def create_grant(session: Session, actor: Principal, data: GrantCreate) -> Grant:
    """The actor's organisation lets another read its private rows of ``subject_type``."""
    if actor.org_id is None:
        raise Forbidden("grant.needs_org")
    grantee = get_org_by_code(session, data.grantee_org_code)
    if grantee.id == actor.org_id:
        raise ValidationFailed("grant.self", errors=[FieldError(("body", "grantee_org_code"), "grant.self")])
    grant = Grant(
        grantor_org_id=actor.org_id,
        grantee_org_id=grantee.id,
        subject_type=data.subject_type,
        subject_id=data.subject_id,
        purpose=data.purpose,
        created_by_id=actor.id if actor.kind == "user" else None,
        expires_at=data.expires_at,
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        actor,
        "grant.created",
        subject_type="core.grant",
        subject_id=grant.id,
        purpose=data.purpose,
        detail={"grantee": grantee.code, "subject_type": data.subject_type, "subject_id": data.subject_id},
    )
    return grant


def revoke_grant(session: Session, actor: Principal, grant_id: int) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None or (grant.grantor_org_id != actor.org_id and not actor.is_admin):
        raise NotFound("grant.not_found", id=grant_id)
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        audit.record(session, actor, "grant.revoked", subject_type="core.grant", subject_id=grant.id)
    return grant


def list_grants(session: Session, actor: Principal) -> Sequence[Grant]:
    """Grants given or received by the actor's organisation (all of them for admins)."""
    stmt = select(Grant).order_by(Grant.id)
    if not actor.is_admin:
        stmt = stmt.where(or_(Grant.grantor_org_id == actor.org_id, Grant.grantee_org_id == actor.org_id))
    return session.scalars(stmt).all()
