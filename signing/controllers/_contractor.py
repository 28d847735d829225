"""The contractor's pages: no account, a personal link and the access password staff gave them."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, Locked, ServiceError
from core.i18n import gettext as _
from signing import services as svc
from signing.controllers._common import (
    UrlForm,
    box_values,
    download_response,
    error_response,
    origin_of,
    png_response,
    settings_of,
)
from signing.labels import contract_status_labels
from signing.mail import mail_sender
from signing.services._values import value_problems

GATE_COOKIE = "kyodo_c"


class ContractorController(Controller):
    """Pages for contractors: no account, a personal link and the password staff gave them."""

    path = "/c"
    include_in_schema = False
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    async def _open(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State, token: str
    ) -> svc.ContractorLink:
        return await svc.ContractorLink.open(session, settings_of(state), token, origin_of(request))

    def _passed_gate(self, request: Request[Any, Any, Any], link: svc.ContractorLink) -> bool:
        return hmac.compare_digest(request.cookies.get(GATE_COOKIE, ""), link.gate_value())

    async def _gated(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State, token: str
    ) -> svc.ContractorLink:
        link = await self._open(request, session, state, token)
        if link.party.locked or not self._passed_gate(request, link):
            raise Forbidden(_("Please enter the access password first."))
        return link

    async def _page(
        self,
        link: svc.ContractorLink,
        token: str,
        *,
        values: dict[str, str] | None = None,
        problems: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        boxes = await link.boxes()
        return {
            "party": link.party,
            "contract": link.contract,
            "token": token,
            "boxes": boxes,
            # What the party typed is kept when the form comes back with a problem.
            "values": {str(b.id): (values or {}).get(str(b.id), b.value or "") for b in boxes},
            "problems": problems or {},
            "labels": contract_status_labels(),
            "error": " ".join((problems or {}).values()),
            "can_answer": link.can_answer,
            "can_download": link.can_download,
            "sender": await mail_sender(link.session, link.contract.id),
        }

    @get("/{token:str}")
    async def open_link(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """The password gate, or the contract when the password was given on this device."""
        link = await self._open(request, db_session, state, token)
        if link.party.locked:
            raise Locked(
                _("This link is locked after too many wrong passwords. Please contact the person in charge."),
            )
        if not self._passed_gate(request, link):
            return Template(
                "signing/gate.html",
                context={
                    "token": token,
                    "contract": link.contract,
                    "error": "",
                    "sender": await mail_sender(link.session, link.contract.id),
                },
            )
        return Template("signing/contractor.html", context=await self._page(link, token))

    @post("/{token:str}/password")
    async def password(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template | Redirect:
        """Check the access password; five wrong ones lock the link."""
        link = await self._open(request, db_session, state, token)
        if not await link.check_password(data.get("password", "")):
            message = (
                _("This link is locked after too many wrong passwords. Please contact the person in charge.")
                if link.party.locked
                else _("The password is not correct. Please check what the person in charge told you.")
            )
            return Template(
                "signing/gate.html",
                context={
                    "token": token,
                    "contract": link.contract,
                    "error": message,
                    "sender": await mail_sender(link.session, link.contract.id),
                },
                status_code=423 if link.party.locked else 400,
            )
        response = Redirect(path=f"/c/{token}", status_code=303)
        response.set_cookie(
            GATE_COOKIE,
            link.gate_value(),
            path=f"/c/{token}",
            httponly=True,
            samesite="lax",
            secure=settings_of(state).security.secure_cookies,
        )
        return response

    @get("/{token:str}/documents/{document_id:uuid}/pages/{page:int}")
    async def preview(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        document_id: FromPath[uuid.UUID],
        page: FromPath[int],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """A page preview for the contractor."""
        link = await self._gated(request, db_session, state, token)
        return png_response(await link.preview(document_id, page))

    @post("/{token:str}/agree")
    async def agree(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Fill the boxes and agree; a value the seal could not print brings the form back, as typed."""
        link = await self._gated(request, db_session, state, token)
        values = box_values(data)
        problems = await value_problems(await link.boxes(), values)
        if problems:
            return Template(
                "signing/contractor.html",
                context=await self._page(link, token, values=values, problems=problems),
                status_code=400,
            )
        await link.agree(values)
        return Template("signing/done.html", context={"message": _("Thank you. Your agreement has been recorded.")})

    @post("/{token:str}/check", status_code=200)
    async def check(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[dict[str, dict[str, str]]]:
        """What the browser asks while the party types: box id → why its value cannot be sealed.

        The same check as on agreeing (the seal's own font and fitting), so the
        warning and the refusal never disagree. Nothing is stored or recorded.
        """
        link = await self._gated(request, db_session, state, token)
        problems = await value_problems(await link.boxes(), box_values(data))
        return Response({"problems": problems}, headers={"Cache-Control": "no-store"})

    @post("/{token:str}/decline")
    async def decline(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Decline with a reason."""
        link = await self._gated(request, db_session, state, token)
        await link.decline(data.get("reason", ""))
        return Template(
            "signing/done.html", context={"message": _("You declined. The organisation has been informed.")}
        )

    @post("/{token:str}/forward")
    async def forward(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Hand the request to another person of the company."""
        link = await self._gated(request, db_session, state, token)
        new = await link.forward(svc.ForwardInput(name=data.get("name", ""), email=data.get("email", "")))
        return Template(
            "signing/done.html",
            context={
                "message": _(
                    "The request was forwarded to {name}. They receive their own link by e-mail and use the same "
                    "access password, which you should pass on to them by phone or in person. "
                    "This link no longer works for you."
                ).format(name=new.name)
            },
        )

    @get("/{token:str}/documents/{document_id:uuid}")
    async def download(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        document_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """Download the concluded contract (free, no account)."""
        link = await self._gated(request, db_session, state, token)
        return download_response(await link.download(document_id))

    @get("/{token:str}/certificate")
    async def certificate(
        self,
        *,
        request: Request[Any, Any, Any],
        token: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """The certificate of conclusion of the contractor's own contract (free, no account)."""
        link = await self._gated(request, db_session, state, token)
        return download_response(await link.certificate())
