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
from core.i18n import pgettext
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
        opened: str = "",
        form: dict[str, str] | None = None,
        form_error: str = "",
    ) -> dict[str, Any]:
        """The contract page's context; ``opened`` names the decline or forward form to show unfolded, with ``form``
        as typed and ``form_error`` above it."""
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
            "opened": opened,
            "form": form or {},
            "form_error": form_error,
        }

    async def _confirmation(
        self,
        link: svc.ContractorLink,
        token: str,
        *,
        step: str,
        heading: str,
        what: list[str],
        entries: list[tuple[str, str]],
        fields: dict[str, str],
        button: str,
        destructive: bool = False,
    ) -> Template:
        """The question before an answer that cannot be withdrawn; its buttons post the same fields again.

        "Yes" adds ``confirmed=yes``; "back" adds ``confirmed=edit`` and brings the
        form back as typed, so nothing entered is lost either way.
        """
        return Template(
            "signing/contractor_confirm.html",
            context={
                "party": link.party,
                "contract": link.contract,
                "sender": await mail_sender(link.session, link.contract.id),
                "heading": heading,
                "what": what,
                "entries": entries,
                "fields": fields,
                "action": f"/c/{token}/{step}",
                "button": button,
                "destructive": destructive,
            },
        )

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
                else _(
                    "The password is not correct. Please check what the person in charge told you. "
                    "After {n} more wrong passwords this link is locked."
                ).format(n=link.attempts_left)
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
        """Fill the boxes and agree once the party confirmed; a value that cannot be agreed brings back the form."""
        link = await self._gated(request, db_session, state, token)
        link.require_turn()
        values = box_values(data)
        problems = await link.answer_problems(values)
        answer = data.get("confirmed", "")
        if problems or answer == "edit":
            return Template(
                "signing/contractor.html",
                context=await self._page(link, token, values=values, problems=problems),
                status_code=400 if problems else 200,
            )
        if answer != "yes":
            labels = {str(b.id): b.label for b in await link.boxes()}
            return await self._confirmation(
                link,
                token,
                step="agree",
                heading=_("Do you agree to this contract?"),
                what=[
                    _("Your agreement is recorded with the date and time and cannot be withdrawn afterwards."),
                    _(
                        "When every party has agreed, the contract is sealed with the electronic signature and you "
                        "receive an e-mail with a link to download it."
                    ),
                ],
                entries=[(labels[k], v) for k, v in values.items() if k in labels and v.strip()],
                fields={f"box_{k}": v for k, v in values.items()},
                button=pgettext("contractor confirmation", "Agree"),
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
        """Decline with a reason, once the party confirmed; without a reason the form comes back saying so."""
        link = await self._gated(request, db_session, state, token)
        link.require_turn()
        reason = data.get("reason", "").strip()
        answer = data.get("confirmed", "")
        if not reason or answer == "edit":
            return Template(
                "signing/contractor.html",
                context=await self._page(
                    link,
                    token,
                    opened="decline",
                    form={"reason": reason},
                    form_error="" if reason else _("Please tell the organisation why you decline."),
                ),
                status_code=200 if reason else 400,
            )
        if answer != "yes":
            return await self._confirmation(
                link,
                token,
                step="decline",
                heading=_("Do you decline this contract?"),
                what=[
                    _(
                        "The contract stops here: the organisation is told your reason and nobody else is asked to "
                        "answer. This cannot be undone; the organisation may send you a corrected contract."
                    ),
                ],
                entries=[(_("Reason"), reason)],
                fields={"reason": reason},
                button=pgettext("contractor confirmation", "Decline"),
                destructive=True,
            )
        await link.decline(reason)
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
        """Hand the request to another person of the company, once the party confirmed whom."""
        link = await self._gated(request, db_session, state, token)
        link.require_turn()
        person = svc.ForwardInput(name=data.get("name", "").strip(), email=data.get("email", "").strip())
        problem = link.forward_problem(person)
        answer = data.get("confirmed", "")
        if problem or answer == "edit":
            return Template(
                "signing/contractor.html",
                context=await self._page(
                    link,
                    token,
                    opened="forward",
                    form={"name": person.name, "email": person.email},
                    form_error=problem or "",
                ),
                status_code=400 if problem else 200,
            )
        if answer != "yes":
            return await self._confirmation(
                link,
                token,
                step="forward",
                heading=_("Forward this request to {name}?").format(name=person.name),
                what=[
                    _(
                        "{name} receives their own link by e-mail and answers instead of you. "
                        "This link then stops working for you."
                    ).format(name=person.name),
                    _(
                        "They need the same access password: pass it on to them by phone or in person, "
                        "never in the same e-mail."
                    ),
                ],
                entries=[(_("Name"), person.name), (_("E-mail"), person.email)],
                fields={"name": person.name, "email": person.email},
                button=pgettext("contractor confirmation", "Forward"),
            )
        new = await link.forward(person)
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
