"""HTTP: the contracts API, the staff screens and the contractor pages.

Handlers stay thin: each turns the request into the input of one service
method (:class:`signing.services.ContractActions` for staff and other systems,
:class:`signing.services.ContractorLink` for a contractor's link) and its result
into JSON, a page or a download. The HTML handler and its JSON twin call the
same method with the same input. Who may do what is said by the guards; which
rows they may see by the services' repository.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, Invalid, Locked, ServiceError
from core.i18n import gettext as _
from core.settings import Settings, get_settings
from core.web import client_ip, status_of
from policy.guards import current_principal, requires, requires_member_staff
from signing import services as svc
from signing.audit import Origin
from signing.conclusion import failure_message
from signing.models import AuditKind, ContractStatus, PartyKind
from signing.schemas import ContractOut, ContractPage, ContractStatusOut, DocumentOut, PartyOut, TextBoxOut

__all__ = ["ContractApiController", "ContractPagesController", "ContractorController"]

MB = 1024 * 1024
_UPLOAD_LIMIT = (get_settings().contracts.max_contract_mb + 16) * MB
"""Request bodies of upload routes may carry a whole contract's files (the services check each limit)."""
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
UrlForm = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
GATE_COOKIE = "kyodo_c"


def _settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def _origin(request: Request[Any, Any, Any]) -> Origin:
    return Origin(ip=client_ip(request.scope), user_agent=request.headers.get("user-agent", ""))


