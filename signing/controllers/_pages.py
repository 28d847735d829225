"""The staff screens of contracts: list and search, CSV, new contract, detail, parties, boxes, audit log."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from policy.guards import requires, requires_member_staff
from signing import labels
from signing import services as svc
from signing.controllers._common import (
    UPLOAD_LIMIT,
    FormData,
    UrlForm,
    box_values,
    contract_input,
    download_response,
    error_response,
    int_or_none,
    parse_uuid,
    png_response,
    provide_actions,
    provide_search_filters,
    provide_trail_filters,
    uploads,
)
from signing.controllers._confirm import confirm_page, confirmed
from signing.models import PartyKind


def _party_input(form: dict[str, str]) -> svc.PartyInput:
    """A party from the form of the contract page: a contractor, one from the address book, or a signer."""
    order = int_or_none(form.get("order_no"), _("The order must be a number from 1 to 1000.")) or 0
    data = svc.PartyInput(
        order_no=order,
        kind=PartyKind.STAFF if form.get("kind") == "staff" else PartyKind.CONTRACTOR,
        name=form.get("name", ""),
        email=form.get("email", ""),
        company=form.get("company", ""),
        password=form.get("password", ""),
    )
    if data.kind is PartyKind.STAFF:
        staff_id, _sep, title_id = form.get("signer", "").partition(":")
        data.staff_id = parse_uuid(staff_id, _("Please choose a staff member of your organisation."))
        data.title_id = parse_uuid(title_id, _("Please choose a contract title of your organisation."))
    elif form.get("address_book_entry_id"):
        data.address_book_entry_id = parse_uuid(
            form["address_book_entry_id"], _("The address book entry was not found.")
        )
    return data


def _text_box_input(form: dict[str, str]) -> svc.TextBoxInput:
    """A box from the drag on the preview or the numeric fields (pages counted from 1 on the screen)."""
    try:
        x, y, width, height = (float(form.get(k, "")) for k in ("x", "y", "width", "height"))
        page = int(form.get("page", "")) - 1
    except ValueError as exc:
        raise Invalid(_("Please enter the position and size as numbers.")) from exc
    which = _("Please choose a document and a party of this contract.")
    return svc.TextBoxInput(
        document_id=parse_uuid(form.get("document_id"), which),
        party_id=parse_uuid(form.get("party_id"), which),
        page=page,
        x=x,
        y=y,
        width=width,
        height=height,
        label=form.get("label", ""),
        required=form.get("required") == "on",
    )


def _back(contract_id: uuid.UUID, anchor: str = "", *, done: str = "") -> Redirect:
    query = f"?done={done}" if done else ""
    return Redirect(path=f"/contracts/{contract_id}{query}{anchor}", status_code=303)


def _actor_name(actor: str) -> str:
    """``staff:<id> 起案 太郎`` → ``起案 太郎``: the id stays in the CSV export."""
    kind, _sep, rest = actor.partition(" ")
    return rest if ":" in kind and rest else actor


async def _detail_page(
    actions: svc.ContractActions,
    contract_id: uuid.UUID,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> Template:
    """The contract page; ``values`` and ``problems`` bring the signer's boxes back as typed, saying what is wrong."""
    view = await actions.view(contract_id)
    return Template(
        "signing/detail.html",
        context={
            "contract": view.contract,
            "boxes": view.boxes,
            "signers": view.signers,
            "book": view.address_book,
            "labels": labels.contract_status_labels(),
            "party_labels": labels.party_status_labels(),
            "principal": actions.principal,
            "my_turn": view.my_turn,
            "my_boxes": view.my_boxes,
            "my_values": values or {},
            "my_problems": problems or {},
            "seal_failure": labels.failure_message(view.contract.seal_failure),
            "correctable_box": view.correctable_box,
            "undelivered": view.undelivered,
            "undelivered_label": labels.undelivered_party_label(),
            "my_title": await svc.signer_title(actions.session, actions.principal, view.contract)
            if view.my_turn
            else None,
        },
        status_code=400 if problems else 200,
    )


