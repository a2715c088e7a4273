"""Request parameters every domain uses, bounded so no input reaches the database out of range."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

#: Largest id of an INTEGER primary key (32-bit on PostgreSQL); larger ids cannot exist, so they
#: are refused as invalid input rather than sent to the database.
MAX_ID = 2**31 - 1

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="row id")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=500, description="rows to return")]
