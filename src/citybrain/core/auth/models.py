"""Tables of organisations, users and how they prove who they are."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from citybrain.core.db.base import Base, IdMixin, TimestampMixin, utcnow
from citybrain.core.db.types import JSONType, UTCDateTime


class OrgKind(StrEnum):
    DEPARTMENT = "department"  # 市直部门
    DISTRICT = "district"  # 区县政府
    SYSTEM = "system"  # 接入系统
    ENTERPRISE = "enterprise"  # 企业
    CITIZEN = "citizen"  # 市民 (one organisation per citizen account holder)


class Role(StrEnum):
    ADMIN = "admin"
    DATA_STEWARD = "data_steward"
    REVIEWER = "reviewer"
    OPERATOR = "operator"
    VIEWER = "viewer"
    #: commands signals of the live traffic twin (远程调控): a traffic police signal operator
    TRAFFIC_OPERATOR = "traffic_operator"


class Organisation(IdMixin, TimestampMixin, Base):
    __tablename__ = "core_organisations"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("core_organisations.id"))
    #: Administrative division code (GB/T 2260) for districts, e.g. 370102 for 历下区.
    division_code: Mapped[str | None] = mapped_column(String(12))
    #: Unified social credit code (GB 32100) of the body, when it has one.
    credit_code: Mapped[str | None] = mapped_column(String(18))
    #: GeoJSON geometry (WGS 84) of a district's boundary.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "core_users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: a citizen account's holder, as the pseudonym of their resident ID number (identity.person_ref)
    person_ref: Mapped[str | None] = mapped_column(String(64), unique=True)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role")

    @property
    def roles(self) -> list[str]:
        return [r.role for r in self.role_rows]

    @property
    def identity_bound(self) -> bool:
        """The account names its holder (a citizen account with a resident ID number)."""
        return self.person_ref is not None


class UserRole(Base):
    __tablename__ = "core_user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("core_users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class ApiKey(IdMixin, Base):
    """A connected system's key: only its prefix and SHA-256 are kept (the key is shown once)."""

    __tablename__ = "core_api_keys"

    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class BrowserSession(IdMixin, Base):
    """A logged-in page session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "core_browser_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginAttempt(IdMixin, Base):
    __tablename__ = "core_login_attempts"
    __table_args__ = (
        Index("ix_core_login_attempts_username_at", "username", "at"),
        Index("ix_core_login_attempts_client_at", "client", "at"),
    )

    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Grant(IdMixin, Base):
    """The owner organisation lets the grantee read its private rows of one kind (or one row).

    ``subject_id`` NULL grants every row of ``subject_type`` that the grantor owns.
    """

    __tablename__ = "core_grants"
    __table_args__ = (Index("ix_core_grants_grantee_subject", "grantee_org_id", "subject_type"),)

    grantor_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"))
    grantee_org_id: Mapped[int] = mapped_column(ForeignKey("core_organisations.id"))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Property(Base):
    """Platform-wide facts worth keeping, such as when the demo city was built."""

    __tablename__ = "core_properties"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
