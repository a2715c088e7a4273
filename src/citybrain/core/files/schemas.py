from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from citybrain.core.auth.scoping import Visibility


class FileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sha256: str
    name: str
    media_type: str
    size: int
    owner_org_id: int
    visibility: Visibility
    created_at: datetime


class FilePage(BaseModel):
    items: list[FileRead]
    total: int
