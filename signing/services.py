"""Contract services: drafting, documents, parties, text boxes, circulation, search.

Every function works in the caller's transaction and session (already scoped to
the member by the request, or given system access by a task); it raises
:class:`core.errors.ServiceError` with a message in the user's language when the request
cannot be honoured, before changing anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import anyio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core import spreadsheet
from core.errors import Conflict, Forbidden, Gone, Invalid, Locked, NotFound, TooLarge, Unavailable
from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import Principal, elevated, for_member
from core.settings import Settings
from signing._layout import TextBoxFill, check_fill
from signing.audit import Actor, Origin, append_event, verify_member_trail
from signing.blobs import BlobStore
from signing.errors import SealingInputError, UnsupportedCharactersError
from signing.mail import LINK_PLACEHOLDER, queue_mail
from signing.models import (
    AuditEvent,
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
    TextBox,
)
from signing.pdfcheck import CheckedPdf, PdfLimits, PdfRejectedError
from signing.pdfgate import PreviewUnavailableError, check_pdf_off_loop, page_preview
from signing.repositories import ContractRepository, SearchFilters, TrailFilters
from tenants.auth import record_security_event
from tenants.models import AddressBookEntry, ContractTitle, SecurityEventKind, Staff
from tenants.passwords import hash_password, verify_password

__all__ = [
    "MIN_CONTRACTOR_PASSWORD",
    "SEAL_TASK",
    "ContractActions",
    "ContractInput",
    "ContractView",
    "ContractorLink",
    "Download",
    "ForwardInput",
    "PartyInput",
    "PasswordInput",
    "SearchFilters",
    "SearchPage",
    "TextBoxInput",
    "TrailEntry",
    "TrailFilters",
    "TrailPage",
    "UploadedFile",
    "add_documents",
    "add_party",
    "add_text_box",
    "address_book",
    "agree",
    "cancel",
    "check_contractor_password",
    "create_contract",
    "decline",
    "forward",
    "get_contract",
    "party_by_token",
    "replace_document",
    "request_correction",
    "search",
    "send",
    "set_party_password",
    "staff_agree",
    "to_csv",
    "token_digest",
    "trail",
    "trail_csv",
]

SEAL_TASK = "signing.seal_contract"
"""Task the sealing service registers; enqueued (outbox) when the last party agreed."""
MIN_CONTRACTOR_PASSWORD = 8
"""Shortest access password staff may give a contractor (the suggested ones have 10 characters)."""
_OPEN_PARTY = (PartyStatus.WAITING, PartyStatus.NOTIFIED)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_digest(token: str) -> str:
    """SHA-256 of a link token (tokens are long and random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _documents(contract: Contract) -> list[str]:
    return [d.sha256 for d in contract.documents]


# --------------------------------------------------------------------------- reading


async def get_contract(session: AsyncSession, contract_id: uuid.UUID, principal: Principal | None = None) -> Contract:
    """A contract with documents and parties, or 404 when it does not exist or may not be seen.

    Without ``principal`` the session's own scope decides (a task or a link inside
    :func:`core.scope.elevated`, or the member a contractor's link belongs to).
    """
    repo = ContractRepository(session, principal.member_id if principal is not None else None)
    contract = await repo.contract(contract_id, principal)
    if contract is None:
        raise NotFound(_("The contract was not found."))
    return contract


async def text_boxes(session: AsyncSession, contract_id: uuid.UUID) -> list[TextBox]:
    """The contract's text boxes, by document and page."""
    return await ContractRepository(session, None).text_boxes(contract_id)


# --------------------------------------------------------------------------- drafting


@dataclass
class ContractInput:
    """What staff type when they create a contract."""

    subject: str
    title_id: uuid.UUID
    contract_number: str = ""
    amount: int | None = None
    transaction_date: dt.date | None = None
    counterparty: str = ""
    department_id: uuid.UUID | None = None


async def create_contract(session: AsyncSession, principal: Principal, data: ContractInput, who: Actor) -> Contract:
    """A new draft of the caller's member."""
    assert principal.member_id is not None
    if not data.subject.strip():
        raise Invalid(_("Please enter the subject."))
    if data.amount is not None and data.amount < 0:
        raise Invalid(_("The amount cannot be negative."))
    repo = ContractRepository(session, principal.member_id)
    title = await repo.title(data.title_id)
    if title is None or not title.active:
        raise Invalid(_("Please choose a contract title of your organisation."))
    department_id = data.department_id or principal.department_id
    if department_id is not None and await repo.department(department_id) is None:
        raise Invalid(_("Please choose a department of your organisation."))
    contract = Contract(
        member_id=principal.member_id,
        title_id=title.id,
        department_id=department_id,
        created_by_id=principal.id if principal.kind.value == "staff" else None,
        subject=data.subject.strip()[:400],
        contract_number=data.contract_number.strip()[:100],
        amount=data.amount,
        transaction_date=data.transaction_date,
        counterparty=data.counterparty.strip()[:400],
        status=ContractStatus.DRAFT,
    )
    session.add(contract)
    await session.flush()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.CREATED,
        who=who,
        detail={"subject": contract.subject},
    )
    await session.refresh(contract, ["documents", "parties", "sealed_documents"])
    return contract


async def lock_contract(session: AsyncSession, contract: Contract) -> None:
    """Serialise changes of one contract (two parallel parties agreeing at once) and re-read its parties."""
    await ContractRepository(session, contract.member_id).lock(contract)


def _require_draft(contract: Contract) -> None:
    if contract.status is not ContractStatus.DRAFT:
        raise Conflict(_("This contract has already been sent and can no longer be changed."))


def clean_file_name(name: str | None) -> str:
    """The file name as stored: no folders, at most 255 characters."""
    return (name or "document.pdf").replace("\\", "/").rsplit("/", 1)[-1][:255] or "document.pdf"


async def check_upload(settings: Settings, name: str, data: bytes) -> CheckedPdf:
    """Check one uploaded PDF in a process of its own (:func:`~signing.pdfgate.check_pdf_off_loop`).

    A refusal becomes a :class:`core.errors.ServiceError`.
    """
    limits = PdfLimits.of(settings.contracts)
    try:
        return await check_pdf_off_loop(data, name, limits=limits)
    except PdfRejectedError as exc:
        raise (TooLarge if len(data) > limits.max_bytes else Invalid)(exc.message) from exc


