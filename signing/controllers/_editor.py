"""The contract editor in steps: 基本情報 → ファイル → 当事者と順番 → 入力欄 → 確認して送信.

One page per step, each a plain form that works without JavaScript; the
script of the text-box step (``/static/editor.js``) adds drawing, moving and
resizing boxes on the page with the mouse and the arrow keys, and fills the
same fields. Positions are shown and typed in millimetres from the top-left
corner of the page, as a clerk measures on paper; the services keep PDF points
from the bottom-left. A refused entry comes back on the same step with the
reason next to its field and everything typed kept (status 4xx), never a
separate error page. Each handler calls one method of
:class:`signing.services.ContractActions`, as the API does.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import Invalid, NotFound, ServiceError
from core.i18n import gettext as _
from core.i18n import pgettext
from core.web import status_of
from policy.guards import requires, requires_member_staff
from signing import labels
from signing import services as svc
from signing.controllers._common import (
    UPLOAD_LIMIT,
    FormData,
    UrlForm,
    date_or_none,
    error_response,
    int_or_none,
    parse_uuid,
    provide_actions,
    uploads,
)
from signing.models import Contract, ContractDocument, ContractStatus, PartyKind, TextBox

PT_PER_MM = 72 / 25.4
"""PDF points in one millimetre."""

STEPS = ("details", "files", "parties", "boxes", "review")
"""The editor's steps in order (the URL's last part)."""

PARTY_COLOURS = ("#1f5fbf", "#b3261e", "#1b7f3b", "#8a4baf", "#b25f00", "#00707a", "#6b5d00", "#a4005b")
"""Colours of the parties' boxes and legend (each with a contrast of at least 4.5:1 on white)."""


def step_names() -> dict[str, str]:
    """The steps as the progress bar names them."""
    return {
        "details": pgettext("editor step", "Particulars"),
        "files": pgettext("editor step", "Files"),
        "parties": pgettext("editor step", "Parties and order"),
        "boxes": pgettext("editor step", "Text fields"),
        "review": pgettext("editor step", "Review and send"),
    }


def mm(points: float) -> float:
    """Points → millimetres, one decimal."""
    return round(points / PT_PER_MM, 1)


@dataclass
class BoxView:
    """A text box as the editor shows it: millimetres from the page's top-left corner, its party's colour."""

    box: TextBox
    left: float
    top: float
    width: float
    height: float
    colour: str
    party: str


def box_view(box: TextBox, document: ContractDocument, colours: dict[uuid.UUID, tuple[str, str]]) -> BoxView:
    page_height = document.page_sizes[box.page][1]
    colour, party = colours.get(box.party_id, ("#555555", ""))
    return BoxView(
        box=box,
        left=mm(box.x),
        top=mm(page_height - box.y - box.height),
        width=mm(box.width),
        height=mm(box.height),
        colour=colour,
        party=party,
    )


@dataclass
class Problem:
    """A refused entry: the message, the field it belongs to (None: the form as a whole), which form."""

    message: str
    field: str | None = None
    form: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    status: int = 400


def _field_of(message: str) -> str | None:
    """The field a service's message is about (services speak of the request, the screen of its fields)."""
    fields = {
        _("Please enter the subject."): "subject",
        _("The subject cannot contain line breaks or control characters."): "subject",
        _("The particulars cannot contain line breaks or control characters."): "subject",
        _("The amount cannot be negative."): "amount",
        _("Please enter the amount as a number of yen."): "amount",
        _("Please enter dates as YYYY-MM-DD."): "transaction_date",
        _("Please choose a contract title of your organisation."): "title_id",
        _("Please enter the contractor's name and a valid e-mail address."): "email",
        _("Names cannot contain line breaks or control characters."): "name",
        _("Please set an access password of at least {n} characters for the contractor.").format(
            n=svc.MIN_CONTRACTOR_PASSWORD
        ): "password",
        _("Please choose a staff member of your organisation."): "signer",
        _("The page does not exist in this document."): "page",
        _("The box must lie on the page and be at least 3.5 mm wide and 2.8 mm high."): "left",
        _("Please enter the position and size as numbers."): "left",
        _("Please enter a label for the box."): "label",
        _("The label cannot contain line breaks or control characters."): "label",
        _("Please confirm that you have checked what will be sent."): "confirm",
    }
    if message in fields:
        return fields[message]
    if "title" in message or "名義" in message:
        return "signer"
    return None


