"""The contractor portal, ``/portal``: a sign-in link by e-mail, then every concluded contract of the address.

No account and no member: the address is the key, a mailed one-use link the
proof (see :mod:`signing.services._portal`). The page that asks for a link
answers the same for every address.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, Invalid, ServiceError
from core.i18n import gettext as _
from signing.controllers._common import UrlForm, download_response, error_response, origin_of, settings_of
from signing.services._portal import PortalAnswer, PortalSession, request_sign_in, use_sign_in

PORTAL_COOKIE = "kyodo_portal"


class PortalController(Controller):
    """Contractors' lasting access to their concluded contracts, across members."""

    path = "/portal"
    include_in_schema = False
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    async def _session(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State
    ) -> PortalSession | None:
        return await PortalSession.open(
            session, settings_of(state), request.cookies.get(PORTAL_COOKIE, ""), origin_of(request)
        )

    async def _signed_in(self, request: Request[Any, Any, Any], session: AsyncSession, state: State) -> PortalSession:
        portal = await self._session(request, session, state)
        if portal is None:
            raise Forbidden(_("Please sign in to the portal again: ask for a new sign-in link."))
        return portal

    @get("/")
    async def start(self) -> Template:
        """Ask for a sign-in link."""
        return Template("signing/portal.html", context={"answered": False, "error": "", "email": ""})

    @post("/", status_code=200)
    async def ask(
        self,
        *,
        request: Request[Any, Any, Any],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Record the request and mail a link if the address is known; the answer is the same either way."""
        email = data.get("email", "")
        try:
            answer = await request_sign_in(db_session, settings_of(state), email, origin_of(request))
        except Invalid as exc:
            return Template(
                "signing/portal.html",
                context={"answered": False, "error": exc.message, "email": email},
                status_code=400,
            )
        if answer is PortalAnswer.LIMITED:
            return Template(
                "signing/portal.html",
                context={
                    "answered": False,
                    "email": email,
                    "error": _("Too many sign-in links were asked for. Please try again in an hour."),
                },
                status_code=429,
                headers={"Retry-After": "3600"},
            )
        return Template("signing/portal.html", context={"answered": True, "error": "", "email": ""})

    @get("/sign-in/{token:str}")
    async def confirm(self, *, token: FromPath[str]) -> Template:
        """A button that uses the link (a mail scanner following the link does not use it up)."""
        return Template("signing/portal_sign_in.html", context={"token": token})

    @post("/sign-in/{token:str}")
    async def sign_in(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Use the link once and open the list."""
        settings = settings_of(state)
        cookie = await use_sign_in(db_session, settings, token, origin_of(request))
        response = Redirect(path="/portal/contracts", status_code=303)
        response.set_cookie(
            PORTAL_COOKIE,
            cookie,
            path="/portal",
            httponly=True,
            samesite="lax",
            secure=settings.security.secure_cookies,
            max_age=settings.contracts.portal_session_minutes * 60,
        )
        return response

    @post("/sign-out")
    async def sign_out(self) -> Redirect:
        """Forget the portal session on this device."""
        response = Redirect(path="/portal", status_code=303)
        response.delete_cookie(PORTAL_COOKIE, path="/portal")
        return response

    @get("/contracts")
    async def contracts(
        self, *, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
    ) -> Template | Redirect:
        """Every concluded contract of the address, from every member, with its downloads."""
        portal = await self._session(request, db_session, state)
        if portal is None:
            return Redirect(path="/portal", status_code=303)
        items = await portal.contracts()
        return Template("signing/portal_contracts.html", context={"items": items, "email": portal.email})

    @get("/contracts/{contract_id:uuid}/documents/{document_id:uuid}")
    async def download(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """The sealed file of a contract of the list (recorded in its trail)."""
        portal = await self._signed_in(request, db_session, state)
        return download_response(await portal.download(contract_id, document_id))

    @get("/contracts/{contract_id:uuid}/certificate")
    async def certificate(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """The certificate of conclusion of a contract of the list (recorded in its trail)."""
        portal = await self._signed_in(request, db_session, state)
        return download_response(await portal.certificate(contract_id))