async def add_documents(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    files: Sequence[tuple[str, bytes]],
    who: Actor,
) -> list[ContractDocument]:
    """Check every PDF first, then attach them all; when one is refused nothing is stored."""
    _require_draft(contract)
    limits = settings.contracts
    names = [clean_file_name(n) for n, _d in files]
    if len(contract.documents) + len(files) > limits.max_files:
        raise TooLarge(
            _("A contract can have at most {count} files. “{name}” was not added.").format(
                count=limits.max_files, name=names[-1] if names else ""
            ),
        )
    total = sum(d.size for d in contract.documents)
    checked = []
    for name, (_n, data) in zip(names, files, strict=True):
        total += len(data)
        if total > limits.max_contract_mb * 1024 * 1024:
            raise TooLarge(
                _("The files of one contract may total at most {limit} MB. “{name}” was not added.").format(
                    limit=limits.max_contract_mb, name=name
                ),
            )
        checked.append(await check_upload(settings, name, data))
    store = BlobStore(settings)
    added = []
    for name, (_n, data), info in zip(names, files, checked, strict=True):
        digest = await store.put(session, contract.member_id, data)
        document = ContractDocument(
            member_id=contract.member_id,
            contract_id=contract.id,
            position=len(contract.documents) + 1,
            file_name=name,
            sha256=digest,
            size=len(data),
            page_sizes=info.page_sizes,
        )
        session.add(document)
        contract.documents.append(document)
        added.append(document)
        await session.flush()
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.UPLOADED,
            who=who,
            documents=_documents(contract),
            detail={"file_name": name, "sha256": digest, "size": len(data)},
        )
    contract.file_names = "\n".join(d.file_name for d in contract.documents)
    await session.flush()
    return added


@dataclass
class PartyInput:
    """A party as staff enter it, on the screen or through the API.

    A contractor (company, name, e-mail, access password), or one from the
    member's address book (``address_book_entry_id``: company, name and e-mail
    come from the entry), or a member signer (``staff_id``, optional
    ``title_id``, else the contract's title). The same ``order_no`` as another
    party means in parallel.
    """

    order_no: int
    kind: PartyKind
    name: str = ""
    email: str = ""
    company: str = ""
    password: str = ""
    staff_id: uuid.UUID | None = None
    title_id: uuid.UUID | None = None
    address_book_entry_id: uuid.UUID | None = None


def _valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(local and at and "." in domain and " " not in email and len(email) <= 254)


async def add_party(session: AsyncSession, contract: Contract, data: PartyInput, who: Actor) -> Party:
    """Add a party to a draft; the same ``order_no`` as another party means in parallel."""
    _require_draft(contract)
    if data.order_no < 1 or data.order_no > 1000:
        raise Invalid(_("The order must be a number from 1 to 1000."))
    repo = ContractRepository(session, contract.member_id)
    contact_id: uuid.UUID | None = None
    if data.address_book_entry_id is not None:
        # CON-6: the entry names the company and the person; a password is still set by staff.
        found = await repo.address_book_entry(data.address_book_entry_id)
        if found is None:
            raise NotFound(_("The address book entry was not found."))
        company, contact = found
        data = dataclasses.replace(
            data, kind=PartyKind.CONTRACTOR, company=company.name, name=contact.name, email=contact.email
        )
        contact_id = contact.id
    if data.kind is PartyKind.CONTRACTOR:
        email = data.email.strip()
        if not data.name.strip() or not _valid_email(email):
            raise Invalid(_("Please enter the contractor's name and a valid e-mail address."))
        if len(data.password) < MIN_CONTRACTOR_PASSWORD:
            raise Invalid(
                _("Please set an access password of at least {n} characters for the contractor.").format(
                    n=MIN_CONTRACTOR_PASSWORD
                )
            )
        party = Party(
            member_id=contract.member_id,
            contract_id=contract.id,
            order_no=data.order_no,
            kind=PartyKind.CONTRACTOR,
            company=data.company.strip()[:200],
            name=data.name.strip()[:200],
            email=email,
            contact_id=contact_id,
            password_hash=hash_password(data.password),
        )
    else:
        staff = await repo.staff(data.staff_id) if data.staff_id else None
        if staff is None:
            raise Invalid(_("Please choose a staff member of your organisation."))
        title_id = data.title_id or contract.title_id
        if not await repo.holds_title(staff.id, title_id):
            raise Invalid(_("{name} may not conclude contracts under this title.").format(name=staff.name))
        party = Party(
            member_id=contract.member_id,
            contract_id=contract.id,
            order_no=data.order_no,
            kind=PartyKind.STAFF,
            name=staff.name,
            email=staff.email,
            staff_id=staff.id,
            title_id=title_id,
        )
    session.add(party)
    await session.flush()
    contract.parties.append(party)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.UPDATED,
        who=who,
        documents=_documents(contract),
        detail={"party_added": str(party.id), "order": party.order_no, "email": party.email},
    )
    return party


@dataclass
class TextBoxInput:
    """A text box: page (zero-based), position and size in PDF points from the bottom-left corner."""

    document_id: uuid.UUID
    party_id: uuid.UUID
    page: int
    x: float
    y: float
    width: float
    height: float
    label: str
    required: bool = True


async def add_text_box(session: AsyncSession, contract: Contract, data: TextBoxInput, who: Actor) -> TextBox:
    """Place a box on a page of one of the contract's documents."""
    _require_draft(contract)
    document = next((d for d in contract.documents if d.id == data.document_id), None)
    party = next((p for p in contract.parties if p.id == data.party_id), None)
    if document is None or party is None:
        raise Invalid(_("Please choose a document and a party of this contract."))
    if not 0 <= data.page < document.page_count:
        raise Invalid(_("The page does not exist in this document."))
    width, height = document.page_sizes[data.page]
    if (
        data.width < 10
        or data.height < 8
        or data.x < 0
        or data.y < 0
        or data.x + data.width > width + 0.5
        or data.y + data.height > height + 0.5
    ):
        raise Invalid(_("The box must lie on the page and be at least 10 × 8 points."))
    if not data.label.strip():
        raise Invalid(_("Please enter a label for the box."))
    box = TextBox(
        member_id=contract.member_id,
        contract_id=contract.id,
        document_id=document.id,
        party_id=party.id,
        page=data.page,
        x=data.x,
        y=data.y,
        width=data.width,
        height=data.height,
        label=data.label.strip()[:200],
        required=data.required,
    )
    session.add(box)
    await session.flush()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.UPDATED,
        who=who,
        documents=_documents(contract),
        detail={"text_box": str(box.id), "page": box.page, "party": str(party.id)},
    )
    return box


# --------------------------------------------------------------------------- circulation


def party_link(settings: Settings, token: str) -> str:
    return f"{settings.server.base_url()}/c/{token}"


def issue_token(settings: Settings, party: Party) -> str:
    token = secrets.token_urlsafe(32)
    party.token_hash = token_digest(token)
    party.token_expires_at = _now() + dt.timedelta(days=settings.contracts.link_days)
    return token