def _number(raw: object) -> float:
    try:
        return float(str(raw or "").replace(",", ".").strip())
    except ValueError as exc:
        raise Invalid(_("Please enter the position and size as numbers.")) from exc


def _box_place(form: dict[str, str], document: ContractDocument) -> tuple[int, float, float, float, float]:
    """Page (zero-based) and x, y, width, height in points from millimetres measured from the top-left."""
    try:
        page = int(form.get("page", "")) - 1
    except ValueError as exc:
        raise Invalid(_("The page does not exist in this document.")) from exc
    if not 0 <= page < document.page_count:
        raise Invalid(_("The page does not exist in this document."))
    left, top, width, height = (_number(form.get(k)) for k in ("left", "top", "width", "height"))
    page_height = document.page_sizes[page][1]
    x, w, h = left * PT_PER_MM, width * PT_PER_MM, height * PT_PER_MM
    y = page_height - top * PT_PER_MM - h
    return page, round(x, 2), round(y, 2), round(w, 2), round(h, 2)


def _document(contract: Contract, raw: object) -> ContractDocument:
    wanted = parse_uuid(raw, _("Please choose a document and a party of this contract."))
    document = next((d for d in contract.documents if d.id == wanted), None)
    if document is None:
        raise Invalid(_("Please choose a document and a party of this contract."))
    return document


def _draft_changes(form: dict[str, Any]) -> svc.DraftChanges:
    """Every particular of the form; an empty optional field empties it."""
    amount = int_or_none(form.get("amount"), _("Please enter the amount as a number of yen."))
    date = date_or_none(form.get("transaction_date"))
    changes = svc.DraftChanges(
        subject=str(form.get("subject") or ""),
        contract_number=str(form.get("contract_number") or ""),
        amount=amount,
        transaction_date=date,
        counterparty=str(form.get("counterparty") or ""),
        title_id=parse_uuid(form.get("title_id"), _("Please choose a contract title of your organisation.")),
    )
    changes.clear = [name for name, value in (("amount", amount), ("transaction_date", date)) if value is None]
    return changes


def _party_input(form: dict[str, str], contract: Contract) -> svc.PartyInput:
    order = svc.next_order(contract, parallel=form.get("parallel") == "on")
    kind = PartyKind.STAFF if form.get("kind") == "staff" else PartyKind.CONTRACTOR
    data = svc.PartyInput(
        order_no=order,
        kind=kind,
        name=form.get("name", ""),
        email=form.get("email", ""),
        company=form.get("company", ""),
        password=form.get("password", "").strip(),
    )
    if kind is PartyKind.STAFF:
        staff_id, _sep, title_id = form.get("signer", "").partition(":")
        data.staff_id = parse_uuid(staff_id, _("Please choose a staff member of your organisation."))
        data.title_id = parse_uuid(title_id, _("Please choose a contract title of your organisation."))
    elif form.get("address_book_entry_id"):
        data.address_book_entry_id = parse_uuid(
            form["address_book_entry_id"], _("The address book entry was not found.")
        )
    return data


def _to(contract_id: uuid.UUID, step: str, query: str = "") -> Redirect:
    return Redirect(path=f"/contracts/{contract_id}/edit/{step}{'?' + query if query else ''}", status_code=303)


