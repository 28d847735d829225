"""What the contract controllers share: request parsing, the actions dependency, errors, downloads."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from core.i18n import parse_date
from core.settings import Settings, get_settings
from core.web import client_ip, status_of
from policy.guards import current_principal
from signing import services as svc
from signing.audit import Origin
from signing.models import ContractStatus

MB = 1024 * 1024


UPLOAD_LIMIT = (get_settings().contracts.max_contract_mb + 16) * MB
"""Request bodies of upload routes may carry a whole contract's files (the services check each limit)."""


FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


UrlForm = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def settings_of(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def origin_of(request: Request[Any, Any, Any]) -> Origin:
    return Origin(ip=client_ip(request.scope), user_agent=request.headers.get("user-agent", ""))


async def provide_actions(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> svc.ContractActions:
    """The contract actions of the signed-in staff member or API key."""
    return svc.ContractActions(db_session, settings_of(state), current_principal(request), origin_of(request))


def error_response(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    status = status_of(exc)
    if request.url.path.startswith("/api/"):
        return Response({"status_code": status, "detail": exc.message}, status_code=status)
    return Template(
        "signing/problem.html",
        context={
            "title": _("The request could not be completed"),
            "message": exc.message,
            "field": getattr(exc, "field", ""),
            "correctable": status in (400, 409, 413, 422),
            "contractor": request.url.path.startswith("/c/"),
        },
        status_code=status,
    )


async def uploads(data: dict[str, Any], name: str = "files") -> list[svc.UploadedFile]:
    value = data.get(name)
    values = value if isinstance(value, list) else [value]
    return [svc.UploadedFile(v.filename, await v.read()) for v in values if isinstance(v, UploadFile)]


def int_or_none(raw: object, message: str) -> int | None:
    # Full-width digits and commas (１，２００，０００円) are folded as half-width ones.
    text = unicodedata.normalize("NFKC", str(raw or "")).replace(",", "").replace("円", "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid(message) from exc


def date_or_none(raw: object) -> dt.date | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise Invalid(
            _("Please enter dates as YYYY-MM-DD or in the Japanese era, e.g. 令和8年4月1日 or R8.4.1.")
        ) from exc


def parse_uuid(raw: object, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise Invalid(message) from exc


def contract_input(form: dict[str, Any]) -> svc.ContractInput:
    """The fields of a new contract, from the form of the screen or the multipart body of the API."""
    return svc.ContractInput(
        subject=str(form.get("subject") or ""),
        title_id=parse_uuid(form.get("title_id"), _("Please choose a contract title of your organisation.")),
        contract_number=str(form.get("contract_number") or ""),
        amount=int_or_none(form.get("amount"), _("Please enter the amount as a number of yen.")),
        transaction_date=date_or_none(form.get("transaction_date")),
        counterparty=str(form.get("counterparty") or ""),
        department_id=parse_uuid(form["department_id"], _("Please choose a department of your organisation."))
        if form.get("department_id")
        else None,
    )


def box_values(form: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("box_"): v for k, v in form.items() if k.startswith("box_")}


async def provide_search_filters(
    *,
    word: FromQuery[str | None] = None,
    date_from: FromQuery[str | None] = None,
    date_to: FromQuery[str | None] = None,
    amount_min: FromQuery[str | None] = None,
    amount_max: FromQuery[str | None] = None,
    counterparty: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    todo: FromQuery[str | None] = None,
) -> svc.SearchFilters:
    """The search keys of the list, the API and the CSV export, read from the query once."""
    amount_message = _("Please enter the amount as a number of yen.")
    try:
        state = ContractStatus(status) if status else None
    except ValueError:
        state = None
    return svc.SearchFilters(
        word=word or "",
        date_from=date_or_none(date_from),
        date_to=date_or_none(date_to),
        amount_min=int_or_none(amount_min, amount_message),
        amount_max=int_or_none(amount_max, amount_message),
        counterparty=counterparty or "",
        status=state,
        todo=todo if todo in {t.value for t in svc.ToDo} else "",
    )


async def provide_trail_filters(
    *,
    contract: FromQuery[str | None] = None,
    date_from: FromQuery[str | None] = None,
    date_to: FromQuery[str | None] = None,
) -> svc.TrailFilters:
    """The keys of the audit-log screen and its CSV export, read from the query once."""
    return svc.TrailFilters(
        contract=(contract or "")[:200], date_from=date_or_none(date_from), date_to=date_or_none(date_to)
    )


def download_response(download: svc.Download) -> Response[bytes]:
    """A file as an attachment that is never cached or sniffed; a contract document says whether it is sealed."""
    if download.media_type == "application/pdf":
        disposition = f"attachment; filename=\"contract.pdf\"; filename*=UTF-8''{quote(download.file_name)}"
    else:
        disposition = f'attachment; filename="{download.file_name}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if download.sealed is not None:
        headers["X-Kyodo-Sealed"] = "true" if download.sealed else "false"
    return Response(download.data, media_type=download.media_type, headers=headers)


def png_response(data: bytes) -> Response[bytes]:
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, no-store"})