def _request_mail(
    settings: Settings, session: AsyncSession, contract: Contract, party: Party, *, reminder: bool
) -> None:
    prefix = "【再送】" if reminder else ""
    if party.kind is PartyKind.CONTRACTOR:
        token = issue_token(settings, party)
        body = (
            f"{party.label} 様\n\n"
            f"契約書「{contract.subject}」の内容確認と同意のお願いです。\n"
            f"次のリンクを開き、担当職員から電話または書面でお伝えしたパスワードを入力してください。\n\n"
            f"{LINK_PLACEHOLDER}\n\n"
            f"このリンクはあなた専用です。有効期限: {party.token_expires_at:%Y-%m-%d}\n"
            f"パスワードはこのメールには記載していません。\n"
            f"アカウント登録や費用は不要です。\n"
        )
        if reminder:
            body += "以前お送りしたリンクは使えなくなりました。このメールのリンクをお使いください。\n"
        queue_mail(
            session,
            settings,
            to=party.email,
            subject=f"{prefix}【要対応】契約書の確認と同意のお願い: {contract.subject}",
            body=body,
            link=party_link(settings, token),
        )
    else:
        queue_mail(
            session,
            settings,
            to=party.email,
            subject=f"{prefix}【要対応】契約の締結をお願いします: {contract.subject}",
            body=(
                f"{party.name} 様\n\n契約書「{contract.subject}」の締結の順番になりました。\n"
                f"Kyodo にログインして内容を確認し、締結してください。\n\n"
                f"{settings.server.base_url()}/contracts/{contract.id}\n"
            ),
        )


async def notify_next(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> None:
    """Notify the lowest order still open, or complete the contract when none is left."""
    open_parties = [p for p in contract.parties if p.status in _OPEN_PARTY]
    if not open_parties:
        await _complete(session, settings, contract, who)
        return
    current = min(p.order_no for p in open_parties)
    for party in open_parties:
        if party.order_no == current and party.status is PartyStatus.WAITING:
            party.status = PartyStatus.NOTIFIED
            party.notified_at = _now()
            party.reminded_at = None
            _request_mail(settings, session, contract, party, reminder=False)
            await append_event(
                session,
                member_id=contract.member_id,
                contract_id=contract.id,
                kind=AuditKind.NOTIFIED,
                who=Actor("system"),
                documents=_documents(contract),
                detail={"party": str(party.id), "email": party.email, "order": party.order_no},
            )


def _notice(session: AsyncSession, settings: Settings, contract: Contract, subject: str, body: str) -> None:
    recipients = {p.email for p in contract.parties if p.notified_at is not None or p.answered_at is not None}
    for email in sorted(recipients):
        queue_mail(session, settings, to=email, subject=subject, body=body)


async def _complete(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> None:
    """Every party agreed: 封緘待ち, and the seal task is queued with this change.

    Nobody is told 締結 here: the conclusion mail and links are sent by the
    sealing service once the sealed file is stored (:mod:`signing.conclusion`).
    """
    contract.status = ContractStatus.SEALING
    contract.completed_at = _now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.COMPLETED,
        who=who,
        documents=_documents(contract),
    )
    enqueue(session, SEAL_TASK, contract_id=str(contract.id))


async def send(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> Contract:
    """Start circulation (idempotent: a contract already sent is left as it is)."""
    await lock_contract(session, contract)
    if contract.status is ContractStatus.CIRCULATING:
        return contract
    _require_draft(contract)
    if not contract.documents:
        raise Invalid(_("Please upload at least one PDF before sending."))
    if not contract.parties:
        raise Invalid(_("Please add at least one party before sending."))
    contract.status = ContractStatus.CIRCULATING
    contract.sent_at = _now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.SENT,
        who=who,
        documents=_documents(contract),
        detail={"parties": len(contract.parties)},
    )
    await notify_next(session, settings, contract, who)
    await session.flush()
    return contract


async def cancel(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> Contract:
    """Cancel until completion: every link dies, everyone notified so far is told (idempotent)."""
    await lock_contract(session, contract)
    if contract.status is ContractStatus.CANCELLED:
        return contract
    if contract.status not in (ContractStatus.DRAFT, ContractStatus.CIRCULATING, ContractStatus.SEAL_FAILED):
        raise Conflict(_("A completed contract can no longer be cancelled."))
    contract.status = ContractStatus.CANCELLED
    contract.cancelled_at = _now()
    # Links stay recognisable so that whoever opens one is told it was cancelled;
    # party_by_token refuses every link of a cancelled contract.
    for party in contract.parties:
        if party.status in _OPEN_PARTY:
            party.status = PartyStatus.CANCELLED
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.CANCELLED,
        who=who,
        documents=_documents(contract),
    )
    _notice(
        session,
        settings,
        contract,
        f"【取消し】{contract.subject}",
        f"契約書「{contract.subject}」の締結依頼は取り消されました。お送りしたリンクは使えなくなりました。\n",
    )
    await session.flush()
    return contract


async def party_by_token(session: AsyncSession, token: str) -> tuple[Party, Contract]:
    """The party behind a link (the session must have system access); 404-like errors otherwise."""
    if not token or len(token) > 200:
        raise NotFound(_("This link is not valid."))
    party = await ContractRepository(session, None).party_by_token_hash(token_digest(token))
    if party is None:
        raise NotFound(
            _(
                "This link is no longer valid. It may have been forwarded, replaced by a newer mail, "
                "or the request was cancelled. Please use the latest mail or contact the person in charge."
            ),
        )
    if party.token_expires_at is None or party.token_expires_at < _now():
        raise Gone(_("This link has expired. Please ask the person in charge to send it again."))
    contract = await get_contract(session, party.contract_id)
    if contract.status is ContractStatus.CANCELLED:
        raise Gone(_("This request was cancelled by the organisation."))
    party = next(p for p in contract.parties if p.id == party.id)
    return party, contract


def gate_cookie_value(secret: str, party: Party) -> str:
    """What the contractor's browser keeps after entering the right password.

    It dies with the link and with the password: when staff set a new password
    (a leaked one, a lock-out), browsers that passed the gate with the old one
    must enter the new one.
    """
    material = f"contractor:{party.token_hash}:{party.password_hash}"
    return hmac.new(secret.encode(), material.encode(), hashlib.sha256).hexdigest()


async def check_contractor_password(
    session: AsyncSession, settings: Settings, *, party: Party, contract: Contract, password: str, who: Actor
) -> bool:
    """Check the access password; failures are counted, audited and lock the link after the limit.

    Like staff sign-in (:func:`tenants.auth.login`), every attempt is counted
    before its password is checked: one ``UPDATE … WHERE NOT locked …
    RETURNING`` claims one of the ``KYODO_CONTRACTOR_MAX_ATTEMPTS`` checks and
    sets the lock itself when it is the last one. PostgreSQL serialises
    concurrent updates of the row and re-evaluates the ``WHERE`` on its newest
    version, so guesses sent in parallel each get their own count and those
    after the lock are refused without their password being checked, the right
    one included. The claim is committed at once (``session`` is committed
    here), so no row lock, transaction or pooled connection is held while
    Argon2 runs, in a worker thread (~160 ms of CPU, never on the event loop).

    The right password clears the count (its own claim included) and the lock
    (as staff sign-in does), in one ``UPDATE`` that only applies while the hash
    it was checked against is still the link's. A wrong one is audited as ``password_failed``
    with the number its claim got, and the claim that set the lock as ``locked``
    once. An attempt interrupted during the check stays counted: the link is
    left safer, never open. The caller commits the events.
    """
    locked_message = _("This link is locked after too many wrong passwords. Please contact the person in charge.")
    if party.locked:
        raise Locked(locked_message)
    repo = ContractRepository(session, contract.member_id)
    claimed = await repo.claim_password_attempt(party.id, settings.contracts.contractor_max_attempts)
    await session.commit()
    if claimed is None:
        set_committed_value(party, "locked", True)
        raise Locked(locked_message)
    attempt, locks, password_hash = claimed
    # The row as this claim left it (not marked changed, so nothing writes it back):
    # the hash checked is the one current at the claim, should staff have just set a new one.
    for key, value in (("failed_attempts", attempt), ("locked", locks), ("password_hash", password_hash)):
        set_committed_value(party, key, value)
    if password_hash is not None and await anyio.to_thread.run_sync(verify_password, password_hash, password):
        # Only while the hash checked is still the password: a new one set meanwhile keeps its own count.
        await repo.clear_password_attempts(party.id, password_hash)
        set_committed_value(party, "failed_attempts", 0)
        set_committed_value(party, "locked", False)
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.OPENED,
            who=who,
            documents=_documents(contract),
            detail={"party": str(party.id)},
        )
        return True
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.PASSWORD_FAILED,
        who=who,
        documents=_documents(contract),
        detail={"party": str(party.id), "attempt": attempt},
    )
    await record_security_event(
        session,
        contract.member_id,
        SecurityEventKind.CONTRACTOR_PASSWORD_FAILED,
        subject=party.email,
        ip=who.ip,
        user_agent=who.user_agent,
        contract_id=str(contract.id),
    )
    if locks:
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.LOCKED,
            who=who,
            documents=_documents(contract),
            detail={"party": str(party.id)},
        )
        await record_security_event(
            session,
            contract.member_id,
            SecurityEventKind.CONTRACTOR_LOCKED,
            subject=party.email,
            ip=who.ip,
            user_agent=who.user_agent,
            contract_id=str(contract.id),
        )
    return False