async def provide_actions(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> svc.ContractActions:
    """The contract actions of the signed-in staff member or API key."""
    return svc.ContractActions(db_session, _settings(state), current_principal(request), _origin(request))


def _error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    status = status_of(exc)
    if request.url.path.startswith("/api/"):
        return Response({"status_code": status, "detail": exc.message}, status_code=status)
    return Template(
        "signing/problem.html",
        context={"title": _("The request could not be completed"), "message": exc.message},
        status_code=status,
    )


async def _uploads(data: dict[str, Any], name: str = "files") -> list[svc.UploadedFile]:
    value = data.get(name)
    values = value if isinstance(value, list) else [value]
    return [svc.UploadedFile(v.filename, await v.read()) for v in values if isinstance(v, UploadFile)]


def _int_or_none(raw: object, message: str) -> int | None:
    text = str(raw or "").replace(",", "").replace("円", "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise Invalid(message) from exc


def _date_or_none(raw: object) -> dt.date | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(_("Please enter dates as YYYY-MM-DD.")) from exc


def _uuid(raw: object, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise Invalid(message) from exc


def _contract_input(form: dict[str, Any]) -> svc.ContractInput:
    """The fields of a new contract, from the form of the screen or the multipart body of the API."""
    return svc.ContractInput(
        subject=str(form.get("subject") or ""),
        title_id=_uuid(form.get("title_id"), _("Please choose a contract title of your organisation.")),
        contract_number=str(form.get("contract_number") or ""),
        amount=_int_or_none(form.get("amount"), _("Please enter the amount as a number of yen.")),
        transaction_date=_date_or_none(form.get("transaction_date")),
        counterparty=str(form.get("counterparty") or ""),
        department_id=_uuid(form["department_id"], _("Please choose a department of your organisation."))
        if form.get("department_id")
        else None,
    )


def _box_values(form: dict[str, str]) -> dict[str, str]:
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
) -> svc.SearchFilters:
    """The search keys of the list, the API and the CSV export, read from the query once."""
    amount_message = _("Please enter the amount as a number of yen.")
    try:
        state = ContractStatus(status) if status else None
    except ValueError:
        state = None
    return svc.SearchFilters(
        word=word or "",
        date_from=_date_or_none(date_from),
        date_to=_date_or_none(date_to),
        amount_min=_int_or_none(amount_min, amount_message),
        amount_max=_int_or_none(amount_max, amount_message),
        counterparty=counterparty or "",
        status=state,
    )


async def provide_trail_filters(
    *,
    contract: FromQuery[str | None] = None,
    date_from: FromQuery[str | None] = None,
    date_to: FromQuery[str | None] = None,
) -> svc.TrailFilters:
    """The keys of the audit-log screen and its CSV export, read from the query once."""
    return svc.TrailFilters(
        contract=(contract or "")[:200], date_from=_date_or_none(date_from), date_to=_date_or_none(date_to)
    )


def audit_kind_labels() -> dict[str, str]:
    """What each kind of audit event is called on the screen and in the export (in the user's language)."""
    return {
        AuditKind.CREATED: _("Created"),
        AuditKind.UPLOADED: _("File uploaded"),
        AuditKind.UPDATED: _("Changed"),
        AuditKind.SENT: _("Sent"),
        AuditKind.NOTIFIED: _("Request mailed"),
        AuditKind.REMINDED: _("Reminder mailed"),
        AuditKind.OPENED: _("Opened with the access password"),
        AuditKind.PASSWORD_FAILED: _("Wrong access password"),
        AuditKind.LOCKED: _("Link locked"),
        AuditKind.FILLED: _("Text boxes filled"),
        AuditKind.AGREED: _("Agreed"),
        AuditKind.DECLINED: _("Declined"),
        AuditKind.FORWARDED: _("Forwarded"),
        AuditKind.CANCELLED: _("Cancelled"),
        AuditKind.COMPLETED: _("Every party agreed"),
        AuditKind.DOWNLOADED: _("Downloaded"),
        AuditKind.SEALED: _("Sealed"),
        AuditKind.SEAL_FAILED: _("Could not be sealed"),
        AuditKind.RECIRCULATED: _("Circulated again"),
        AuditKind.RENEWED: _("Timestamp renewed"),
        AuditKind.SEARCHED: _("Searched"),
        AuditKind.EXPORTED: _("Exported"),
    }


def _actor_name(actor: str) -> str:
    """``staff:<id> 起案 太郎`` → ``起案 太郎``: the id stays in the CSV export."""
    kind, _sep, rest = actor.partition(" ")
    return rest if ":" in kind and rest else actor


_SPOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""Letters and digits that cannot be mistaken for each other when read out on the phone (no l/1, o/0, i)."""


def _suggested_password(length: int = 10) -> str:
    return "".join(secrets.choice(_SPOKEN_ALPHABET) for _i in range(length))


def _download(download: svc.Download) -> Response[bytes]:
    """A file as an attachment that is never cached or sniffed; a contract document says whether it is sealed."""
    if download.media_type == "application/pdf":
        disposition = f"attachment; filename=\"contract.pdf\"; filename*=UTF-8''{quote(download.file_name)}"
    else:
        disposition = f'attachment; filename="{download.file_name}"'
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if download.sealed is not None:
        headers["X-Kyodo-Sealed"] = "true" if download.sealed else "false"
    return Response(download.data, media_type=download.media_type, headers=headers)


def _png(data: bytes) -> Response[bytes]:
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, no-store"})


# --------------------------------------------------------------------------- API


class ContractApiController(Controller):
    """Contracts for other systems of a member (API key), JSON."""

    path = "/api/v1/contracts"
    dependencies = {"filters": Provide(provide_search_filters), "actions": Provide(provide_actions)}  # noqa: RUF012
    tags = ["contracts"]  # noqa: RUF012
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT, status_code=201)
    async def create(self, *, data: FormData, actions: NamedDependency[svc.ContractActions]) -> ContractOut:
        """Create a draft (multipart: subject, title_id, contract_number, amount, transaction_date, counterparty,
        department_id, and one or more ``files``)."""
        return ContractOut.of(await actions.create(_contract_input(data), await _uploads(data)))

    @get("/", guards=[requires("contract", "view")])
    async def list_contracts(
        self,
        *,
        actions: NamedDependency[svc.ContractActions],
        filters: NamedDependency[svc.SearchFilters],
        page: FromQuery[int] = 1,
        per_page: FromQuery[int] = 50,
    ) -> ContractPage:
        """List and search (word in the file name or subject, date and amount ranges, counterparty; AND)."""
        result = await actions.search(filters, page=page, per_page=per_page)
        return ContractPage(
            items=[ContractOut.of(c, full=False) for c in result.items],
            page=result.page,
            per_page=result.per_page,
            has_next=result.has_next,
        )

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def get_one(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractOut:
        """One contract with its documents and parties."""
        return ContractOut.of(await actions.contract(contract_id))

    @get("/{contract_id:uuid}/status", guards=[requires("contract", "view")])
    async def status(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Status of the contract and of every party."""
        return ContractStatusOut.of(await actions.contract(contract_id))

    @post(
        "/{contract_id:uuid}/documents",
        guards=[requires("contract", "draft")],
        request_max_body_size=_UPLOAD_LIMIT,
        status_code=201,
    )
    async def upload(
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, actions: NamedDependency[svc.ContractActions]
    ) -> list[DocumentOut]:
        """Add PDFs (multipart ``files``) to a draft."""
        added = await actions.add_documents(contract_id, await _uploads(data))
        return [DocumentOut.of(d) for d in added]

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")], status_code=201)
    async def add_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.PartyInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> PartyOut:
        """Add a party; the same ``order_no`` means in parallel; ``address_book_entry_id`` takes a contractor
        from the member's address book."""
        return PartyOut.of(await actions.add_party(contract_id, data))

    @post(
        "/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")], status_code=200
    )
    async def set_password(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: JSONBody[svc.PasswordInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> PartyOut:
        """Set a new access password for a contractor (e.g. for a forwardee, or after a lock-out)."""
        return PartyOut.of(await actions.set_password(contract_id, party_id, data))

    @post("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "draft")], status_code=201)
    async def add_box(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.TextBoxInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> TextBoxOut:
        """Place a text box (PDF points, origin bottom-left, zero-based page)."""
        return TextBoxOut.of(await actions.add_text_box(contract_id, data))

    @post("/{contract_id:uuid}/send", guards=[requires("contract", "send")], status_code=200)
    async def send(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Start circulation: the first party (or parties) get their mail."""
        return ContractStatusOut.of(await actions.send(contract_id))

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")], status_code=200)
    async def cancel(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Cancel until completion; every link stops working."""
        return ContractStatusOut.of(await actions.cancel(contract_id))

    @post(
        "/{contract_id:uuid}/documents/{document_id:uuid}/replace",
        guards=[requires("contract", "send")],
        request_max_body_size=_UPLOAD_LIMIT,
        status_code=200,
    )
    async def replace_document(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
    ) -> ContractStatusOut:
        """Replace a file of a contract that could not be sealed (status ``seal_failed``; multipart ``file``).

        Every party is asked to agree again, from the first.
        """
        files = await _uploads(data, "file")
        contract = await actions.replace_document(contract_id, document_id, files[0] if files else None)
        return ContractStatusOut.of(contract)

    @post(
        "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction",
        guards=[requires("contract", "send")],
        status_code=200,
    )
    async def request_correction(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> ContractStatusOut:
        """Ask the party who entered a value that cannot be sealed to correct it (status ``seal_failed``)."""
        return ContractStatusOut.of(await actions.request_correction(contract_id, text_box_id))

    @get(
        "/{contract_id:uuid}/documents/{document_id:uuid}",
        guards=[requires("contract", "download")],
        media_type="application/pdf",
    )
    async def download(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Response[bytes]:
        """The document (sealed when sealing has finished)."""
        return _download(await actions.download(contract_id, document_id))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")], media_type="application/pdf")
    async def certificate(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Response[bytes]:
        """The sealed certificate of conclusion (締結証明書)."""
        return _download(await actions.certificate(contract_id))


# --------------------------------------------------------------------------- staff screens


def _party_input(form: dict[str, str]) -> svc.PartyInput:
    """A party from the form of the contract page: a contractor, one from the address book, or a signer."""
    order = _int_or_none(form.get("order_no"), _("The order must be a number from 1 to 1000.")) or 0
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
        data.staff_id = _uuid(staff_id, _("Please choose a staff member of your organisation."))
        data.title_id = _uuid(title_id, _("Please choose a contract title of your organisation."))
    elif form.get("address_book_entry_id"):
        data.address_book_entry_id = _uuid(form["address_book_entry_id"], _("The address book entry was not found."))
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
        document_id=_uuid(form.get("document_id"), which),
        party_id=_uuid(form.get("party_id"), which),
        page=page,
        x=x,
        y=y,
        width=width,
        height=height,
        label=form.get("label", ""),
        required=form.get("required") == "on",
    )


def _back(contract_id: uuid.UUID, anchor: str = "") -> Redirect:
    return Redirect(path=f"/contracts/{contract_id}{anchor}", status_code=303)


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
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

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
                "labels": svc.STATUS_LABELS,
                "query": request.url.query or "",
                "principal": actions.principal,
            },
        )

    @get("/export.csv", guards=[requires("contract", "view")])
    async def export(
        self, *, actions: NamedDependency[svc.ContractActions], filters: NamedDependency[svc.SearchFilters]
    ) -> Response[bytes]:
        """The search result as CSV (UTF-8 with BOM, for Excel)."""
        return _download(await actions.export(filters))

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
                "kinds": audit_kind_labels(),
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
        return _download(await actions.export_trail(trail, audit_kind_labels()))

    @get("/new", guards=[requires("contract", "draft")])
    async def new(self, *, actions: NamedDependency[svc.ContractActions]) -> Template:
        """The form of a new contract."""
        return Template(
            "signing/new.html", context={"titles": await actions.titles(), "limits": actions.settings.contracts}
        )

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT)
    async def create(self, *, data: FormData, actions: NamedDependency[svc.ContractActions]) -> Redirect:
        """Create the draft with its files, then show it."""
        contract = await actions.create(_contract_input(data), await _uploads(data))
        return _back(contract.id)

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def detail(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Template:
        """A contract: documents with page previews, parties, text boxes, actions."""
        view = await actions.view(contract_id)
        return Template(
            "signing/detail.html",
            context={
                "contract": view.contract,
                "boxes": view.boxes,
                "signers": view.signers,
                "book": view.address_book,
                "labels": svc.STATUS_LABELS,
                "party_labels": svc.PARTY_STATUS_LABELS,
                "principal": actions.principal,
                "my_turn": view.my_turn,
                "my_boxes": view.my_boxes,
                "seal_failure": failure_message(view.contract.seal_failure),
                "correctable_box": view.correctable_box,
            },
        )

    @post(
        "/{contract_id:uuid}/documents/{document_id:uuid}/replace",
        guards=[requires("contract", "send")],
        request_max_body_size=_UPLOAD_LIMIT,
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
        files = await _uploads(data, "file")
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

    @post("/{contract_id:uuid}/documents", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT)
    async def upload(
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Add PDFs to the draft."""
        await actions.add_documents(contract_id, await _uploads(data))
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
                "party_labels": svc.PARTY_STATUS_LABELS,
                "done": done,
                "suggestion": _suggested_password(),
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
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Start circulation."""
        return _back((await actions.send(contract_id)).id)

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")])
    async def cancel(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Cancel until completion."""
        return _back((await actions.cancel(contract_id)).id)

    @post("/{contract_id:uuid}/sign", guards=[requires("contract", "sign")])
    async def sign(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, actions: NamedDependency[svc.ContractActions]
    ) -> Redirect:
        """Agree as a member signer, under the title granted."""
        return _back((await actions.sign(contract_id, _box_values(data))).id)

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
        return _png(await actions.preview(contract_id, document_id, page))

    @get("/{contract_id:uuid}/documents/{document_id:uuid}", guards=[requires("contract", "download")])
    async def download(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Response[bytes]:
        """Download a document (the sealed PDF once sealing finished)."""
        return _download(await actions.download(contract_id, document_id))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")])
    async def certificate(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Response[bytes]:
        """Download the sealed certificate of conclusion (締結証明書) at any time after sealing."""
        return _download(await actions.certificate(contract_id))


# --------------------------------------------------------------------------- contractor pages


class ContractorController(Controller):
    """Pages for contractors: no account, a personal link and the password staff gave them."""

    path = "/c"
    include_in_schema = False
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

    async def _open(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State, token: str
    ) -> svc.ContractorLink:
        return await svc.ContractorLink.open(session, _settings(state), token, _origin(request))

    def _passed_gate(self, request: Request[Any, Any, Any], link: svc.ContractorLink) -> bool:
        return hmac.compare_digest(request.cookies.get(GATE_COOKIE, ""), link.gate_value())

    async def _gated(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State, token: str
    ) -> svc.ContractorLink:
        link = await self._open(request, session, state, token)
        if link.party.locked or not self._passed_gate(request, link):
            raise Forbidden(_("Please enter the access password first."))
        return link

    async def _page(self, link: svc.ContractorLink, token: str) -> dict[str, Any]:
        return {
            "party": link.party,
            "contract": link.contract,
            "token": token,
            "boxes": await link.boxes(),
            "labels": svc.STATUS_LABELS,
            "error": "",
            "can_answer": link.can_answer,
            "can_download": link.can_download,
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
            return Template("signing/gate.html", context={"token": token, "contract": link.contract, "error": ""})
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
                context={"token": token, "contract": link.contract, "error": message},
                status_code=423 if link.party.locked else 400,
            )
        response = Redirect(path=f"/c/{token}", status_code=303)
        response.set_cookie(
            GATE_COOKIE,
            link.gate_value(),
            path=f"/c/{token}",
            httponly=True,
            samesite="lax",
            secure=_settings(state).security.secure_cookies,
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
        return _png(await link.preview(document_id, page))

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
        """Fill the boxes and agree."""
        link = await self._gated(request, db_session, state, token)
        await link.agree(_box_values(data))
        return Template("signing/done.html", context={"message": _("Thank you. Your agreement has been recorded.")})

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
        return _download(await link.download(document_id))

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
        return _download(await link.certificate())
