"""The e-licence pages: public verification, the holder's wallet, and the issuing department's registry."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from citybrain.core.auth.principal import Principal
from citybrain.core.errors import CitybrainError
from citybrain.core.web.deps import Public, SessionDep, SettingsDep, require
from citybrain.core.web.pages import CsrfChecked
from citybrain.core.web.problems import language_of
from citybrain.core.web.templating import render
from citybrain.gov_services import service
from citybrain.gov_services.api import verification_read
from citybrain.gov_services.schemas import LICENCE_ID, LICENCE_KIND, HolderIn

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