def _require_turn(contract: Contract, party: Party) -> None:
    if contract.status is ContractStatus.CANCELLED:
        raise Conflict(_("This request was cancelled by the organisation."))
    if party.status is PartyStatus.AGREED:
        raise Conflict(_("You have already agreed to this contract."))
    if party.status is PartyStatus.DECLINED or contract.status is ContractStatus.DECLINED:
        raise Conflict(_("This contract was declined and can no longer be agreed."))
    if party.status is PartyStatus.FORWARDED:
        raise Conflict(_("You forwarded this request; the person you chose now answers it."))
    if contract.status is not ContractStatus.CIRCULATING or party.status is not PartyStatus.NOTIFIED:
        raise Conflict(_("It is not your turn to answer this contract."))


async def _check_printable(box: TextBox, value: str) -> None:
    """Refuse, on the form, a value the seal could not print: characters outside the font, or too long for its box."""
    fill = TextBoxFill(page=box.page, x=box.x, y=box.y, width=box.width, height=box.height, text=value)
    try:
        # The font is parsed once per process; the first call may take a moment, so not on the event loop.
        await anyio.to_thread.run_sync(check_fill, fill)
    except UnsupportedCharactersError as exc:
        raise Invalid(
            _(
                "“{label}” contains characters that cannot be printed in the contract: {characters}. "
                "Please use the usual form of the character (for example 吉 for 𠮷) or write it in kana."
            ).format(label=box.label, characters=" ".join(exc.characters))
        ) from exc
    except SealingInputError as exc:
        raise Invalid(_("“{label}” is too long for its box. Please shorten it.").format(label=box.label)) from exc


async def agree(
    session: AsyncSession,
    settings: Settings,
    *,
    contract: Contract,
    party: Party,
    values: dict[str, str],
    who: Actor,
) -> None:
    """Fill the party's boxes and agree; the next parties are notified, or the contract completes."""
    await lock_contract(session, contract)
    _require_turn(contract, party)
    boxes = [b for b in await text_boxes(session, contract.id) if b.party_id == party.id]
    missing = [b.label for b in boxes if b.required and not (values.get(str(b.id)) or "").strip()]
    if missing:
        raise Invalid(_("Please fill in: {fields}").format(fields="、".join(missing)))
    filled: dict[str, str] = {}
    for box in boxes:
        value = (values.get(str(box.id)) or "").strip()[:1000]
        if value:
            await _check_printable(box, value)
    for box in boxes:
        value = (values.get(str(box.id)) or "").strip()[:1000]
        if value:
            box.value = value
            filled[str(box.id)] = value
    if filled:
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.FILLED,
            who=who,
            documents=_documents(contract),
            detail={"party": str(party.id), "values": filled},
        )
    party.status = PartyStatus.AGREED
    party.answered_at = _now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.AGREED,
        who=who,
        documents=_documents(contract),
        detail={"party": str(party.id), "order": party.order_no},
    )
    await notify_next(session, settings, contract, who)
    await session.flush()


async def staff_agree(
    session: AsyncSession,
    settings: Settings,
    *,
    contract: Contract,
    principal: Principal,
    values: dict[str, str],
    who: Actor,
) -> None:
    """A member signer agrees under their title (contract:sign is checked by the guard, the grant here)."""
    mine = [p for p in contract.parties if p.kind is PartyKind.STAFF and p.staff_id == principal.id]
    if not mine:
        raise Forbidden(_("You are not a signer of this contract."))
    party = next((p for p in mine if p.status is PartyStatus.NOTIFIED), mine[0])
    if not await ContractRepository(session, contract.member_id).holds_title(principal.id, party.title_id):
        raise Forbidden(_("You no longer hold the title this contract is concluded under."))
    await agree(session, settings, contract=contract, party=party, values=values, who=who)


async def decline(
    session: AsyncSession, settings: Settings, *, contract: Contract, party: Party, reason: str, who: Actor
) -> None:
    """Decline with a reason: the contract stops, the staff and earlier parties are told."""
    await lock_contract(session, contract)
    _require_turn(contract, party)
    if not reason.strip():
        raise Invalid(_("Please tell the organisation why you decline."))
    party.status = PartyStatus.DECLINED
    party.answered_at = _now()
    party.decline_reason = reason.strip()[:2000]
    contract.status = ContractStatus.DECLINED
    for other in contract.parties:
        if other.status in _OPEN_PARTY:
            other.status = PartyStatus.CANCELLED
        other.token_hash = None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DECLINED,
        who=who,
        documents=_documents(contract),
        detail={"party": str(party.id), "reason": party.decline_reason},
    )
    _notice(
        session,
        settings,
        contract,
        f"【差戻し】{contract.subject}",
        f"契約書「{contract.subject}」は {party.label} 様により差し戻されました。\n理由: {party.decline_reason}\n",
    )
    if contract.created_by_id:
        creator = await ContractRepository(session, contract.member_id).staff(contract.created_by_id)
        if creator is not None:
            queue_mail(
                session,
                settings,
                to=creator.email,
                subject=f"【差戻し】{contract.subject}",
                body=f"{party.label} 様が差し戻しました。\n理由: {party.decline_reason}\n",
            )
    await session.flush()


