"""HTTP: the contracts API, the staff screens and the contractor pages.

Handlers stay thin: they turn requests into service calls (signing.services)
and service results into JSON or pages. Who may do what is said by the guards;
which rows they may see by the member-scoped session and ``visible_to``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Forbidden, Invalid, Locked, NotFound, ServiceError, Unavailable
from core.i18n import gettext as _
from core.scope import Principal, elevated, for_member
from core.settings import Settings, get_settings
from core.web import client_ip, status_of
from policy.guards import current_principal, requires, requires_member_staff
from signing import conclusion
from signing import services as svc
from signing.audit import Actor, append_event, verify_member_trail
from signing.blobs import BlobStore
from signing.conclusion import failure_message
from signing.models import (
    AuditKind,
    Contract,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
    TextBox,
)
from signing.pdfcheck import PdfLimits
from signing.pdfgate import PreviewUnavailableError, page_preview
from signing.repositories import ContractRepository
from signing.schemas import (
    ContractOut,
    ContractPage,
    ContractStatusOut,
    DocumentOut,
    PartyIn,
    PartyOut,
    PasswordIn,
    TextBoxIn,
    TextBoxOut,
)

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


def _actor(request: Request[Any, Any, Any], principal: Principal) -> Actor:
    return Actor(
        actor=f"{principal.kind.value}:{principal.id} {principal.name}",
        ip=client_ip(request.scope),
        user_agent=request.headers.get("user-agent", ""),
    )


def _party_actor(request: Request[Any, Any, Any], party: Party) -> Actor:
    return Actor(
        actor=f"party:{party.id} {party.label}",
        email=party.email,
        ip=client_ip(request.scope),
        user_agent=request.headers.get("user-agent", ""),
    )


def _error(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    status = status_of(exc)
    if request.url.path.startswith("/api/"):
        return Response({"status_code": status, "detail": exc.message}, status_code=status)
    return Template(
        "signing/problem.html",
        context={"title": _("The request could not be completed"), "message": exc.message},
        status_code=status,
    )


def _files(data: dict[str, Any], name: str = "files") -> list[UploadFile]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, UploadFile)]
    return [value] if isinstance(value, UploadFile) else []


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


async def _create_with_files(
    session: AsyncSession, settings: Settings, principal: Principal, form: dict[str, Any], who: Actor
) -> Contract:
    contract = await svc.create_contract(session, principal, _contract_input(form), who)
    files = [(upload.filename, await upload.read()) for upload in _files(form)]
    if files:
        await svc.add_documents(session, settings, contract, files, who)
    return contract


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


def _contractor_of(contract: Contract, party_id: uuid.UUID) -> Party:
    party = next((p for p in contract.parties if p.id == party_id), None)
    if party is None:
        raise NotFound(_("The party was not found."))
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors have an access password."))
    return party


_SPOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""Letters and digits that cannot be mistaken for each other when read out on the phone (no l/1, o/0, i)."""


def _suggested_password(length: int = 10) -> str:
    return "".join(secrets.choice(_SPOKEN_ALPHABET) for _i in range(length))


def _correctable_box(contract: Contract, boxes: Sequence[TextBox]) -> TextBox | None:
    """The text box whose value stopped the seal, when a corrected value can fix it."""
    failure = contract.seal_failure or {}
    if contract.status is not ContractStatus.SEAL_FAILED or failure.get("reason") not in ("characters", "overflow"):
        return None
    return next((b for b in boxes if str(b.id) == failure.get("text_box_id")), None)


