from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from citybrain.core.auth.scoping import OrgOwned
from citybrain.core.db.base import Base, IdMixin, utcnow
from citybrain.core.db.types import UTCDateTime


class StoredFile(IdMixin, OrgOwned, Base):
    __tablename__ = "core_files"
    subject_type = "core.file"

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("core_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