async def forward(
    session: AsyncSession,
    settings: Settings,
    *,
    contract: Contract,
    party: Party,
    name: str,
    email: str,
    who: Actor,
) -> Party:
    """Hand the request to another person, who gets their own link; the forwarder loses access.

    The new person uses the same access password as the forwarder (the staff gave
    it to the company); staff may set another one before they open the link.
    """
    await lock_contract(session, contract)
    _require_turn(contract, party)
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors can forward a request."))
    email = email.strip()
    if not name.strip() or not _valid_email(email):
        raise Invalid(_("Please enter the name and a valid e-mail address of the person."))
    if email.lower() == party.email.lower():
        raise Invalid(_("Please enter the e-mail address of another person."))
    new = Party(
        member_id=contract.member_id,
        contract_id=contract.id,
        order_no=party.order_no,
        kind=PartyKind.CONTRACTOR,
        company=party.company,
        name=name.strip()[:200],
        email=email,
        password_hash=party.password_hash,
        forwarded_from_id=party.id,
        status=PartyStatus.NOTIFIED,
        notified_at=_now(),
    )
    session.add(new)
    await session.flush()
    contract.parties.append(new)
    for box in await text_boxes(session, contract.id):
        if box.party_id == party.id:
            box.party_id = new.id
    party.status = PartyStatus.FORWARDED
    party.answered_at = _now()
    party.token_hash = None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.FORWARDED,
        who=who,
        documents=_documents(contract),
        detail={"party": str(party.id), "to_party": str(new.id), "to_email": email, "to_name": new.name},
    )
    _request_mail(settings, session, contract, new, reminder=False)
    await session.flush()
    return new


async def set_party_password(
    session: AsyncSession, contract: Contract, party: Party, password: str, who: Actor
) -> None:
    """Staff set a new access password for a contractor (e.g. after forwarding or a lock-out)."""
    if contract.status not in (ContractStatus.DRAFT, ContractStatus.CIRCULATING):
        raise Conflict(_("This contract is no longer in circulation."))
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors have an access password."))
    if party.status not in _OPEN_PARTY:
        raise Conflict(_("This party has already answered or handed the request on."))
    if len(password) < MIN_CONTRACTOR_PASSWORD:
        raise Invalid(
            _("Please set an access password of at least {n} characters for the contractor.").format(
                n=MIN_CONTRACTOR_PASSWORD
            )
        )
    # Argon2 (~160 ms of CPU) in a worker thread, not on the event loop.
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    # One UPDATE that writes all three whatever this session read earlier: a count that
    # parallel attempts raised meanwhile (see check_contractor_password) is cleared too.
    await ContractRepository(session, contract.member_id).set_party_password(party.id, password_hash)
    for key, value in (("password_hash", password_hash), ("failed_attempts", 0), ("locked", False)):
        set_committed_value(party, key, value)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.UPDATED,
        who=who,
        detail={"password_set_for": str(party.id)},
    )


async def remind(session: AsyncSession, settings: Settings, *, now: dt.datetime | None = None) -> int:
    """Remind parties that have not answered for ``KYODO_REMINDER_HOURS`` (system access); returns how many."""
    now = now or _now()
    due = now - dt.timedelta(hours=settings.contracts.reminder_hours)
    count = 0
    for party in await ContractRepository(session, None).due_for_reminder(due):
        contract = await get_contract(session, party.contract_id)
        party.reminded_at = now
        _request_mail(settings, session, contract, party, reminder=True)
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.REMINDED,
            who=Actor("system"),
            documents=_documents(contract),
            detail={"party": str(party.id)},
        )
        count += 1
    return count


# --------------------------------------------------------------------------- search


@dataclass
class SearchPage:
    """One page of results."""

    items: Sequence[Contract]
    page: int
    per_page: int
    has_next: bool
    filters: SearchFilters = field(default_factory=SearchFilters)


async def search(
    session: AsyncSession, principal: Principal, filters: SearchFilters, *, page: int = 1, per_page: int = 50
) -> SearchPage:
    """A page of contracts the caller may see."""
    page = max(1, page)
    per_page = max(1, min(per_page, 200))
    repo = ContractRepository(session, principal.member_id)
    rows = await repo.search(principal, filters, offset=(page - 1) * per_page, limit=per_page + 1)
    return SearchPage(
        items=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page, filters=filters
    )


STATUS_LABELS = {
    ContractStatus.DRAFT: "下書き",
    ContractStatus.CIRCULATING: "回覧中",
    ContractStatus.SEALING: "封緘待ち",
    ContractStatus.CONCLUDED: "締結済み",
    ContractStatus.DECLINED: "差戻し",
    ContractStatus.CANCELLED: "取消し",
    ContractStatus.SEAL_FAILED: "封緘できませんでした",
}


PARTY_STATUS_LABELS = {
    PartyStatus.WAITING: "順番待ち",
    PartyStatus.NOTIFIED: "依頼中",
    PartyStatus.AGREED: "同意済み",
    PartyStatus.DECLINED: "差戻し",
    PartyStatus.FORWARDED: "転送済み",
    PartyStatus.CANCELLED: "取消し",
}


async def to_csv(session: AsyncSession, principal: Principal, filters: SearchFilters, *, limit: int = 100_000) -> bytes:
    """Every matching contract as CSV, UTF-8 with BOM so that Excel opens it correctly."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(["契約ID", "件名", "契約番号", "取引年月日", "金額", "取引先", "状態", "ファイル名", "作成日時"])
    repo = ContractRepository(session, principal.member_id)
    async for c in repo.stream_search(principal, filters, limit=limit):
        writer.writerow(
            [
                str(c.id),
                c.subject,
                c.contract_number,
                c.transaction_date.isoformat() if c.transaction_date else "",
                "" if c.amount is None else str(c.amount),
                c.counterparty,
                STATUS_LABELS[c.status],
                " / ".join(c.file_names.splitlines()),
                c.created_at.isoformat(timespec="seconds"),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# --------------------------------------------------------------------------- audit trail screen

JST = ZoneInfo("Asia/Tokyo")
TRAIL_EXPORT_LIMIT = 100_000
"""Most events one CSV export of the audit trail holds; a wider range must be narrowed, never cut silently."""


@dataclass
class TrailEntry:
    """An event with the subject and number of its contract (empty for operations such as searches)."""

    event: AuditEvent
    subject: str
    contract_number: str


@dataclass
class TrailPage:
    """One page of the audit trail, newest first."""

    items: list[TrailEntry]
    page: int
    per_page: int
    has_next: bool


async def trail(
    session: AsyncSession, member_id: uuid.UUID, filters: TrailFilters, *, page: int = 1, per_page: int = 50
) -> TrailPage:
    """A page of the member's audit trail."""
    page = max(1, page)
    per_page = max(1, min(per_page, 200))
    rows = await ContractRepository(session, member_id).trail(filters, offset=(page - 1) * per_page, limit=per_page + 1)
    items = [TrailEntry(event, subject or "", number or "") for event, subject, number in rows[:per_page]]
    return TrailPage(items=items, page=page, per_page=per_page, has_next=len(rows) > per_page)


