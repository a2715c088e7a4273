"""Pydantic shapes of organisations, users, tokens, API keys and grants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from citybrain.core.auth.models import OrgKind

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
Scope = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+:(\*|[a-z_]+))$", max_length=64)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{2,64}$")]


class OrgCreate(BaseModel):
    code: Code
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    name_en: str | None = Field(None, max_length=200)
    kind: OrgKind
    parent_code: str | None = None
    division_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    credit_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] | None = None


class OrgRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    name_en: str | None
    kind: OrgKind
    parent_id: int | None
    division_code: str | None
    active: bool


class OrgPage(BaseModel):
    items: list[OrgRead]
    total: int


class UserCreate(BaseModel):
    username: Username
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    email: str | None = Field(None, max_length=254)
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)]
    org_code: str
    roles: list[str] = Field(default_factory=lambda: ["viewer"])
    id_number: Annotated[str, StringConstraints(pattern=r"^\d{17}[\dXx]$")] | None = Field(
        None, description="the holder's resident ID number (citizen accounts); only its pseudonym is kept"
    )


class UserUpdate(BaseModel):
    """Fields an admin may change; omitted fields stay as they are."""

    display_name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] | None = None
    email: str | None = Field(None, max_length=254)
    roles: list[str] | None = None
    active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str | None
    org_id: int
    roles: list[str]
    active: bool
    last_login_at: datetime | None
    identity_bound: bool = False


class UserPage(BaseModel):
    items: list[UserRead]
    total: int


class Me(BaseModel):
    kind: str
    id: int | None
    name: str
    org_id: int | None
    org_name: str | None
    roles: list[str]
    scopes: list[str]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class ApiKeyCreate(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    org_code: str
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str
    name: str
    org_id: int
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    #: The whole key, shown this once; only its hash is kept.
    key: str


class GrantCreate(BaseModel):
    grantee_org_code: str
    subject_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=64)]
    subject_id: str | None = Field(None, max_length=64)
    purpose: Annotated[str, StringConstraints(min_length=2, max_length=2000, strip_whitespace=True)]
    expires_at: datetime | None = None


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    grantor_org_id: int
    grantee_org_id: int
    subject_type: str
    subject_id: str | None
    purpose: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