async def _document_download(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    document_id: uuid.UUID,
    who: Actor,
    *,
    sealed_only: bool = False,
) -> Response[bytes]:
    """A document as a download, recorded in the audit trail.

    Once the contract is concluded this is the newest sealed file. Before, staff
    and other systems get the uploaded original, named 未封緘_… and marked
    ``X-Kyodo-Sealed: false``, so nobody keeps it for the concluded contract;
    ``sealed_only`` (contractors) refuses until the seal exists.
    """
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None:
        raise NotFound(_("The document was not found."))
    sealed = [s for s in contract.sealed_documents if s.document_id == document_id]
    concluded = contract.status is ContractStatus.CONCLUDED and bool(sealed)
    if sealed_only and not concluded:
        raise Conflict(
            _("The contract can be downloaded once it is sealed and concluded. You will receive an e-mail then."),
        )
    store = BlobStore(settings)
    if concluded:
        latest = max(sealed, key=lambda s: s.version)
        data, name, digest = (
            await store.get(session, contract.member_id, latest.sha256),
            document.file_name,
            latest.sha256,
        )
    else:
        data = await store.get(session, contract.member_id, document.sha256)
        name, digest = f"未封緘_{document.file_name}", document.sha256
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=[d.sha256 for d in contract.documents],
        detail={"document": str(document_id), "sha256": digest, "sealed": concluded},
    )
    response = _pdf_response(name, data)
    response.headers["X-Kyodo-Sealed"] = "true" if concluded else "false"
    return response


async def _certificate_bytes(session: AsyncSession, settings: Settings, contract: Contract) -> bytes:
    """The newest sealed certificate of conclusion (WF-12); 409 while the contract is not sealed yet."""
    row = await ContractRepository(session, contract.member_id).latest_certificate(contract.id)
    if row is None:
        raise Conflict(_("The certificate of conclusion is issued once the contract is sealed."))
    return await BlobStore(settings).get(session, contract.member_id, row.sha256)


def _certificate_name(contract: Contract) -> str:
    return f"締結証明書_{contract.contract_number or contract.id}.pdf"


async def _certificate_download(
    session: AsyncSession, settings: Settings, contract: Contract, who: Actor
) -> Response[bytes]:
    """The certificate as a download, recorded in the audit trail like any download."""
    data = await _certificate_bytes(session, settings, contract)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=[d.sha256 for d in contract.documents],
        detail={"certificate": True},
    )
    return _pdf_response(_certificate_name(contract), data)


def _pdf_response(file_name: str, data: bytes) -> Response[bytes]:
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"contract.pdf\"; filename*=UTF-8''{quote(file_name)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _png(data: bytes) -> Response[bytes]:
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, no-store"})


# --------------------------------------------------------------------------- API