async def trail_csv(
    session: AsyncSession, member_id: uuid.UUID, filters: TrailFilters, kind_labels: dict[str, str]
) -> bytes:
    """The filtered trail as CSV (UTF-8 with BOM for Excel), every column including both hashes."""
    repo = ContractRepository(session, member_id)
    total = await repo.trail_count(filters)
    if total > TRAIL_EXPORT_LIMIT:
        raise Invalid(
            _("The export holds at most {limit} events; {total} match. Please narrow the date range.").format(
                limit=f"{TRAIL_EXPORT_LIMIT:,}", total=f"{total:,}"
            )
        )
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(
        [
            _("Time (Japan)"),
            _("Event"),
            _("Contract ID"),
            _("Contract number"),
            _("Subject"),
            _("Who"),
            _("E-mail"),
            _("IP address"),
            _("User agent"),
            _("Document SHA-256"),
            _("Details"),
            _("Previous hash"),
            _("Hash"),
        ]
    )
    async for event, subject, number in repo.stream_trail(filters):
        writer.writerow(
            [
                event.occurred_at.astimezone(JST).isoformat(timespec="seconds"),
                kind_labels.get(event.kind, event.kind),
                str(event.contract_id or ""),
                number or "",
                subject or "",
                event.actor,
                event.email,
                event.ip or "",
                event.user_agent,
                " ".join(event.documents),
                json.dumps(event.detail, ensure_ascii=False, sort_keys=True) if event.detail else "",
                event.prev_hash,
                event.hash,
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def address_book(session: AsyncSession, member_id: uuid.UUID) -> list[tuple[AddressBookEntry, str, str, str]]:
    """The member's address book: entry, company, person, e-mail."""
    return await ContractRepository(session, member_id).address_book()


# --------------------------------------------------------------------------- after a seal failure

_VALUE_REASONS = ("characters", "overflow")
"""Seal failures a corrected value fixes (the others need another file, or the operators)."""


def _require_failed(contract: Contract) -> None:
    if contract.status is not ContractStatus.SEAL_FAILED:
        raise Conflict(_("Only a contract that could not be sealed can be corrected this way."))


def _reset(party: Party) -> None:
    party.status = PartyStatus.WAITING
    party.answered_at = None
    party.notified_at = None
    party.reminded_at = None
    party.token_hash = None


async def _recirculate(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    who: Actor,
    *,
    reset: list[Party],
    detail: dict[str, object],
) -> None:
    for party in reset:
        _reset(party)
    contract.status = ContractStatus.CIRCULATING
    contract.seal_failure = None
    contract.completed_at = None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.RECIRCULATED,
        who=who,
        documents=[d.sha256 for d in contract.documents],
        detail={**detail, "parties": [str(p.id) for p in reset]},
    )
    await notify_next(session, settings, contract, who)
    await session.flush()


async def replace_document(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    *,
    document_id: uuid.UUID,
    file_name: str,
    data: bytes,
    who: Actor,
) -> ContractDocument:
    """Replace a file of a contract that could not be sealed; everyone agrees again, from the first party.

    Text boxes keep their place when their page still exists and they still fit;
    values typed earlier stay filled in for the parties to check.
    """
    await lock_contract(session, contract)
    _require_failed(contract)
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None:
        raise NotFound(_("The document was not found."))
    checked = await check_upload(settings, file_name, data)
    for box in await text_boxes(session, contract.id):
        if box.document_id != document.id:
            continue
        if box.page >= len(checked.page_sizes):
            raise Invalid(
                _("The new file has fewer pages than the text box “{label}” needs (page {page}).").format(
                    label=box.label, page=box.page + 1
                )
            )
        width, height = checked.page_sizes[box.page]
        if box.x + box.width > width + 0.5 or box.y + box.height > height + 0.5:
            raise Invalid(
                _("The text box “{label}” (page {page}) does not fit on the new file's page.").format(
                    label=box.label, page=box.page + 1
                )
            )
    previous = document.sha256
    document.sha256 = await BlobStore(settings).put(session, contract.member_id, data)
    document.size = len(data)
    document.page_sizes = checked.page_sizes
    document.file_name = clean_file_name(file_name)
    contract.file_names = "\n".join(d.file_name for d in contract.documents)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.UPLOADED,
        who=who,
        documents=[d.sha256 for d in contract.documents],
        detail={"replaced": previous, "file_name": document.file_name, "sha256": document.sha256, "size": len(data)},
    )
    everyone = [
        p for p in contract.parties if p.status in (PartyStatus.AGREED, PartyStatus.WAITING, PartyStatus.NOTIFIED)
    ]
    await _recirculate(session, settings, contract, who, reset=everyone, detail={"replaced_document": str(document.id)})
    return document


async def request_correction(
    session: AsyncSession, settings: Settings, contract: Contract, text_box_id: uuid.UUID, who: Actor
) -> Party:
    """Ask the party who typed a value that cannot be sealed to correct it, and everyone who saw it to agree again.

    Parties who agreed before that value was typed did not see it and keep their agreement.
    """
    await lock_contract(session, contract)
    _require_failed(contract)
    failure = contract.seal_failure or {}
    if failure.get("reason") not in _VALUE_REASONS:
        raise Conflict(
            _("This failure is not caused by an entered value; replace the file or cancel the contract."),
        )
    box = next((b for b in await text_boxes(session, contract.id) if b.id == text_box_id), None)
    if box is None:
        raise NotFound(_("The text box was not found."))
    owner = next((p for p in contract.parties if p.id == box.party_id), None)
    if owner is None or owner.answered_at is None:
        raise NotFound(_("The text box was not found."))
    seen_at = owner.answered_at
    again = [
        p
        for p in contract.parties
        if p.status is PartyStatus.AGREED and p.answered_at is not None and p.answered_at >= seen_at
    ]
    await _recirculate(
        session, settings, contract, who, reset=again, detail={"correction": str(box.id), "party": str(owner.id)}
    )
    return owner


# --------------------------------------------------------------------------- downloads


@dataclass(frozen=True)
class Download:
    """A file handed out: its bytes, the name to save it under, its type, and whether it is the sealed contract."""

    data: bytes
    file_name: str
    media_type: str = "application/pdf"
    sealed: bool | None = None
    """For a contract document: the sealed file (True) or the uploaded original (False); None otherwise."""