class ContractEditorController(Controller):
    """The staff's contract editor in steps, and delete, copy and revise from the contract page."""

    path = "/contracts"
    dependencies = {"actions": Provide(provide_actions)}  # noqa: RUF012
    include_in_schema = False
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    async def _page(
        self,
        actions: svc.ContractActions,
        step: str,
        contract: Contract | None,
        *,
        problem: Problem | None = None,
        query: dict[str, str] | None = None,
    ) -> Template:
        """The page of one step, with a refused entry shown on its form."""
        query = query or {}
        context: dict[str, Any] = {
            "step": step,
            "steps": step_names(),
            "contract": contract,
            "problem": problem,
            "principal": actions.principal,
            "titles": await actions.titles(),
            "limits": actions.settings.contracts,
            "min_password": svc.MIN_CONTRACTOR_PASSWORD,
            "labels": labels.contract_status_labels(),
        }
        if contract is not None:
            view = await actions.view(contract.id)
            contract = view.contract
            colours = {p.id: (PARTY_COLOURS[i % len(PARTY_COLOURS)], p.label) for i, p in enumerate(contract.parties)}
            documents = {d.id: d for d in contract.documents}
            boxes = [box_view(b, documents[b.document_id], colours) for b in view.boxes if b.document_id in documents]
            document = next((d for d in contract.documents if str(d.id) == query.get("document")), None)
            document = document or (contract.documents[0] if contract.documents else None)
            try:
                page = max(1, int(query.get("page") or 1))
            except ValueError:
                page = 1
            if document is not None:
                page = min(page, document.page_count)
            selected = next((b for b in boxes if str(b.box.id) == query.get("box")), None)
            if selected is not None:
                document = documents[selected.box.document_id]
                page = selected.box.page + 1
            context.update(
                contract=contract,
                steps_of_parties=svc.steps(contract.parties),
                colours=colours,
                boxes=boxes,
                document=document,
                page=page,
                page_size=(mm(document.page_sizes[page - 1][0]), mm(document.page_sizes[page - 1][1]))
                if document
                else None,
                selected=selected,
                signers=view.signers,
                book=view.address_book,
                party_labels=labels.party_status_labels(),
                suggestion=svc.suggested_password(),
                editable=contract.status is ContractStatus.DRAFT,
            )
        status = status_of_problem(problem)
        return Template(f"signing/editor/{step}.html", context=context, status_code=status)

    async def _refused(
        self,
        actions: svc.ContractActions,
        step: str,
        contract_id: uuid.UUID | None,
        exc: ServiceError,
        *,
        form: str,
        values: dict[str, Any],
        query: dict[str, str] | None = None,
    ) -> Template:
        if isinstance(exc, NotFound):
            raise exc
        # The change was refused before anything was written; this request's session is rolled back anyway.
        await actions.discard()
        contract = await actions.contract(contract_id) if contract_id else None
        kept = {k: v for k, v in values.items() if k != "_csrf_token"}
        problem = Problem(exc.message, _field_of(exc.message), form, kept, status_of(exc))
        return await self._page(actions, step, contract, problem=problem, query=query)

    # ------------------------------------------------------------------ steps

    @get("/drafts/new", guards=[requires("contract", "draft")])
    async def new(self, *, actions: NamedDependency[svc.ContractActions]) -> Template:
        """Step 1 of a new contract: its particulars."""
        return await self._page(actions, "details", None)

    @post("/drafts", guards=[requires("contract", "draft")])
    async def create(self, *, data: UrlForm, actions: NamedDependency[svc.ContractActions]) -> Redirect | Template:
        """Create the draft from step 1 and go on to its files."""
        try:
            changes = _draft_changes(data)
            contract = await actions.create(
                svc.ContractInput(
                    subject=changes.subject or "",
                    title_id=changes.title_id or uuid.UUID(int=0),
                    contract_number=changes.contract_number or "",
                    amount=changes.amount,
                    transaction_date=changes.transaction_date,
                    counterparty=changes.counterparty or "",
                )
            )
        except ServiceError as exc:
            return await self._refused(actions, "details", None, exc, form="details", values=data)
        return _to(contract.id, "files")

    @get("/{contract_id:uuid}/edit", guards=[requires("contract", "draft")])
    async def start(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """The editor opens at its first step."""
        await actions.contract(contract_id)
        return _to(contract_id, "details")

    @get([f"/{{contract_id:uuid}}/edit/{name}" for name in STEPS], guards=[requires("contract", "draft")])
    async def show(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
        document: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
        box: FromQuery[str | None] = None,
    ) -> Template:
        """One step of the editor (the review step also after sending, as a record of what was sent)."""
        contract = await actions.contract(contract_id)
        step = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        return await self._page(
            actions, step, contract, query={"document": document or "", "page": page or "", "box": box or ""}
        )

    @post("/{contract_id:uuid}/edit/details", guards=[requires("contract", "draft")])
    async def save_details(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Save the particulars and go on to the files."""
        await actions.contract(contract_id)
        try:
            await actions.edit(contract_id, _draft_changes(data))
        except ServiceError as exc:
            return await self._refused(actions, "details", contract_id, exc, form="details", values=data)
        return _to(contract_id, "files")

    @post("/{contract_id:uuid}/edit/files", guards=[requires("contract", "draft")], request_max_body_size=UPLOAD_LIMIT)
    async def add_files(
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Add PDFs (every one checked; one refused stores none)."""
        await actions.contract(contract_id)
        try:
            await actions.add_documents(contract_id, await uploads(data))
        except ServiceError as exc:
            return await self._refused(actions, "files", contract_id, exc, form="add", values={})
        return _to(contract_id, "files")

    @post(
        "/{contract_id:uuid}/edit/files/{document_id:uuid}/replace",
        guards=[requires("contract", "draft")],
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def replace_file(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect | Template:
        """Replace a file of the draft; its boxes keep their place."""
        await actions.contract(contract_id)
        files = await uploads(data, "file")
        try:
            await actions.replace_draft_document(contract_id, document_id, files[0] if files else None)
        except ServiceError as exc:
            return await self._refused(actions, "files", contract_id, exc, form=f"replace-{document_id}", values={})
        return _to(contract_id, "files")

    @post("/{contract_id:uuid}/edit/files/{document_id:uuid}/remove", guards=[requires("contract", "draft")])
    async def remove_file(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Remove a file with the boxes placed on it."""
        await actions.remove_document(contract_id, document_id)
        return _to(contract_id, "files")

    @post("/{contract_id:uuid}/edit/parties", guards=[requires("contract", "draft")])
    async def add_party(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Add a contractor or a signer as the next step (or in parallel with the last)."""
        contract = await actions.contract(contract_id)
        form = "staff" if data.get("kind") == "staff" else "contractor"
        try:
            await actions.add_party(contract_id, _party_input(data, contract))
        except ServiceError as exc:
            return await self._refused(actions, "parties", contract_id, exc, form=form, values=data)
        return _to(contract_id, "parties")

    @post("/{contract_id:uuid}/edit/parties/{party_id:uuid}", guards=[requires("contract", "draft")])
    async def edit_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: UrlForm,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect | Template:
        """Correct a party."""
        await actions.contract(contract_id)
        changes = svc.PartyChanges(
            company=data.get("company"),
            name=data.get("name"),
            email=data.get("email"),
            password=(data.get("password") or "").strip() or None,
        )
        try:
            if data.get("signer"):
                staff_id, _sep, title_id = data["signer"].partition(":")
                changes.staff_id = parse_uuid(staff_id, _("Please choose a staff member of your organisation."))
                changes.title_id = parse_uuid(title_id, _("Please choose a contract title of your organisation."))
            await actions.edit_party(contract_id, party_id, changes)
        except ServiceError as exc:
            return await self._refused(actions, "parties", contract_id, exc, form=f"party-{party_id}", values=data)
        return _to(contract_id, "parties")

    @post("/{contract_id:uuid}/edit/parties/{party_id:uuid}/remove", guards=[requires("contract", "draft")])
    async def remove_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Remove a party with the boxes it would fill."""
        await actions.remove_party(contract_id, party_id)
        return _to(contract_id, "parties")

    @post("/{contract_id:uuid}/edit/parties/{party_id:uuid}/move", guards=[requires("contract", "draft")])
    async def move_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: UrlForm,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Move a party a step up or down, in parallel with the step before, or apart."""
        how = data.get("how", "")
        if how not in ("up", "down", "together", "apart"):
            raise Invalid(_("Please choose how to move the party."))
        await actions.move_party(contract_id, party_id, how)  # type: ignore[arg-type]
        return Redirect(path=f"/contracts/{contract_id}/edit/parties#party-{party_id}", status_code=303)

    @post("/{contract_id:uuid}/edit/boxes", guards=[requires("contract", "draft")])
    async def add_box(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Place a box (millimetres from the page's top-left corner)."""
        contract = await actions.contract(contract_id)
        query = {"document": data.get("document_id", ""), "page": data.get("page", "")}
        try:
            document = _document(contract, data.get("document_id"))
            page, x, y, width, height = _box_place(data, document)
            box = await actions.add_text_box(
                contract_id,
                svc.TextBoxInput(
                    document_id=document.id,
                    party_id=parse_uuid(
                        data.get("party_id"), _("Please choose a document and a party of this contract.")
                    ),
                    page=page,
                    x=x,
                    y=y,
                    width=width,
                    height=height,
                    label=data.get("label", ""),
                    required=data.get("required") == "on",
                ),
            )
        except ServiceError as exc:
            return await self._refused(actions, "boxes", contract_id, exc, form="new-box", values=data, query=query)
        return _to(contract_id, "boxes", f"box={box.id}")

    @post("/{contract_id:uuid}/edit/boxes/{text_box_id:uuid}", guards=[requires("contract", "draft")])
    async def edit_box(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        data: UrlForm,
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect | Template:
        """Move, resize, relabel or reassign a box."""
        contract = await actions.contract(contract_id)
        query = {"box": str(text_box_id)}
        try:
            current = next((b for b in await actions.text_boxes(contract_id) if b.id == text_box_id), None)
            if current is None:
                raise NotFound(_("The text box was not found."))
            document = next(d for d in contract.documents if d.id == current.document_id)
            page, x, y, width, height = _box_place(data, document)
            await actions.edit_text_box(
                contract_id,
                text_box_id,
                svc.TextBoxChanges(
                    page=page,
                    x=x,
                    y=y,
                    width=width,
                    height=height,
                    label=data.get("label", ""),
                    party_id=parse_uuid(
                        data.get("party_id"), _("Please choose a document and a party of this contract.")
                    ),
                    required=data.get("required") == "on",
                ),
            )
        except ServiceError as exc:
            return await self._refused(actions, "boxes", contract_id, exc, form="box", values=data, query=query)
        return _to(contract_id, "boxes", f"box={text_box_id}")

    @post("/{contract_id:uuid}/edit/boxes/{text_box_id:uuid}/remove", guards=[requires("contract", "draft")])
    async def remove_box(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Redirect:
        """Delete a box."""
        box = next((b for b in await actions.text_boxes(contract_id) if b.id == text_box_id), None)
        await actions.remove_text_box(contract_id, text_box_id)
        query = f"document={box.document_id}&page={box.page + 1}" if box else ""
        return _to(contract_id, "boxes", query)

    @post("/{contract_id:uuid}/edit/review", guards=[requires("contract", "send")])
    async def send(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Send, once the person has ticked that they checked what goes to whom."""
        await actions.contract(contract_id)
        try:
            if data.get("confirm") != "on":
                raise Invalid(_("Please confirm that you have checked what will be sent."))
            await actions.send(contract_id)
        except ServiceError as exc:
            return await self._refused(actions, "review", contract_id, exc, form="send", values=data)
        return Redirect(path=f"/contracts/{contract_id}?done=sent", status_code=303)

    @post("/{contract_id:uuid}/edit/delete", guards=[requires("contract", "draft")])
    async def delete(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect | Template:
        """Delete the draft, once the person has confirmed it."""
        await actions.contract(contract_id)
        try:
            if data.get("confirm_delete") != "on":
                raise Invalid(_("Please confirm that the draft is to be deleted."))
            await actions.delete_draft(contract_id)
        except ServiceError as exc:
            return await self._refused(actions, "review", contract_id, exc, form="delete", values=data)
        return Redirect(path="/contracts/?done=deleted", status_code=303)

    @post("/{contract_id:uuid}/copy", guards=[requires("contract", "draft")])
    async def copy(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """A new draft from this contract, opened in the editor."""
        return _to((await actions.copy(contract_id)).id, "details")

    @post("/{contract_id:uuid}/revise", guards=[requires("contract", "draft")])
    async def revise(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """A new version of a declined contract, opened in the editor."""
        return _to((await actions.revise(contract_id)).id, "details")


def status_of_problem(problem: Problem | None) -> int:
    """200 for a page, the refusal's status when it shows a refused entry."""
    return problem.status if problem is not None else 200


__all__ = ["PT_PER_MM", "STEPS", "ContractEditorController", "mm", "step_names"]
