"""The government-services pages: the public service guide (办事指南), applying and following an
application, the staff's work queue and figures; e-licence verification, the wallet and the registry."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import Principal
from citybrain.core.errors import CitybrainError, ValidationFailed
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.pages import CsrfChecked
from citybrain.core.web.problems import language_of
from citybrain.core.web.templating import render
from citybrain.gov_services import applications, forms, service
from citybrain.gov_services.api import verification_read
from citybrain.gov_services.models import ServiceItem
from citybrain.gov_services.schemas import APPLICATION_NUMBER, ITEM_CODE, LICENCE_ID, LICENCE_KIND, HolderIn

router = APIRouter(prefix="/gov")

LicenceRef = Annotated[str, Path(pattern=LICENCE_ID)]


@router.get("/verify", response_class=HTMLResponse, dependencies=[Public])
def verify_page(request: Request) -> Response:
    return render(request, "gov/verify.html", code="", result=None)


@router.post("/verify", response_class=HTMLResponse, dependencies=[Public, CsrfChecked])
def verify_submit(
    request: Request, session: SessionDep, settings: SettingsDep, code: Annotated[str, Form(max_length=8192)] = ""
) -> Response:
    result = service.verify(session, code, secret=settings.resolved_secret_key())
    return render(request, "gov/verify.html", code=code, result=verification_read(result, language_of(request)))


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(request: Request, session: SessionDep, principal: Principal = require("")) -> Response:
    return render(request, "gov/wallet.html", licences=service.wallet(session, principal))


@router.get("/licences", response_class=HTMLResponse)
def licences_page(request: Request, session: SessionDep, settings: SettingsDep, principal: Principal = require(service.ISSUE)) -> Response:
    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    return render(
        request,
        "gov/licences.html",
        licences=service.issued_by_me(session, principal, bureau_id=bureau),
        figures=service.figures(session),
        error=None,
        values={},
    )


@router.post("/licences", response_class=HTMLResponse, dependencies=[CsrfChecked])
def issue_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, Form(max_length=16)],
    kind_name: Annotated[str, Form(max_length=100)],
    holder_kind: Annotated[str, Form(max_length=16)],
    holder_name: Annotated[str, Form(max_length=100)],
    holder_identifier: Annotated[str, Form(max_length=18)],
    valid_days: Annotated[str, Form(max_length=6)] = "",
    fields: Annotated[str, Form(max_length=4000)] = "",
    principal: Principal = require(service.ISSUE),
) -> Response:
    import re

    from citybrain.core.errors import ValidationFailed

    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    values = {"kind": kind, "kind_name": kind_name, "holder_kind": holder_kind, "holder_name": holder_name, "fields": fields}
    try:
        parsed = json.loads(fields) if fields.strip() else {}
        if not isinstance(parsed, dict) or not re.match(LICENCE_KIND, kind.strip().upper()) or not kind_name.strip():
            raise ValidationFailed("gov.bad_form")
        person = holder_kind == "person"
        holder = HolderIn(
            kind="person" if person else "organisation",
            name=holder_name.strip() or "?",
            id_number=holder_identifier if person else None,
            credit_code=None if person else holder_identifier,
        )
        row = service.issue_licence(
            session,
            principal,
            kind=kind.strip().upper(),
            kind_name=kind_name.strip(),
            holder=holder,
            fields=parsed,
            valid_days=int(valid_days) if valid_days.strip().isdigit() and int(valid_days) > 0 else None,
            secret=settings.resolved_secret_key(),
            bureau_id=bureau,
        )
    except (CitybrainError, ValueError) as error:
        session.rollback()
        key = error.key if isinstance(error, CitybrainError) else "gov.bad_form"
        if isinstance(error, CitybrainError) and error.errors:
            key = error.errors[0].key
        rows = service.issued_by_me(session, principal, bureau_id=bureau)
        return render(
            request, "gov/licences.html", status_code=422, licences=rows, figures=service.figures(session), error=key, values=values
        )
    return RedirectResponse(f"/gov/licences#{row.licence_id}", status_code=303)


@router.post("/licences/{licence_id}/revoke", response_class=HTMLResponse, dependencies=[CsrfChecked])
def revoke_submit(
    session: SessionDep,
    settings: SettingsDep,
    licence_id: LicenceRef,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
    principal: Principal = require(service.ISSUE),
) -> Response:
    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    service.revoke(session, principal, licence_id, reason, bureau_id=bureau)
    return RedirectResponse(f"/gov/licences#{licence_id}", status_code=303)


# --- the service guide and applications ----------------------------------------------------------

ItemRef = Annotated[str, Path(pattern=ITEM_CODE)]
NumberRef = Annotated[str, Path(pattern=APPLICATION_NUMBER)]
MaterialRef = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
TaskRef = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]

STATUS_CLASS = {"approved": "ok", "rejected": "alert", "withdrawn": "muted", "supplement": "notice"}


def _error_map(error: CitybrainError, lang: str) -> dict[str, str]:
    """Field name (last part of the location) -> message, for showing beside each form field."""
    from citybrain.core.i18n import translate

    return {str(e.loc[-1]): translate(e.key, lang, e.params) for e in error.errors}


@router.get("/items", response_class=HTMLResponse, dependencies=[Public])
def items_page(
    request: Request, session: SessionDep, q: Annotated[str, Query(max_length=100)] = "", kind: Annotated[str, Query(max_length=32)] = ""
) -> Response:
    found = applications.search_items(session, q, kind=kind or None)
    names = _org_names(session, {i.department_org_id for i in found})
    return render(request, "gov/items.html", items=found, q=q, kind=kind, kinds=applications.item_kinds(session), departments=names)


def _org_names(session: SessionDep, ids: set[int]) -> dict[int, str]:
    from sqlalchemy import select

    from citybrain.core.auth.models import Organisation

    return dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all()) if ids else {}


@router.get("/items/{code}", response_class=HTMLResponse, dependencies=[Public])
def item_page(request: Request, session: SessionDep, code: ItemRef) -> Response:
    item = applications.get_item(session, code)
    return render(
        request,
        "gov/item.html",
        item=item,
        department=_org_names(session, {item.department_org_id}).get(item.department_org_id, ""),
        fields=forms.fields(item.form_schema),
    )


@router.get("/items/{code}/apply", response_class=HTMLResponse)
def apply_page(request: Request, session: SessionDep, code: ItemRef, principal: Principal = require("")) -> Response:
    return render(request, "gov/apply.html", item=applications.get_item(session, code), error=None)


@router.post("/items/{code}/apply", response_class=HTMLResponse, dependencies=[CsrfChecked])
def apply_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: ItemRef,
    id_number: Annotated[str, Form(max_length=18)] = "",
    principal: Principal = require(""),
) -> Response:
    item = applications.get_item(session, code)
    try:
        app = applications.start_application(session, principal, code, secret=settings.resolved_secret_key(), id_number=id_number or None)
    except ValidationFailed as error:
        session.rollback()
        return render(
            request, "gov/apply.html", status_code=422, item=item, error=next(iter(_error_map(error, language_of(request)).values()), "")
        )
    return RedirectResponse(f"/gov/applications/{app.number}", status_code=303)


@router.get("/applications", response_class=HTMLResponse)
def my_applications_page(request: Request, session: SessionDep, principal: Principal = require("")) -> Response:
    rows = applications.my_applications(session, principal)
    items = {i.id: i for i in applications.items_by_id(session, {a.item_id for a in rows})}
    return render(request, "gov/applications.html", applications=rows, items=items, status_class=STATUS_CLASS)


def _application_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal,
    number: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    bureau = service.bureau_org_id(session, settings.bureau_org_code)
    app = applications.get_application(session, principal, number, bureau_id=bureau)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    own = principal.kind == "user" and app.applicant_user_id == principal.id
    tasks = applications.open_tasks(session, app)
    return render(
        request,
        "gov/application.html",
        status_code=status_code,
        app=app,
        item=item,
        own=own,
        fields=forms.fields(item.form_schema),
        materials={m["key"]: m for m in item.materials},
        timeline=applications.timeline(session, app),
        licences=applications.licences_of(session, app),
        tasks=[t for t in tasks if applications.may_work(principal, t)],
        errors=errors or {},
        values=values if values is not None else app.form_data,
        status_class=STATUS_CLASS,
    )


@router.get("/applications/{number}", response_class=HTMLResponse)
def application_page(
    request: Request, session: SessionDep, settings: SettingsDep, number: NumberRef, principal: Principal = require("")
) -> Response:
    return _application_page(request, session, settings, principal, number)


@router.post("/applications/{number}/submit", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def submit_page(
    request: Request, session: SessionDep, settings: SettingsDep, number: NumberRef, principal: Principal = require("")
) -> Response:
    posted = await request.form()
    app = applications.get_application(session, principal, number, audited=False)
    item = session.get(ServiceItem, app.item_id)
    assert item is not None
    text = {k: str(v)[:2000] for k, v in posted.items() if k != "csrf_token" and isinstance(v, str)}
    form = forms.coerce(item.form_schema, text)
    try:
        applications.submit(session, principal, number, form, secret=settings.resolved_secret_key())
    except applications.FormInvalid as error:
        session.rollback()
        return _application_page(
            request, session, settings, principal, number, errors=_error_map(error, language_of(request)), values=text, status_code=422
        )
    return RedirectResponse(f"/gov/applications/{number}#gov-decision", status_code=303)


@router.post("/applications/{number}/materials/{key}", response_class=HTMLResponse, dependencies=[CsrfChecked])
def upload_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    number: NumberRef,
    key: MaterialRef,
    file: UploadFile,
    principal: Principal = require(""),
) -> Response:
    try:
        applications.upload_material(
            session, principal, number, key, file.file, filename=file.filename or "material", files_root=settings.files_dir
        )
    except applications.BadUpload as error:
        session.rollback()
        messages = list(_error_map(error, language_of(request)).values())
        return _application_page(request, session, settings, principal, number, errors={f"material:{key}": messages[0]}, status_code=422)
    return RedirectResponse(f"/gov/applications/{number}#material-{key}", status_code=303)


@router.get("/applications/{number}/materials/{key}", response_class=FileResponse)
def material_download(
    session: SessionDep, settings: SettingsDep, number: NumberRef, key: MaterialRef, principal: Principal = require("")
) -> FileResponse:
    from citybrain.core.files import service as files

    row = applications.material_file(session, principal, number, key, bureau_id=service.bureau_org_id(session, settings.bureau_org_code))
    return FileResponse(
        files.blob_path(settings.files_dir, row.sha256), media_type=row.media_type, filename=row.name, content_disposition_type="attachment"
    )


@router.post("/applications/{number}/{action}", response_class=HTMLResponse, dependencies=[CsrfChecked])
def action_page(
    session: SessionDep,
    settings: SettingsDep,
    number: NumberRef,
    action: Annotated[str, Path(pattern=r"^(withdraw|manual-review|supplement|rating)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
    rating: Annotated[int, Form(ge=0, le=5)] = 0,
    principal: Principal = require(""),
) -> Response:
    secret = settings.resolved_secret_key()
    if action == "withdraw":
        applications.withdraw(session, principal, number, reason, secret=secret)
    elif action == "manual-review":
        applications.request_manual_review(session, principal, number, reason, secret=secret)
    elif action == "supplement":
        applications.answer_supplement(session, principal, number, note=reason, secret=secret)
    else:
        applications.rate(session, principal, number, rating, reason)
    return RedirectResponse(f"/gov/applications/{number}", status_code=303)


@router.post("/applications/{number}/tasks/{task_id}", response_class=HTMLResponse, dependencies=[CsrfChecked])
def task_page(
    session: SessionDep,
    settings: SettingsDep,
    number: NumberRef,
    task_id: TaskRef,
    decision: Annotated[str, Form(pattern=r"^(|approve|reject|request_more)$")] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    principal: Principal = require(applications.WORK),
) -> Response:
    applications.complete_task(
        session, principal, number, task_id, decision=decision or None, note=note, secret=settings.resolved_secret_key()
    )
    return RedirectResponse("/gov/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, principal: Principal = require(applications.WORK)) -> Response:
    from citybrain.core.db.base import utcnow

    return render(request, "gov/queue.html", entries=applications.work_queue(session, principal), now=utcnow())


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, session: SessionDep, principal: Principal = require("")) -> Response:
    return render(request, "gov/statistics.html", figures=service.statistics(session))