async def document_download(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    document_id: uuid.UUID,
    who: Actor,
    *,
    sealed_only: bool = False,
) -> Download:
    """A document to download, recorded in the audit trail.

    Once the contract is concluded this is the newest sealed file. Before, staff
    and other systems get the uploaded original, named 未封緘_… (and marked not
    sealed), so nobody keeps it for the concluded contract; ``sealed_only``
    (contractors) refuses until the seal exists.
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
        data = await store.get(session, contract.member_id, latest.sha256)
        name, digest = document.file_name, latest.sha256
    else:
        data = await store.get(session, contract.member_id, document.sha256)
        name, digest = f"未封緘_{document.file_name}", document.sha256
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=_documents(contract),
        detail={"document": str(document_id), "sha256": digest, "sealed": concluded},
    )
    return Download(data, name, sealed=concluded)


async def certificate_download(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> Download:
    """The newest sealed certificate of conclusion (WF-12), recorded like any download; 409 before the seal."""
    row = await ContractRepository(session, contract.member_id).latest_certificate(contract.id)
    if row is None:
        raise Conflict(_("The certificate of conclusion is issued once the contract is sealed."))
    data = await BlobStore(settings).get(session, contract.member_id, row.sha256)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=_documents(contract),
        detail={"certificate": True},
    )
    return Download(data, f"締結証明書_{contract.contract_number or contract.id}.pdf")


async def page_preview_png(
    session: AsyncSession, settings: Settings, contract: Contract, document_id: uuid.UUID, page: int
) -> bytes:
    """A page of a document as PNG, drawn off the event loop and cached (503-like error when it cannot be drawn)."""
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None or not 0 <= page < document.page_count:
        raise NotFound(_("The document was not found."))
    member_id, sha256 = contract.member_id, document.sha256

    async def load() -> bytes:
        return await BlobStore(settings).get(session, member_id, sha256)

    try:
        return await page_preview(member_id, sha256, page, load, limits=PdfLimits.of(settings.contracts))
    except PreviewUnavailableError as exc:
        raise Unavailable(exc.message) from exc


# --------------------------------------------------------------------------- what staff and other systems do


@dataclass(frozen=True)
class UploadedFile:
    """A file as it arrived: its name as the sender gave it, and its bytes (checked by the services)."""

    name: str
    data: bytes


@dataclass
class PasswordInput:
    """A new access password for a contractor (pass it on by phone or paper); spaces around it are dropped."""

    password: str


@dataclass
class ContractView:
    """What the contract page shows besides the contract itself."""

    contract: Contract
    boxes: list[TextBox]
    signers: list[tuple[Staff, ContractTitle]]
    """Staff and the titles they may sign under (while the contract is a draft)."""
    address_book: list[tuple[AddressBookEntry, str, str, str]]
    my_turn: bool
    """The caller is a member signer whose turn it is."""
    my_boxes: list[TextBox]
    correctable_box: TextBox | None
    """The text box whose value stopped the seal, when a corrected value can fix it."""


def correctable_box(contract: Contract, boxes: Sequence[TextBox]) -> TextBox | None:
    """The text box whose value stopped the seal, when a corrected value can fix it."""
    failure = contract.seal_failure or {}
    if contract.status is not ContractStatus.SEAL_FAILED or failure.get("reason") not in _VALUE_REASONS:
        return None
    return next((b for b in boxes if str(b.id) == failure.get("text_box_id")), None)


def _contractor_of(contract: Contract, party_id: uuid.UUID) -> Party:
    party = next((p for p in contract.parties if p.id == party_id), None)
    if party is None:
        raise NotFound(_("The party was not found."))
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors have an access password."))
    return party


def _files(files: Sequence[UploadedFile]) -> list[tuple[str, bytes]]:
    if not files:
        raise Invalid(_("Please choose at least one PDF file."))
    return [(f.name, f.data) for f in files]


class ContractActions:
    """What a member's staff (on the screens) and its other systems (through the API) do with its contracts.

    One method per action. The HTML handler and its JSON twin call the same
    method with the same input, so an action's checks, its audit event and its
    mail cannot drift apart between the two. Every method reads the contract
    as the caller may see it (another member's or another department's is not
    found) and works in the request's transaction; the request commits.
    """

    def __init__(self, session: AsyncSession, settings: Settings, principal: Principal, origin: Origin) -> None:
        if principal.member_id is None:
            raise Forbidden(_("Only staff of a member organisation can work with contracts."))
        self.session = session
        self.settings = settings
        self.principal = principal
        self.member_id: uuid.UUID = principal.member_id
        self.who = Actor.of_principal(principal, origin)
        self.repo = ContractRepository(session, principal.member_id)

    async def contract(self, contract_id: uuid.UUID) -> Contract:
        """The contract with its documents and parties (404 when the caller may not see it)."""
        return await get_contract(self.session, contract_id, self.principal)

    # ---------------------------------------------------------------- drafting

    async def titles(self) -> Sequence[ContractTitle]:
        """The titles a new contract may be concluded under."""
        return await self.repo.active_titles()

    async def create(self, data: ContractInput, files: Sequence[UploadedFile] = ()) -> Contract:
        """A new draft with its files (every file is checked before any is stored)."""
        contract = await create_contract(self.session, self.principal, data, self.who)
        if files:
            await add_documents(self.session, self.settings, contract, [(f.name, f.data) for f in files], self.who)
        return contract

    async def add_documents(self, contract_id: uuid.UUID, files: Sequence[UploadedFile]) -> list[ContractDocument]:
        """Add PDFs to a draft."""
        contract = await self.contract(contract_id)
        return await add_documents(self.session, self.settings, contract, _files(files), self.who)

    async def add_party(self, contract_id: uuid.UUID, data: PartyInput) -> Party:
        """Add a party (a contractor, one from the address book, or a member signer) to a draft."""
        return await add_party(self.session, await self.contract(contract_id), data, self.who)

    async def add_text_box(self, contract_id: uuid.UUID, data: TextBoxInput) -> TextBox:
        """Place a text box on a page of a draft's document."""
        return await add_text_box(self.session, await self.contract(contract_id), data, self.who)

    async def contractor(self, contract_id: uuid.UUID, party_id: uuid.UUID) -> tuple[Contract, Party]:
        """A contractor party of the contract (for the password form)."""
        contract = await self.contract(contract_id)
        return contract, _contractor_of(contract, party_id)

    async def set_password(self, contract_id: uuid.UUID, party_id: uuid.UUID, data: PasswordInput) -> Party:
        """Set a contractor's new access password; it also unlocks the link."""
        contract, party = await self.contractor(contract_id, party_id)
        await set_party_password(self.session, contract, party, data.password.strip(), self.who)
        return party

    # ---------------------------------------------------------------- circulation

    async def send(self, contract_id: uuid.UUID) -> Contract:
        """Start circulation: the first party (or parties) get their mail."""
        return await send(self.session, self.settings, await self.contract(contract_id), self.who)

    async def cancel(self, contract_id: uuid.UUID) -> Contract:
        """Cancel until completion; every link stops working."""
        return await cancel(self.session, self.settings, await self.contract(contract_id), self.who)

    async def sign(self, contract_id: uuid.UUID, values: dict[str, str]) -> Contract:
        """Agree as a member signer under the title granted, filling the signer's boxes."""
        contract = await self.contract(contract_id)
        await staff_agree(
            self.session, self.settings, contract=contract, principal=self.principal, values=values, who=self.who
        )
        return contract

    async def replace_document(
        self, contract_id: uuid.UUID, document_id: uuid.UUID, file: UploadedFile | None
    ) -> Contract:
        """Replace a file of a contract that could not be sealed; it circulates again from the first party."""
        contract = await self.contract(contract_id)
        if file is None:
            raise Invalid(_("Please choose at least one PDF file."))
        await replace_document(
            self.session,
            self.settings,
            contract,
            document_id=document_id,
            file_name=file.name,
            data=file.data,
            who=self.who,
        )
        return contract

    async def request_correction(self, contract_id: uuid.UUID, text_box_id: uuid.UUID) -> Contract:
        """Ask the party who typed a value that cannot be sealed to correct it."""
        contract = await self.contract(contract_id)
        await request_correction(self.session, self.settings, contract, text_box_id, self.who)
        return contract

    # ---------------------------------------------------------------- reading

    async def view(self, contract_id: uuid.UUID) -> ContractView:
        """The contract page: boxes, who may sign, the address book, the caller's turn and boxes."""
        contract = await self.contract(contract_id)
        boxes = await self.repo.text_boxes(contract.id)
        signers = await self.repo.signers() if contract.status is ContractStatus.DRAFT else []
        book = await self.repo.address_book() if self.principal.can("addressbook", "view") else []
        me = self.principal.id
        mine = {p.id for p in contract.parties if p.kind is PartyKind.STAFF and p.staff_id == me}
        return ContractView(
            contract=contract,
            boxes=boxes,
            signers=signers,
            address_book=book,
            my_turn=any(p.id in mine and p.status is PartyStatus.NOTIFIED for p in contract.parties),
            my_boxes=[b for b in boxes if b.party_id in mine],
            correctable_box=correctable_box(contract, boxes),
        )

    async def download(self, contract_id: uuid.UUID, document_id: uuid.UUID) -> Download:
        """A document (the sealed file once the contract is concluded), recorded in the trail."""
        contract = await self.contract(contract_id)
        return await document_download(self.session, self.settings, contract, document_id, self.who)

    async def certificate(self, contract_id: uuid.UUID) -> Download:
        """The sealed certificate of conclusion (締結証明書), recorded in the trail."""
        contract = await self.contract(contract_id)
        return await certificate_download(self.session, self.settings, contract, self.who)

    async def preview(self, contract_id: uuid.UUID, document_id: uuid.UUID, page: int) -> bytes:
        """A page preview (PNG)."""
        contract = await self.contract(contract_id)
        return await page_preview_png(self.session, self.settings, contract, document_id, page)

    async def search(self, filters: SearchFilters, *, page: int = 1, per_page: int = 50) -> SearchPage:
        """A page of the contracts the caller may see that match the search keys."""
        return await search(self.session, self.principal, filters, page=page, per_page=per_page)

    async def export(self, filters: SearchFilters) -> Download:
        """The search result as CSV (UTF-8 with BOM, for Excel); the export is recorded in the trail."""
        body = await to_csv(self.session, self.principal, filters)
        await append_event(
            self.session,
            member_id=self.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=self.who,
            detail={"terms": filters.terms()},
        )
        return Download(body, "contracts.csv", media_type="text/csv; charset=utf-8")

    # ---------------------------------------------------------------- the audit trail

    async def trail(self, filters: TrailFilters, *, page: int = 1, per_page: int = 50) -> TrailPage:
        """A page of the member's audit trail, newest first."""
        return await trail(self.session, self.member_id, filters, page=page, per_page=per_page)

    async def verify_trail(self, cache: Redis | None) -> tuple[list[int], int]:
        """Ids of the member's events that break their chains, and how many were checked (the whole trail)."""
        return await verify_member_trail(self.session, cache, self.member_id)

    async def export_trail(self, filters: TrailFilters, kind_labels: dict[str, str]) -> Download:
        """The filtered audit trail as CSV (UTF-8 with BOM); the export itself is recorded in the trail."""
        body = await trail_csv(self.session, self.member_id, filters, kind_labels)
        await append_event(
            self.session,
            member_id=self.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=self.who,
            detail={"audit_trail": True, "terms": {k: str(v) for k, v in dataclasses.asdict(filters).items() if v}},
        )
        return Download(body, "audit-trail.csv", media_type="text/csv; charset=utf-8")