class ContractApiController(Controller):
    """Contracts for other systems of a member (API key), JSON."""

    path = "/api/v1/contracts"
    dependencies = {"filters": Provide(provide_search_filters)}  # noqa: RUF012
    tags = ["contracts"]  # noqa: RUF012
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT, status_code=201)
    async def create(
        self,
        *,
        request: Request[Any, Any, Any],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ContractOut:
        """Create a draft (multipart: subject, title_id, contract_number, amount, transaction_date, counterparty,
        department_id, and one or more ``files``)."""
        principal = current_principal(request)
        contract = await _create_with_files(db_session, _settings(state), principal, data, _actor(request, principal))
        return ContractOut.of(contract)

    @get("/", guards=[requires("contract", "view")])
    async def list_contracts(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        filters: NamedDependency[svc.SearchFilters],
        page: FromQuery[int] = 1,
        per_page: FromQuery[int] = 50,
    ) -> ContractPage:
        """List and search (word in the file name or subject, date and amount ranges, counterparty; AND)."""
        result = await svc.search(db_session, current_principal(request), filters, page=page, per_page=per_page)
        return ContractPage(
            items=[ContractOut.of(c, full=False) for c in result.items],
            page=result.page,
            per_page=result.per_page,
            has_next=result.has_next,
        )

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def get_one(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> ContractOut:
        """One contract with its documents and parties."""
        return ContractOut.of(await svc.get_contract(db_session, contract_id, current_principal(request)))

    @get("/{contract_id:uuid}/status", guards=[requires("contract", "view")])
    async def status(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> ContractStatusOut:
        """Status of the contract and of every party."""
        contract = await svc.get_contract(db_session, contract_id, current_principal(request))
        return ContractStatusOut.of(contract)

    @post(
        "/{contract_id:uuid}/documents",
        guards=[requires("contract", "draft")],
        request_max_body_size=_UPLOAD_LIMIT,
        status_code=201,
    )
    async def upload(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> list[DocumentOut]:
        """Add PDFs (multipart ``files``) to a draft."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        files = [(upload.filename, await upload.read()) for upload in _files(data)]
        if not files:
            raise Invalid(_("Please choose at least one PDF file."))
        added = await svc.add_documents(db_session, _settings(state), contract, files, _actor(request, principal))
        return [DocumentOut.of(d) for d in added]

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")], status_code=201)
    async def add_party(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[PartyIn],
        db_session: NamedDependency[AsyncSession],
    ) -> PartyOut:
        """Add a party; the same ``order_no`` means in parallel."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        party_input = svc.PartyInput(
            order_no=data.order_no,
            kind=data.kind,
            name=data.name,
            email=data.email,
            company=data.company,
            password=data.password,
            staff_id=data.staff_id,
            title_id=data.title_id,
        )
        if data.address_book_entry_id:
            party_input = await svc.from_address_book(
                db_session, contract.member_id, party_input, data.address_book_entry_id
            )
        party = await svc.add_party(db_session, contract, party_input, _actor(request, principal))
        return PartyOut.of(party)

    @post(
        "/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")], status_code=200
    )
    async def set_password(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: JSONBody[PasswordIn],
        db_session: NamedDependency[AsyncSession],
    ) -> PartyOut:
        """Set a new access password for a contractor (e.g. for a forwardee, or after a lock-out)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        party = _contractor_of(contract, party_id)
        await svc.set_party_password(db_session, contract, party, data.password, _actor(request, principal))
        return PartyOut.of(party)

    @post("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "draft")], status_code=201)
    async def add_box(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[TextBoxIn],
        db_session: NamedDependency[AsyncSession],
    ) -> TextBoxOut:
        """Place a text box (PDF points, origin bottom-left, zero-based page)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        box = await svc.add_text_box(
            db_session,
            contract,
            svc.TextBoxInput(
                document_id=data.document_id,
                party_id=data.party_id,
                page=data.page,
                x=data.x,
                y=data.y,
                width=data.width,
                height=data.height,
                label=data.label,
                required=data.required,
            ),
            _actor(request, principal),
        )
        return TextBoxOut.of(box)

    @post("/{contract_id:uuid}/send", guards=[requires("contract", "send")], status_code=200)
    async def send(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ContractStatusOut:
        """Start circulation: the first party (or parties) get their mail."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await svc.send(db_session, _settings(state), contract, _actor(request, principal))
        return ContractStatusOut.of(contract)

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")], status_code=200)
    async def cancel(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ContractStatusOut:
        """Cancel until completion; every link stops working."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await svc.cancel(db_session, _settings(state), contract, _actor(request, principal))
        return ContractStatusOut.of(contract)

    @post(
        "/{contract_id:uuid}/documents/{document_id:uuid}/replace",
        guards=[requires("contract", "send")],
        request_max_body_size=_UPLOAD_LIMIT,
        status_code=200,
    )
    async def replace_document(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ContractStatusOut:
        """Replace a file of a contract that could not be sealed (status ``seal_failed``; multipart ``file``).

        Every party is asked to agree again, from the first.
        """
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        files = _files(data, "file")
        if not files:
            raise Invalid(_("Please choose at least one PDF file."))
        await conclusion.replace_document(
            db_session,
            _settings(state),
            contract,
            document_id=document_id,
            file_name=files[0].filename,
            data=await files[0].read(),
            who=_actor(request, principal),
        )
        return ContractStatusOut.of(contract)

    @post(
        "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction",
        guards=[requires("contract", "send")],
        status_code=200,
    )
    async def request_correction(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ContractStatusOut:
        """Ask the party who entered a value that cannot be sealed to correct it (status ``seal_failed``)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await conclusion.request_correction(
            db_session, _settings(state), contract, text_box_id, _actor(request, principal)
        )
        return ContractStatusOut.of(contract)

    @get(
        "/{contract_id:uuid}/documents/{document_id:uuid}",
        guards=[requires("contract", "download")],
        media_type="application/pdf",
    )
    async def download(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """The document (sealed when sealing has finished)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        return await _document_download(db_session, _settings(state), contract, document_id, _actor(request, principal))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")], media_type="application/pdf")
    async def certificate(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """The sealed certificate of conclusion (締結証明書)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        return await _certificate_download(db_session, _settings(state), contract, _actor(request, principal))


# --------------------------------------------------------------------------- staff screens


class ContractPagesController(Controller):
    """Staff screens: list and search, CSV, new contract, detail, parties, boxes, send, cancel, sign."""

    path = "/contracts"
    dependencies = {"filters": Provide(provide_search_filters), "trail": Provide(provide_trail_filters)}  # noqa: RUF012
    include_in_schema = False
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

    @get("/", guards=[requires("contract", "view")])
    async def index(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        filters: NamedDependency[svc.SearchFilters],
        page: FromQuery[int] = 1,
    ) -> Template:
        """Contracts the caller may see, newest first, with the search form."""
        result = await svc.search(db_session, current_principal(request), filters, page=page, per_page=50)
        query = request.url.query or ""
        template = "signing/_results.html" if request.headers.get("hx-request") else "signing/index.html"
        return Template(
            template,
            context={
                "result": result,
                "f": filters,
                "labels": svc.STATUS_LABELS,
                "query": query,
                "principal": current_principal(request),
            },
        )

    @get("/export.csv", guards=[requires("contract", "view")])
    async def export(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        filters: NamedDependency[svc.SearchFilters],
    ) -> Response[bytes]:
        """The search result as CSV (UTF-8 with BOM, for Excel)."""
        principal = current_principal(request)
        body = await svc.to_csv(db_session, principal, filters)
        assert principal.member_id is not None
        await append_event(
            db_session,
            member_id=principal.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=_actor(request, principal),
            detail={"query": request.url.query or ""},
        )
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="contracts.csv"'},
        )

    @get("/audit", guards=[requires("audit", "view")])
    async def audit_trail(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        trail: NamedDependency[svc.TrailFilters],
        page: FromQuery[int] = 1,
    ) -> Template:
        """The member's audit trail (who, e-mail, time, IP, user agent, documents), and whether its chains verify."""
        principal = current_principal(request)
        assert principal.member_id is not None
        result = await svc.trail(db_session, principal.member_id, trail, page=page, per_page=50)
        # The whole trail of the member is checked, not only the page shown: a
        # changed or removed row anywhere breaks the chain it belongs to. The
        # result is reused while the trail's fingerprint stays the same.
        broken, checked = await verify_member_trail(
            db_session, getattr(request.app.state, "redis", None), principal.member_id
        )
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
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        trail: NamedDependency[svc.TrailFilters],
    ) -> Response[bytes]:
        """The filtered audit trail as CSV (UTF-8 with BOM); the export itself is recorded in the trail."""
        principal = current_principal(request)
        assert principal.member_id is not None
        body = await svc.trail_csv(db_session, principal.member_id, trail, audit_kind_labels())
        await append_event(
            db_session,
            member_id=principal.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=_actor(request, principal),
            detail={"audit_trail": True, "query": request.url.query or ""},
        )
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"', "Cache-Control": "no-store"},
        )

    @get("/new", guards=[requires("contract", "draft")])
    async def new(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The form of a new contract."""
        principal = current_principal(request)
        titles = await ContractRepository(db_session, principal.member_id).active_titles()
        return Template("signing/new.html", context={"titles": titles, "limits": get_settings().contracts})

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT)
    async def create(
        self,
        *,
        request: Request[Any, Any, Any],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Create the draft with its files, then show it."""
        principal = current_principal(request)
        contract = await _create_with_files(db_session, _settings(state), principal, data, _actor(request, principal))
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def detail(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        """A contract: documents with page previews, parties, text boxes, actions."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        boxes = await svc.text_boxes(db_session, contract.id)
        signers: list[Any] = []
        if contract.status is ContractStatus.DRAFT:
            signers = await ContractRepository(db_session, principal.member_id).signers()
        book = await svc.address_book(db_session, contract.member_id) if principal.can("addressbook", "view") else []
        my_turn = any(
            p.kind is PartyKind.STAFF and p.staff_id == principal.id and p.status is PartyStatus.NOTIFIED
            for p in contract.parties
        )
        return Template(
            "signing/detail.html",
            context={
                "contract": contract,
                "boxes": boxes,
                "signers": signers,
                "book": book,
                "labels": svc.STATUS_LABELS,
                "party_labels": svc.PARTY_STATUS_LABELS,
                "principal": principal,
                "my_turn": my_turn,
                "my_boxes": [
                    b for b in boxes if any(p.id == b.party_id and p.staff_id == principal.id for p in contract.parties)
                ],
                "seal_failure": failure_message(contract.seal_failure),
                "correctable_box": _correctable_box(contract, boxes),
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
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Replace a file of a contract that could not be sealed; it circulates again from the first party."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        files = _files(data, "file")
        if not files:
            raise Invalid(_("Please choose at least one PDF file."))
        await conclusion.replace_document(
            db_session,
            _settings(state),
            contract,
            document_id=document_id,
            file_name=files[0].filename,
            data=await files[0].read(),
            who=_actor(request, principal),
        )
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @post("/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction", guards=[requires("contract", "send")])
    async def request_correction(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Ask the party who typed a value that cannot be sealed to correct it."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await conclusion.request_correction(
            db_session, _settings(state), contract, text_box_id, _actor(request, principal)
        )
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @post("/{contract_id:uuid}/documents", guards=[requires("contract", "draft")], request_max_body_size=_UPLOAD_LIMIT)
    async def upload(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Add PDFs to the draft."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        files = [(upload.filename, await upload.read()) for upload in _files(data)]
        if not files:
            raise Invalid(_("Please choose at least one PDF file."))
        await svc.add_documents(db_session, _settings(state), contract, files, _actor(request, principal))
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")])
    async def add_party(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Add a contractor (or one from the address book) or a member signer."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        order = _int_or_none(data.get("order_no"), _("The order must be a number from 1 to 1000.")) or 0
        kind = PartyKind.STAFF if data.get("kind") == "staff" else PartyKind.CONTRACTOR
        party_input = svc.PartyInput(
            order_no=order,
            kind=kind,
            name=data.get("name", ""),
            email=data.get("email", ""),
            company=data.get("company", ""),
            password=data.get("password", ""),
        )
        if kind is PartyKind.STAFF:
            staff_id, _sep, title_id = data.get("signer", "").partition(":")
            party_input.staff_id = _uuid(staff_id, _("Please choose a staff member of your organisation."))
            party_input.title_id = _uuid(title_id, _("Please choose a contract title of your organisation."))
        elif data.get("address_book_entry_id"):
            party_input = await svc.from_address_book(
                db_session,
                contract.member_id,
                party_input,
                _uuid(data["address_book_entry_id"], _("The address book entry was not found.")),
            )
        await svc.add_party(db_session, contract, party_input, _actor(request, principal))
        return Redirect(path=f"/contracts/{contract.id}#parties", status_code=303)

    @get("/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")])
    async def password_form(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        done: FromQuery[bool] = False,
    ) -> Template:
        """The form for a contractor's new access password (after a lock-out, for a forwardee …)."""
        contract = await svc.get_contract(db_session, contract_id, current_principal(request))
        party = _contractor_of(contract, party_id)
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
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Set the new password; it also unlocks the link. Audited like the API route."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        party = _contractor_of(contract, party_id)
        await svc.set_party_password(
            db_session, contract, party, data.get("password", "").strip(), _actor(request, principal)
        )
        return Redirect(path=f"/contracts/{contract.id}/parties/{party.id}/password?done=true", status_code=303)

    @post("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "draft")])
    async def add_box(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Place a box (from the drag on the preview, or typed into the numeric fields)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        number = _("Please enter the position and size as numbers.")
        try:
            values = [float(data.get(k, "")) for k in ("x", "y", "width", "height")]
            page = int(data.get("page", "")) - 1
        except ValueError as exc:
            raise Invalid(number) from exc
        await svc.add_text_box(
            db_session,
            contract,
            svc.TextBoxInput(
                document_id=_uuid(data.get("document_id"), _("Please choose a document and a party of this contract.")),
                party_id=_uuid(data.get("party_id"), _("Please choose a document and a party of this contract.")),
                page=page,
                x=values[0],
                y=values[1],
                width=values[2],
                height=values[3],
                label=data.get("label", ""),
                required=data.get("required") == "on",
            ),
            _actor(request, principal),
        )
        return Redirect(path=f"/contracts/{contract.id}#boxes", status_code=303)

    @post("/{contract_id:uuid}/send", guards=[requires("contract", "send")])
    async def send(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Start circulation."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await svc.send(db_session, _settings(state), contract, _actor(request, principal))
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")])
    async def cancel(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Cancel until completion."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        await svc.cancel(db_session, _settings(state), contract, _actor(request, principal))
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @post("/{contract_id:uuid}/sign", guards=[requires("contract", "sign")])
    async def sign(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: UrlForm,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Agree as a member signer, under the title granted."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        values = {k.removeprefix("box_"): v for k, v in data.items() if k.startswith("box_")}
        await svc.staff_agree(
            db_session,
            _settings(state),
            contract=contract,
            principal=principal,
            values=values,
            who=_actor(request, principal),
        )
        return Redirect(path=f"/contracts/{contract.id}", status_code=303)

    @get("/{contract_id:uuid}/documents/{document_id:uuid}/pages/{page:int}", guards=[requires("contract", "view")])
    async def preview(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        page: FromPath[int],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """A page preview (PNG, rendered on the server)."""
        contract = await svc.get_contract(db_session, contract_id, current_principal(request))
        return await _preview(db_session, _settings(state), contract, document_id, page)

    @get("/{contract_id:uuid}/documents/{document_id:uuid}", guards=[requires("contract", "download")])
    async def download(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """Download a document (the sealed PDF once sealing finished)."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        return await _document_download(db_session, _settings(state), contract, document_id, _actor(request, principal))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")])
    async def certificate(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Response[bytes]:
        """Download the sealed certificate of conclusion (締結証明書) at any time after sealing."""
        principal = current_principal(request)
        contract = await svc.get_contract(db_session, contract_id, principal)
        return await _certificate_download(db_session, _settings(state), contract, _actor(request, principal))


async def _preview(
    session: AsyncSession, settings: Settings, contract: Contract, document_id: uuid.UUID, page: int
) -> Response[bytes]:
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None or not 0 <= page < document.page_count:
        raise NotFound(_("The document was not found."))
    member_id, sha256 = contract.member_id, document.sha256

    async def load() -> bytes:
        return await BlobStore(settings).get(session, member_id, sha256)

    try:
        png = await page_preview(member_id, sha256, page, load, limits=PdfLimits.of(settings.contracts))
    except PreviewUnavailableError as exc:
        raise Unavailable(exc.message) from exc
    return _png(png)


# --------------------------------------------------------------------------- contractor pages


class ContractorController(Controller):
    """Pages for contractors: no account, a personal link and the password staff gave them."""

    path = "/c"
    include_in_schema = False
    exception_handlers = {ServiceError: _error}  # noqa: RUF012

    async def _open(self, session: AsyncSession, token: str) -> tuple[Party, Contract]:
        # The link is the only key a contractor has: find it across members, then
        # work only inside the member that owns it.
        async with elevated(session):
            party, contract = await svc.party_by_token(session, token)
        await for_member(session, contract.member_id)
        return party, contract

    def _passed_gate(self, request: Request[Any, Any, Any], state: State, party: Party) -> bool:
        expected = svc.gate_cookie_value(_settings(state).app.resolved_secret_key(), party)
        return hmac.compare_digest(request.cookies.get(GATE_COOKIE, ""), expected)

    async def _gated(
        self, request: Request[Any, Any, Any], session: AsyncSession, state: State, token: str
    ) -> tuple[Party, Contract]:
        party, contract = await self._open(session, token)
        if party.locked or not self._passed_gate(request, state, party):
            raise Forbidden(_("Please enter the access password first."))
        return party, contract

    async def _page(
        self, session: AsyncSession, party: Party, contract: Contract, token: str, error: str = ""
    ) -> dict[str, Any]:
        boxes = [b for b in await svc.text_boxes(session, contract.id) if b.party_id == party.id]
        return {
            "party": party,
            "contract": contract,
            "token": token,
            "boxes": boxes,
            "labels": svc.STATUS_LABELS,
            "error": error,
            "can_answer": contract.status is ContractStatus.CIRCULATING and party.status is PartyStatus.NOTIFIED,
            "can_download": contract.status is ContractStatus.CONCLUDED,
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
        party, contract = await self._open(db_session, token)
        if party.locked:
            raise Locked(
                _("This link is locked after too many wrong passwords. Please contact the person in charge."),
            )
        if not self._passed_gate(request, state, party):
            return Template("signing/gate.html", context={"token": token, "contract": contract, "error": ""})
        return Template("signing/contractor.html", context=await self._page(db_session, party, contract, token))

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
        settings = _settings(state)
        party, contract = await self._open(db_session, token)
        ok = await svc.check_contractor_password(
            db_session,
            settings,
            party=party,
            contract=contract,
            password=data.get("password", ""),
            who=_party_actor(request, party),
        )
        # Failures and lock-outs are kept whatever the response says.
        await db_session.commit()
        if not ok:
            message = (
                _("This link is locked after too many wrong passwords. Please contact the person in charge.")
                if party.locked
                else _("The password is not correct. Please check what the person in charge told you.")
            )
            return Template(
                "signing/gate.html",
                context={"token": token, "contract": contract, "error": message},
                status_code=423 if party.locked else 400,
            )
        response = Redirect(path=f"/c/{token}", status_code=303)
        response.set_cookie(
            GATE_COOKIE,
            svc.gate_cookie_value(settings.app.resolved_secret_key(), party),
            path=f"/c/{token}",
            httponly=True,
            samesite="lax",
            secure=settings.security.secure_cookies,
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
        _party, contract = await self._gated(request, db_session, state, token)
        return await _preview(db_session, _settings(state), contract, document_id, page)

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
        party, contract = await self._gated(request, db_session, state, token)
        values = {k.removeprefix("box_"): v for k, v in data.items() if k.startswith("box_")}
        await svc.agree(
            db_session,
            _settings(state),
            contract=contract,
            party=party,
            values=values,
            who=_party_actor(request, party),
        )
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
        party, contract = await self._gated(request, db_session, state, token)
        await svc.decline(
            db_session,
            _settings(state),
            contract=contract,
            party=party,
            reason=data.get("reason", ""),
            who=_party_actor(request, party),
        )
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
        party, contract = await self._gated(request, db_session, state, token)
        new = await svc.forward(
            db_session,
            _settings(state),
            contract=contract,
            party=party,
            name=data.get("name", ""),
            email=data.get("email", ""),
            who=_party_actor(request, party),
        )
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
        party, contract = await self._gated(request, db_session, state, token)
        return await _document_download(
            db_session, _settings(state), contract, document_id, _party_actor(request, party), sealed_only=True
        )

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
        party, contract = await self._gated(request, db_session, state, token)
        return await _certificate_download(db_session, _settings(state), contract, _party_actor(request, party))
