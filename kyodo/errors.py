"""How every refusal and failure is answered: a Japanese page with a way back, or JSON under ``/api/``.

* A service's refusal (:class:`core.errors.ServiceError`) keeps its message; its
  kind gives the status (:func:`core.web.status_of`).
* The database refusing a value (too long, a number out of range, a NUL
  character) is the user's input, not a server fault: 400 with a message that
  says so.
* A unique constraint violated by two people saving at the same moment is a
  409 "someone else just registered it"; other integrity errors are not
  presented as such a clash.
* Anything else is a 500: logged with its traceback and the request's id,
  and the user is shown the id to quote when calling the help desk.
"""

from __future__ import annotations

import logging
from typing import Any

from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from advanced_alchemy.exceptions import NotFoundError
from litestar import Request, Response
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from core.errors import Conflict, Gone, Invalid, NotFound, ServiceError
from core.i18n import gettext as _
from core.web import status_of
from kyodo.middleware import request_id
from kyodo.pages import safe_next

__all__ = ["exception_handlers"]

log = logging.getLogger("kyodo.errors")

UNIQUE_VIOLATION = "23505"
"""PostgreSQL's SQLSTATE for a duplicate key."""


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith("/api/")


def _not_signed_in(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if _wants_html(request):
        if request.headers.get("hx-request"):
            # htmx follows HX-Redirect with a full page load.
            return Response("", status_code=401, headers={"HX-Redirect": "/login"})
        return Redirect(path=f"/login?next={request.url.path}", status_code=303)
    return Response({"status_code": 401, "detail": _("Please sign in.")}, status_code=401)


def _forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    message = _("You do not have permission for this operation. Ask your administrator if you need it.")
    if _wants_html(request):
        return Template("error.html", context={"title": _("Not allowed"), "message": message}, status_code=403)
    return Response({"status_code": 403, "detail": message}, status_code=403)


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Another member's id and an id that never existed answer alike.
    message = _("The page or item was not found. It may have been deleted, or the address is wrong.")
    if _wants_html(request):
        return Template("error.html", context={"title": _("Not found"), "message": message}, status_code=404)
    return Response({"status_code": 404, "detail": message}, status_code=404)


def _refused(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    status = status_of(exc)
    if _wants_html(request):
        back = safe_next(request.headers.get("referer", "").partition(request.url.netloc)[2] or None)
        if isinstance(exc, NotFound | Gone):
            title = _("Not found")
        elif request.method in ("GET", "HEAD"):
            title = _("The request could not be completed")
        else:
            title = _("The change was not made")
        return Template(
            "error.html",
            context={"title": title, "message": exc.message, "back": back, "field": getattr(exc, "field", "")},
            status_code=status,
        )
    return Response({"status_code": status, "detail": exc.message}, status_code=status)


def _sqlstate(exc: BaseException) -> str | None:
    original = getattr(exc, "orig", None) or getattr(exc, "__cause__", None)
    return getattr(original, "sqlstate", None)


def _integrity(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _sqlstate(exc) == UNIQUE_VIOLATION or (isinstance(exc, RepositoryIntegrityError) and "unique" in str(exc)):
        # Services check for duplicates first; this is the race where two people save at once.
        return _refused(
            request,
            Conflict(
                _("Someone else has just registered the same entry. Reload the page and check before trying again.")
            ),
        )
    log.warning("integrity error answered as invalid input [%s]: %s", request_id(request.scope), exc)
    return _refused(request, Invalid(_("The entry refers to something that does not exist or is incomplete.")))


def _bad_value(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, StatementError) and not isinstance(exc, DataError) and not _is_nul(exc):
        return _internal(request, exc)
    log.info("value refused by the database [%s]: %s", request_id(request.scope), exc)
    return _refused(
        request,
        Invalid(
            _(
                "An entry is too long, a number is too large, or the text contains a character that cannot be "
                "stored (such as a NUL character). Correct it and try again."
            )
        ),
    )


def _is_nul(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", "") or exc)
    return "NUL" in text and "0x00" in text


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    reference = request_id(request.scope)
    log.error("unhandled error [%s] %s %s", reference, request.method, request.url.path, exc_info=exc)
    message = _(
        "Something went wrong on our side. Nothing was changed. If it happens again, tell the help desk "
        "this reference: {reference}"
    ).format(reference=reference)
    if _wants_html(request):
        return Template(
            "error.html",
            context={"title": _("An error occurred"), "message": message, "reference": reference},
            status_code=500,
        )
    return Response({"status_code": 500, "detail": message, "request_id": reference}, status_code=500)


def _too_many(request: Request[Any, Any, Any], exc: TooManyRequestsException) -> Response[Any]:
    retry = (exc.headers or {}).get("retry-after") or (exc.headers or {}).get("Retry-After") or "60"
    message = _("Too many attempts from your network in a short time. Please wait {seconds} seconds and try again.")
    message = message.format(seconds=retry)
    headers = {"Retry-After": str(retry)}
    if _wants_html(request):
        return Template(
            "error.html",
            context={"title": _("Please wait a moment"), "message": message},
            status_code=429,
            headers=headers,
        )
    return Response({"status_code": 429, "detail": message}, status_code=429, headers=headers)


def exception_handlers() -> ExceptionHandlersMap:
    """Every handler the app registers."""
    return {
        NotAuthorizedException: _not_signed_in,
        PermissionDeniedException: _forbidden,
        NotFoundException: _not_found,
        NotFoundError: _not_found,
        ServiceError: _refused,
        TooManyRequestsException: _too_many,
        IntegrityError: _integrity,
        RepositoryIntegrityError: _integrity,
        DataError: _bad_value,
        StatementError: _bad_value,
        500: _internal,
    }