# --------------------------------------------------------------------------- what a contractor's link allows


@dataclass
class ForwardInput:
    """The person a contractor hands the request to."""

    name: str
    email: str


class ContractorLink:
    """A contractor's personal link, opened: the one party and contract it gives access to.

    The link is the only key a contractor has. :meth:`open` finds it across
    members (inside :func:`core.scope.elevated`), then the session works only
    inside the member that owns the contract.
    """

    def __init__(
        self, session: AsyncSession, settings: Settings, party: Party, contract: Contract, origin: Origin
    ) -> None:
        self.session = session
        self.settings = settings
        self.party = party
        self.contract = contract
        self.who = Actor.of_party(party, origin)

    @classmethod
    async def open(cls, session: AsyncSession, settings: Settings, token: str, origin: Origin) -> ContractorLink:
        """The party and contract behind ``token`` (404/410-like errors for a dead link)."""
        async with elevated(session):
            party, contract = await party_by_token(session, token)
        await for_member(session, contract.member_id)
        return cls(session, settings, party, contract, origin)

    def gate_value(self) -> str:
        """What the browser keeps once the access password was right (see :func:`gate_cookie_value`)."""
        return gate_cookie_value(self.settings.app.resolved_secret_key(), self.party)

    @property
    def can_answer(self) -> bool:
        """It is this party's turn to agree, decline or forward."""
        return self.contract.status is ContractStatus.CIRCULATING and self.party.status is PartyStatus.NOTIFIED

    @property
    def can_download(self) -> bool:
        """The contract is concluded (sealed): its files and certificate can be downloaded."""
        return self.contract.status is ContractStatus.CONCLUDED

    async def boxes(self) -> list[TextBox]:
        """The text boxes this party fills."""
        return [b for b in await text_boxes(self.session, self.contract.id) if b.party_id == self.party.id]

    async def check_password(self, password: str) -> bool:
        """Check the access password; failures and lock-outs are committed whatever the answer says."""
        ok = await check_contractor_password(
            self.session, self.settings, party=self.party, contract=self.contract, password=password, who=self.who
        )
        await self.session.commit()
        return ok

    async def agree(self, values: dict[str, str]) -> None:
        """Fill the party's boxes and agree."""
        await agree(self.session, self.settings, contract=self.contract, party=self.party, values=values, who=self.who)

    async def decline(self, reason: str) -> None:
        """Decline with a reason."""
        await decline(
            self.session, self.settings, contract=self.contract, party=self.party, reason=reason, who=self.who
        )

    async def forward(self, data: ForwardInput) -> Party:
        """Hand the request to another person of the company; this link stops working."""
        return await forward(
            self.session,
            self.settings,
            contract=self.contract,
            party=self.party,
            name=data.name,
            email=data.email,
            who=self.who,
        )

    async def download(self, document_id: uuid.UUID) -> Download:
        """A file of the concluded contract (refused until it is sealed)."""
        return await document_download(
            self.session, self.settings, self.contract, document_id, self.who, sealed_only=True
        )

    async def certificate(self) -> Download:
        """The certificate of conclusion of this contract."""
        return await certificate_download(self.session, self.settings, self.contract, self.who)

    async def preview(self, document_id: uuid.UUID, page: int) -> bytes:
        """A page preview (PNG)."""
        return await page_preview_png(self.session, self.settings, self.contract, document_id, page)
