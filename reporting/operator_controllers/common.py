"""What the operator's screens share: the consortium picked, form fields read as Japan time, PDF downloads."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.forms import field
from core.i18n import gettext as _
from core.settings import Settings
from reporting.figures import JST, parse_month
from reporting.repository import ReportingRepository
from reporting.tasks import previous_month
from tenants.models import Consortium

__all__ = [
    "HISTORY_DAYS",
    "ConsortiumQuery",
    "FormError",
    "MonthQuery",
    "local_time",
    "month_of",
    "pdf_download",
    "pick_consortium",
    "settings_of",
]


ConsortiumQuery = Annotated[str | None, QueryParameter(name="consortium", required=False)]
MonthQuery = Annotated[str | None, QueryParameter(name="month", pattern=r"^\d{4}-\d{2}$", required=False)]
HISTORY_DAYS = 90


class FormError(Invalid):
    """A field the operator must correct; the message is already in the user's language."""


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    """The application's settings (for the mail an operator's action sends)."""
    settings: Settings = request.app.state.settings
    return settings


async def pick_consortium(session: AsyncSession, slug: str | None) -> tuple[list[Consortium], Consortium]:
    """Every consortium and the one the screen is about (the first when none is named)."""
    consortia = await ReportingRepository(session, None).consortia()
    if not consortia:
        raise NotFoundException(detail=_("No consortium exists yet."))
    chosen = next((c for c in consortia if c.slug == slug), None) if slug else consortia[0]
    if chosen is None:
        raise NotFoundException(detail=_("No consortium {slug} exists.").format(slug=slug))
    return consortia, chosen


def local_time(form: dict[str, Any], name: str, label: str, *, required: bool = True) -> dt.datetime | None:
    """A ``datetime-local`` field, read as Japan time."""
    text = field(form, name)
    if not text:
        if required:
            raise FormError(_("Please enter {field}.").format(field=label))
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=JST)
    except ValueError:
        raise FormError(_("{field} is not a date and time.").format(field=label)) from None


def month_of(text: str | None) -> dt.date:
    """The month ``YYYY-MM`` of a path or form (last month when empty; 404 when not a month)."""
    if not text:
        return previous_month(dt.datetime.now(JST).date())
    try:
        return parse_month(text)
    except ValueError as exc:
        raise NotFoundException() from exc


def pdf_download(body: bytes, filename: str) -> Response[bytes]:
    """A PDF sent as a download named ``filename``."""
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )
