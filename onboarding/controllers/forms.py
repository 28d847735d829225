"""What every onboarding screen shares: form bodies, form values, the actor's name, htmx."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body
from litestar.response import Template

from core.errors import Invalid
from core.i18n import gettext as _
from core.scope import Principal

__all__ = ["HTML_ERRORS", "FormData", "actor", "form_date", "is_htmx", "money"]

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _unreadable_form(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A form the framework could not read (e.g. no file chosen): the reason on a page, not JSON."""
    return Template(
        "error.html",
        context={"title": _("The request could not be completed"), "message": exc.detail},
        status_code=exc.status_code,
    )


HTML_ERRORS = {ValidationException: _unreadable_form}
"""Exception handlers of the screens; the services' errors are answered by the application."""


def actor(principal: Principal) -> str:
    """Who did it, as recorded in stage history, agreements, invoices and reports."""
    return f"{principal.name} ({principal.kind.value}:{principal.id})"


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """True when htmx sent the request (and wants a part of the page back)."""
    return bool(request.headers.get("hx-request"))


def form_date(value: str, *, required: bool = False) -> dt.date | None:
    """A date typed as YYYY-MM-DD (None when left empty and not required)."""
    value = value.strip()
    if not value:
        if required:
            raise Invalid(_("Enter a date."))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(_("“{value}” is not a date (YYYY-MM-DD).").format(value=value)) from None


def money(value: str, label: str) -> Decimal:
    """An amount in yen (thousands separators allowed)."""
    try:
        return Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise Invalid(_("{label}: enter an amount in yen.").format(label=label)) from None