class ContractPagesController(Controller):
    """Staff screens: list and search, CSV, new contract, detail, parties, boxes, send, cancel, sign."""

    path = "/contracts"
    dependencies = {  # noqa: RUF012
        "filters": Provide(provide_search_filters),
        "trail": Provide(provide_trail_filters),
        "actions": Provide(provide_actions),
    }
    include_in_schema = False
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    @get("/", guards=[requires("contract", "view")])
    async def index(
        self,
        *,
        request: Request[Any, Any, Any],
        actions: NamedDependency[svc.ContractActions],
        filters: NamedDependency[svc.SearchFilters],
        page: FromQuery[int] = 1,
    ) -> Template:
        """Contracts the caller may see, newest first, with the search form."""
        result = await actions.search(filters, page=page, per_page=50)
        template = "signing/_results.html" if request.headers.get("hx-request") else "signing/index.html"
        return Template(
            template,
            context={
                "result": result,
                "f": filters,
                "labels": labels.contract_status_labels(),
                "query": request.url.query or "",
                "principal": actions.principal,
            },
        )

    @get("/export.csv", guards=[requires("contract", "view")])
    async def export(
        self, *, actions: NamedDependency[svc.ContractActions], filters: NamedDependency[svc.SearchFilters]
    ) -> Response[bytes]:
        """The search result as CSV (UTF-8 with BOM, for Excel)."""
        return download_response(await actions.export(filters))

    @get("/audit", guards=[requires("audit", "view")])
    async def audit_trail(
        self,
        *,
        request: Request[Any, Any, Any],
        actions: NamedDependency[svc.ContractActions],
        trail: NamedDependency[svc.TrailFilters],
        page: FromQuery[int] = 1,
    ) -> Template:
        """The member's audit trail (who, e-mail, time, IP, user agent, documents), and whether its chains verify."""
        result = await actions.trail(trail, page=page, per_page=50)
        # The whole trail of the member is checked, not only the page shown: a
        # changed or removed row anywhere breaks the chain it belongs to. The
        # result is reused while the trail's fingerprint stays the same.
        broken, checked = await actions.verify_trail(getattr(request.app.state, "redis", None))
        query = "&".join(
            f"{key}={quote(value)}"
            for key, value in (
                ("contract", trail.contract),
                ("date_from", trail.date_from.isoformat() if trail.date_from else ""),
                ("date_to", trail.date_to.isoformat() if trail.date_to else ""),
            )
            if value
        )
        return Template(
            "signing/audit.html",
            context={
                "result": result,
                "trail": trail,
                "query": query,
                "kinds": labels.audit_kind_labels(),
                "terms_text": labels.search_terms_text,
                # A changed row may break its own hash and the next row's link: count rows, not findings.
                "broken": broken,
                "checked": checked,
                "actor_name": _actor_name,
                "jst": svc.JST,
            },
        )

    @get("/audit.csv", guards=[requires("audit", "view")])
    async def audit_export(
        self, *, actions: NamedDependency[svc.ContractActions], trail: NamedDependency[svc.TrailFilters]
    ) -> Response[bytes]:
        """The filtered audit trail as CSV (UTF-8 with BOM); the export itself is recorded in the trail."""
        return download_response(await actions.export_trail(trail))

    @get("/new", guards=[requires("contract", "draft")])
    async def new(self) -> Redirect:
        """A new contract starts in the step editor (links and bookmarks to this address keep working)."""
        return Redirect("/contracts/drafts/new")

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=UPLOAD_LIMIT)
    async def create(self, *, data: FormData, actions: NamedDependency[svc.ContractActions]) -> Redirect:
        """Create the draft with its files, then show it."""
        contract = await actions.create(contract_input(data), await uploads(data))
        return _back(contract.id)

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def detail(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Template:
        """A contract: documents with page previews, parties, text boxes, actions."""
        return await _detail_page(actions, contract_id)

    @post(
        "/{contract_id:uuid}/documents/{document_id:uuid}/replace",
        guards=[requires("contract", "send")],
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def replace_document(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Replace a file of a contract that could not be sealed; it circulates again from the first party."""
        files = await uploads(data, "file")
        contract = await actions.replace_document(contract_id, document_id, files[0] if files else None)
        return _back(contract.id)

    @post("/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction", guards=[requires("contract", "send")])
    async def request_correction(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Ask the party who typed a value that cannot be sealed to correct it."""
        contract = await actions.request_correction(contract_id, text_box_id)
        return _back(contract.id)

    @post("/{contract_id:uuid}/documents", guards=[requires("contract", "draft")], request_max_body_size=UPLOAD_LIMIT)
    async def upload(
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Add PDFs to the draft."""
        await actions.add_documents(contract_id, await uploads(data))
        return _back(contract_id)

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")])
    async def add_party(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Add a contractor (or one from the address book) or a member signer."""
        # The contract is looked up first: another member's id is "not found" whatever the form says.
        await actions.contract(contract_id)
        await actions.add_party(contract_id, _party_input(data))
        return _back(contract_id, "#parties")

    @get("/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")])
    async def password_form(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
        done: FromQuery[bool] = False,
    ) -> Template:
        """The form for a contractor's new access password (after a lock-out, for a forwardee …)."""
        contract, party = await actions.contractor(contract_id, party_id)
        return Template(
            "signing/password.html",
            context={
                "contract": contract,
                "party": party,
                "party_labels": labels.party_status_labels(),
                "done": done,
                "suggestion": svc.suggested_password(),
                "min_length": svc.MIN_CONTRACTOR_PASSWORD,
            },
        )

    @post("/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")])
    async def set_password(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: UrlForm,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Set the new password; it also unlocks the link. The same action as the API route."""
        party = await actions.set_password(contract_id, party_id, svc.PasswordInput(data.get("password", "")))
        return Redirect(path=f"/contracts/{contract_id}/parties/{party.id}/password?done=true", status_code=303)

    @post("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "draft")])
    async def add_box(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Place a box (from the drag on the preview, or typed into the numeric fields)."""
        await actions.contract(contract_id)
        await actions.add_text_box(contract_id, _text_box_input(data))
        return _back(contract_id, "#boxes")

    @post("/{contract_id:uuid}/send", guards=[requires("contract", "send")])
    async def send(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Start circulation, once the sender has seen who is mailed."""
        if not confirmed(data):
            return await confirm_page(actions, contract_id, svc.ContractStep.SEND, data)
        return _back((await actions.send(contract_id)).id, done="sent")

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")])
    async def cancel(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Cancel until completion, once the person has seen who is told."""
        if not confirmed(data):
            return await confirm_page(actions, contract_id, svc.ContractStep.CANCEL, data)
        return _back((await actions.cancel(contract_id)).id, done="cancelled")

    @post("/{contract_id:uuid}/sign", guards=[requires("contract", "sign")])
    async def sign(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Agree as a member signer, under the title granted, once the signer has seen the title.

        A value that cannot be agreed (a required box left empty, a character the
        seal cannot print, text too long for its box) brings the page back with
        the boxes as typed and the problem under each, before any confirmation.
        """
        if not confirmed(data):
            values = box_values(data)
            problems = await actions.sign_problems(contract_id, values)
            if problems:
                return await _detail_page(actions, contract_id, values=values, problems=problems)
            return await confirm_page(actions, contract_id, svc.ContractStep.SIGN, data)
        return _back((await actions.sign(contract_id, box_values(data))).id, done="signed")

    @post("/{contract_id:uuid}/check", guards=[requires("contract", "sign")], status_code=200)
    async def check(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Response[dict[str, dict[str, str]]]:
        """While the signer types: box id → why its value cannot be sealed (the check made on concluding)."""
        problems = await actions.sign_problems(contract_id, box_values(data), live=True)
        return Response({"problems": problems}, headers={"Cache-Control": "no-store"})

    @get("/{contract_id:uuid}/documents/{document_id:uuid}/pages/{page:int}", guards=[requires("contract", "view")])
    async def preview(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        page: FromPath[int],
        actions: NamedDependency[svc.ContractActions],
    ) -> Response[bytes]:
        """A page preview (PNG, rendered on the server)."""
        return png_response(await actions.preview(contract_id, document_id, page))

    @get("/{contract_id:uuid}/documents/{document_id:uuid}", guards=[requires("contract", "download")])
    async def download(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Response[bytes]:
        """Download a document (the sealed PDF once sealing finished)."""
        return download_response(await actions.download(contract_id, document_id))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")])
    async def certificate(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Response[bytes]:
        """Download the sealed certificate of conclusion (締結証明書) at any time after sealing."""
        return download_response(await actions.certificate(contract_id))
