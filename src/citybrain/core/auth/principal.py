"""Who is calling: one principal for people and connected systems, with organisation and scopes.

A scope is ``"<area>:<action>"`` (``"users:read"``, ``"datahub:write"``). Roles map to scopes; each
domain adds the scopes its roles need with :func:`register_role_scopes`, so ``core`` knows no domain.
``"*"`` matches every scope and ``"<area>:*"`` every action in an area.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from citybrain.core.auth.models import Role

#: Kernel scopes. Domains declare theirs beside their routes.
ORGS_READ = "orgs:read"
ORGS_ADMIN = "orgs:admin"
USERS_READ = "users:read"
USERS_ADMIN = "users:admin"
APIKEYS_ADMIN = "apikeys:admin"
AUDIT_READ = "audit:read"
FILES_READ = "files:read"
FILES_WRITE = "files:write"
GRANTS_WRITE = "grants:write"

_role_scopes: dict[str, set[str]] = defaultdict(set)


def register_role_scopes(role: str, scopes: Iterable[str]) -> None:
    """Give holders of ``role`` these scopes as well."""
    _role_scopes[role].update(scopes)


register_role_scopes(Role.ADMIN, {"*"})
register_role_scopes(Role.VIEWER, {ORGS_READ, FILES_READ})
register_role_scopes(Role.OPERATOR, {ORGS_READ, FILES_READ})
register_role_scopes(Role.TRAFFIC_OPERATOR, {ORGS_READ, FILES_READ})
register_role_scopes(Role.REVIEWER, {ORGS_READ, FILES_READ, USERS_READ})
register_role_scopes(Role.DATA_STEWARD, {ORGS_READ, FILES_READ, FILES_WRITE, GRANTS_WRITE, USERS_READ})


def known_roles() -> list[str]:
    return sorted(_role_scopes)


def scopes_for_roles(roles: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for role in roles:
        out |= _role_scopes.get(role, set())
    return frozenset(out)


def scope_matches(granted: str, wanted: str) -> bool:
    if granted in ("*", wanted):
        return True
    area, _, action = granted.partition(":")
    return action == "*" and wanted.partition(":")[0] == area


@dataclass(frozen=True)
class Principal:
    """The caller of a request or command."""

    kind: Literal["user", "system", "anonymous"]
    id: int | None
    name: str
    org_id: int | None
    org_kind: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: Literal["token", "session", "api_key", "cli", "none"] = "none"
    language: str | None = None
    #: the person's or system's name to greet them with (``name`` is the login)
    display_name: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_admin(self) -> bool:
        return "*" in self.scopes

    def has(self, scope: str) -> bool:
        return any(scope_matches(granted, scope) for granted in self.scopes)

    def actor_ref(self) -> str:
        """How the audit log names this caller: ``user:3``, ``system:key-abc``, ``anonymous``."""
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind


ANONYMOUS = Principal(kind="anonymous", id=None, name="anonymous", org_id=None)


def cli_principal(name: str = "cli") -> Principal:
    """The operator at the server's console: trusted like an admin, audited as ``cli``."""
    return Principal(kind="user", id=None, name=name, org_id=None, scopes=frozenset({"*"}), via="cli")
