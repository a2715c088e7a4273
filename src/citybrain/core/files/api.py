"""``/api/v1/files``: upload, list and download organisation-scoped files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile, status
from fastapi.responses import FileResponse

from citybrain.core.auth.principal import FILES_READ, FILES_WRITE, Principal
from citybrain.core.auth.scoping import Visibility
from citybrain.core.files import service
from citybrain.core.files.schemas import FilePage, FileRead
from citybrain.core.web.deps import SessionDep, SettingsDep, require
from citybrain.core.web.params import IdPath, Limit, Offset

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.post("", status_code=status.HTTP_201_CREATED)
def upload(
    session: SessionDep,
    settings: SettingsDep,
    file: UploadFile,
    visibility: Annotated[Visibility, Form()] = Visibility.PRIVATE,
    principal: Principal = require(FILES_WRITE),
) -> FileRead:
    """Store a file for the caller's organisation (private unless ``visibility`` says otherwise)."""
    row = service.store(
        session,
        principal,
        settings.files_dir,
        file.file,
        name=file.filename or "file",
        media_type=file.content_type or "application/octet-stream",
        visibility=visibility,
    )
    return FileRead.model_validate(row)


@router.get("")
def list_files(
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 100,
    principal: Principal = require(FILES_READ),
) -> FilePage:
    """Files the caller's organisation owns, shared files, and files granted to it."""
    rows, total = service.list_visible(session, principal, offset=offset, limit=limit)
    return FilePage(items=[FileRead.model_validate(r) for r in rows], total=total)


@router.get("/{file_id}")
def get_file(session: SessionDep, file_id: IdPath, principal: Principal = require(FILES_READ)) -> FileRead:
    return FileRead.model_validate(service.get(session, principal, file_id))


@router.get("/{file_id}/content", response_class=FileResponse, responses={200: {"content": {"application/octet-stream": {}}}})
def download(session: SessionDep, settings: SettingsDep, file_id: IdPath, principal: Principal = require(FILES_READ)) -> FileResponse:
    """The file's bytes, always as an attachment (never rendered inline)."""
    row = service.get(session, principal, file_id)
    return FileResponse(
        service.blob_path(settings.files_dir, row.sha256),
        media_type=row.media_type,
        filename=row.name,
        content_disposition_type="attachment",
    )
