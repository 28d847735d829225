"""Drafting: a new contract, its files, its parties and their access passwords, its text boxes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from core.i18n import gettext as _
from core.scope import Principal, ViewScope
from core.settings import Settings
from core.text import has_control_characters, readable_secret
from onboarding.environment import environment_of
from signing.audit import Actor, append_event
from signing.blobs import BlobStore
from signing.models import (
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyKind,
    TextBox,
)
from signing.pdfcheck import CheckedPdf, PdfLimits, PdfRejectedError
from signing.pdfgate import check_pdf_off_loop
from signing.repositories import ContractRepository
from signing.services._common import (
    MIN_CONTRACTOR_PASSWORD,
    OPEN_PARTY,
    documents_of,
    require_draft,
    text_boxes,
    valid_email,
)
from tenants.models import AddressBookEntry
from tenants.passwords import hash_access_code


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
    if has_control_characters(data.subject.strip()):
        raise Invalid(_("The subject cannot contain line breaks or control characters."))
    if data.amount is not None and data.amount < 0:
        raise Invalid(_("The amount cannot be negative."))
    repo = ContractRepository(session, principal.member_id)
    title = await repo.title(data.title_id)
    if title is None or not title.active:
        raise Invalid(_("Please choose a contract title of your organisation."))
    department_id = data.department_id or principal.department_id
    if department_id is not None and await repo.department(department_id) is None:
        raise Invalid(_("Please choose a department of your organisation."))
    if (
        principal.view_scope is ViewScope.DEPARTMENT
        and not principal.can("contract", "view_all")
        and department_id != principal.department_id
    ):
        # The same rule as for reading (ContractRepository.visible): a drafter limited to
        # their department makes contracts of that department only, never one they could not open.
        raise Forbidden(_("You can only create contracts of your own department."))
    member = await repo.member()
    if member is None:
        raise NotFound(_("The contract was not found."))
    contract = Contract(
        member_id=principal.member_id,
        # Fixed for the contract's life: made in the sandbox or trial, it stays a test
        # contract (marked mails, test seal) until go-live deletes it.
        environment=environment_of(member),
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


async def swap_document_file(
    session: AsyncSession, settings: Settings, contract: Contract, document: ContractDocument, *, name: str, data: bytes
) -> str:
    """Put another PDF in place of ``document``'s file and return the hash of the one it replaces.

    The new file is checked as every upload is, and every text box placed on the
    document must still find its page and fit on it: otherwise nothing changes.

    :raises core.errors.Invalid: the PDF is refused, or a box would leave its page.
    """
    checked = await check_upload(settings, name, data)
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
    document.file_name = name
    contract.file_names = "\n".join(d.file_name for d in contract.documents)
    return previous


async def add_documents(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    files: Sequence[tuple[str, bytes]],
    who: Actor,
) -> list[ContractDocument]:
    """Check every PDF first, then attach them all; when one is refused nothing is stored."""
    require_draft(contract)
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
            documents=documents_of(contract),
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


async def add_party(session: AsyncSession, contract: Contract, data: PartyInput, who: Actor) -> Party:
    """Add a party to a draft; the same ``order_no`` as another party means in parallel."""
    require_draft(contract)
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
        check_contractor(data.name, email, data.company)
        check_contractor_password(data.password)
        party = Party(
            member_id=contract.member_id,
            contract_id=contract.id,
            order_no=data.order_no,
            kind=PartyKind.CONTRACTOR,
            company=data.company.strip()[:200],
            name=data.name.strip()[:200],
            email=email,
            contact_id=contact_id,
            password_hash=await hash_access_code(data.password),
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
        documents=documents_of(contract),
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


MIN_BOX_WIDTH = 10.0
"""Narrowest text box in PDF points (about 3.5 mm): room for one character."""
MIN_BOX_HEIGHT = 8.0
"""Lowest text box in PDF points (about 2.8 mm)."""


def check_box_place(document: ContractDocument, page: int, place: tuple[float, float, float, float]) -> None:
    """Refuse a box (``place``: x, y, width, height in points) off an existing page of ``document`` or too small.

    :raises core.errors.Invalid: with the limits in millimetres, as the editor shows them.
    """
    if not 0 <= page < document.page_count:
        raise Invalid(_("The page does not exist in this document."))
    page_width, page_height = document.page_sizes[page]
    x, y, width, height = place
    if (
        width < MIN_BOX_WIDTH
        or height < MIN_BOX_HEIGHT
        or x < 0
        or y < 0
        or x + width > page_width + 0.5
        or y + height > page_height + 0.5
    ):
        raise Invalid(_("The box must lie on the page and be at least 3.5 mm wide and 2.8 mm high."))


def check_box_label(label: str) -> None:
    """Refuse an empty label or one with line breaks."""
    if not label.strip():
        raise Invalid(_("Please enter a label for the box."))
    if has_control_characters(label.strip()):
        raise Invalid(_("The label cannot contain line breaks or control characters."))


def check_contractor(name: str, email: str, company: str) -> None:
    """Refuse a contractor without a name or a valid e-mail address, or with control characters."""
    if has_control_characters(name.strip() + company.strip()):
        raise Invalid(_("Names cannot contain line breaks or control characters."))
    if not name.strip() or not valid_email(email.strip()):
        raise Invalid(_("Please enter the contractor's name and a valid e-mail address."))


def check_contractor_password(password: str) -> None:
    """Refuse an access password shorter than :data:`MIN_CONTRACTOR_PASSWORD`."""
    if len(password) < MIN_CONTRACTOR_PASSWORD:
        raise Invalid(
            _("Please set an access password of at least {n} characters for the contractor.").format(
                n=MIN_CONTRACTOR_PASSWORD
            )
        )


async def add_text_box(session: AsyncSession, contract: Contract, data: TextBoxInput, who: Actor) -> TextBox:
    """Place a box on a page of one of the contract's documents."""
    require_draft(contract)
    document = next((d for d in contract.documents if d.id == data.document_id), None)
    party = next((p for p in contract.parties if p.id == data.party_id), None)
    if document is None or party is None:
        raise Invalid(_("Please choose a document and a party of this contract."))
    check_box_place(document, data.page, (data.x, data.y, data.width, data.height))
    check_box_label(data.label)
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
        documents=documents_of(contract),
        detail={"text_box": str(box.id), "page": box.page, "party": str(party.id)},
    )
    return box


async def set_party_password(
    session: AsyncSession, contract: Contract, party: Party, password: str, who: Actor
) -> None:
    """Staff set a new access password for a contractor (e.g. after forwarding or a lock-out)."""
    if contract.status not in (ContractStatus.DRAFT, ContractStatus.CIRCULATING):
        raise Conflict(_("This contract is no longer in circulation."))
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors have an access password."))
    if party.status not in OPEN_PARTY:
        raise Conflict(_("This party has already answered or handed the request on."))
    if len(password) < MIN_CONTRACTOR_PASSWORD:
        raise Invalid(
            _("Please set an access password of at least {n} characters for the contractor.").format(
                n=MIN_CONTRACTOR_PASSWORD
            )
        )
    # Argon2 (~160 ms of CPU) in a worker thread, not on the event loop.
    password_hash = await hash_access_code(password)
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


async def address_book(session: AsyncSession, member_id: uuid.UUID) -> list[tuple[AddressBookEntry, str, str, str]]:
    """The member's address book: entry, company, person, e-mail."""
    return await ContractRepository(session, member_id).address_book()


def suggested_password(length: int = 10) -> str:
    """An access password staff may give a contractor: easy to read out, longer than the minimum."""
    return readable_secret(max(length, MIN_CONTRACTOR_PASSWORD))
