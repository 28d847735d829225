"""Editing a draft until it is sent: particulars, parties and their order, text boxes, files; deleting,
copying, and revising a declined contract as a new version.

Every change is one audit event of the contract (``updated``, ``uploaded``,
``deleted``, ``created``/``revised``) with what was before and after, so the
trail of a draft tells how it came to be what was sent. A contract that has
been sent refuses every change here with :class:`core.errors.Conflict`; what
may still change after sending (a contractor's password, a corrected file
after a seal failure) has its own action.

Order numbers are never typed: parties are kept as a list of steps (parties
of one step agree in parallel) and numbered 1, 2, 3 … whenever the list
changes, so removing or moving a party leaves no gap.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from core.i18n import gettext as _
from core.scope import Principal, ViewScope
from core.settings import Settings
from core.text import has_control_characters
from signing.audit import Actor, append_event
from signing.models import (
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
    TextBox,
)
from signing.repositories import ContractRepository
from signing.services._common import documents_of, lock_contract, now, require_draft, text_boxes
from signing.services._drafts import (
    ContractInput,
    check_box_label,
    check_box_place,
    check_contractor,
    check_contractor_password,
    clean_file_name,
    create_contract,
    swap_document_file,
)
from tenants.passwords import hash_password

__all__ = [
    "CLEARABLE",
    "DraftChanges",
    "PartyChanges",
    "PartyMove",
    "PartyOrder",
    "TextBoxChanges",
    "copy_contract",
    "delete_draft",
    "edit_draft",
    "edit_party",
    "edit_text_box",
    "move_party",
    "moved",
    "next_order",
    "remove_document",
    "remove_party",
    "remove_text_box",
    "reorder_parties",
    "replace_draft_document",
    "revise_declined",
    "steps",
]

CLEARABLE = ("contract_number", "amount", "transaction_date", "counterparty", "department_id")
"""Particulars that may be emptied (``DraftChanges.clear``); subject and title are always required."""


async def _event(
    session: AsyncSession, contract: Contract, who: Actor, kind: AuditKind, detail: dict[str, object]
) -> None:
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=kind,
        who=who,
        documents=documents_of(contract),
        detail=detail,
    )


async def _editable(session: AsyncSession, contract: Contract) -> None:
    """Lock the contract (two tabs editing at once) and refuse it once sent."""
    await lock_contract(session, contract)
    require_draft(contract)


T = TypeVar("T")


def pick(given: T | None, current: T) -> T:
    """``given`` unless it was left out (None)."""
    return current if given is None else given


def _text(value: object) -> object:
    """A value as the trail keeps it (dates and ids as text)."""
    return str(value) if isinstance(value, dt.date | uuid.UUID) else value


# ---------------------------------------------------------------------------- particulars


@dataclass
class DraftChanges:
    """Changes to a draft's particulars: a field left ``null`` stays as it is.

    ``clear`` names optional particulars to empty (``contract_number``,
    ``amount``, ``transaction_date``, ``counterparty``, ``department_id``).
    """

    subject: str | None = None
    contract_number: str | None = None
    amount: int | None = None
    transaction_date: dt.date | None = None
    counterparty: str | None = None
    department_id: uuid.UUID | None = None
    title_id: uuid.UUID | None = None
    clear: list[str] = field(default_factory=list)


def _wanted(data: DraftChanges) -> dict[str, object]:
    """The particulars ``data`` sets, checked; emptied ones as empty text or None."""
    wanted: dict[str, object] = dict.fromkeys(data.clear)
    for name in ("contract_number", "counterparty"):
        if name in data.clear:
            wanted[name] = ""
    if data.subject is not None:
        subject = data.subject.strip()
        if not subject:
            raise Invalid(_("Please enter the subject."))
        wanted["subject"] = subject[:400]
    for name, limit in (("contract_number", 100), ("counterparty", 400)):
        value = getattr(data, name)
        if value is not None:
            wanted[name] = value.strip()[:limit]
    if any(has_control_characters(str(wanted.get(n) or "")) for n in ("subject", "contract_number", "counterparty")):
        raise Invalid(_("The particulars cannot contain line breaks or control characters."))
    if data.amount is not None:
        if data.amount < 0:
            raise Invalid(_("The amount cannot be negative."))
        wanted["amount"] = data.amount
    if data.transaction_date is not None:
        wanted["transaction_date"] = data.transaction_date
    return wanted


async def _references(repo: ContractRepository, data: DraftChanges) -> dict[str, object]:
    """The title and department ``data`` sets, checked to be the member's."""
    wanted: dict[str, object] = {}
    if data.title_id is not None:
        title = await repo.title(data.title_id)
        if title is None or not title.active:
            raise Invalid(_("Please choose a contract title of your organisation."))
        wanted["title_id"] = title.id
    if data.department_id is not None:
        if await repo.department(data.department_id) is None:
            raise Invalid(_("Please choose a department of your organisation."))
        wanted["department_id"] = data.department_id
    return wanted


async def edit_draft(
    session: AsyncSession, principal: Principal, contract: Contract, data: DraftChanges, who: Actor
) -> Contract:
    """Change subject, number, amount, date, counterparty, department or title of a draft (one event: before → after).

    :raises core.errors.Conflict: the contract has been sent.
    :raises core.errors.Invalid: an empty subject, a negative amount, a title or department not of the member.
    """
    await _editable(session, contract)
    unknown = sorted(set(data.clear) - set(CLEARABLE))
    if unknown:
        raise Invalid(_("These particulars cannot be emptied: {names}.").format(names=", ".join(unknown)))
    wanted = {**_wanted(data), **await _references(ContractRepository(session, contract.member_id), data)}
    if "department_id" in wanted and (
        principal.view_scope is ViewScope.DEPARTMENT
        and not principal.can("contract", "view_all")
        and wanted["department_id"] != principal.department_id
    ):
        raise Forbidden(_("You can only create contracts of your own department."))
    changed = {
        name: {"from": _text(getattr(contract, name)), "to": _text(value)}
        for name, value in wanted.items()
        if getattr(contract, name) != value
    }
    if not changed:
        return contract
    for name, value in wanted.items():
        setattr(contract, name, value)
    await session.flush()
    await _event(session, contract, who, AuditKind.UPDATED, {"changed": changed})
    return contract


# ---------------------------------------------------------------------------- parties and their order


def steps(parties: list[Party]) -> list[list[Party]]:
    """The parties as steps in order; the parties of one step agree in parallel."""
    by_order: dict[int, list[Party]] = {}
    for party in sorted(parties, key=lambda p: (p.order_no, p.created_at)):
        by_order.setdefault(party.order_no, []).append(party)
    return [by_order[k] for k in sorted(by_order)]


def next_order(contract: Contract, *, parallel: bool = False) -> int:
    """The order number a party added now gets: a step of its own after the others, or in parallel with the last."""
    last = max((p.order_no for p in contract.parties), default=0)
    return max(last, 1) if parallel else last + 1


PartyMove = Literal["up", "down", "together", "apart"]
"""How a party moves on the screen: one step earlier or later, in parallel with the step before, or on its own."""


def moved(groups: list[list[uuid.UUID]], party_id: uuid.UUID, how: PartyMove) -> list[list[uuid.UUID]]:
    """The steps after moving one party (a pure function: the screen's up/down buttons).

    ``up``/``down``: a party alone in its step swaps places with the step before/after;
    a party of a parallel step leaves it for a step of its own just before/after it.
    ``together``: the party joins the step before (in parallel). ``apart``: it leaves its
    parallel step for one of its own right after it. At an end nothing changes.
    """
    result = [list(g) for g in groups]
    index = next((i for i, g in enumerate(result) if party_id in g), None)
    if index is None:
        raise NotFound(_("The party was not found."))
    group = result[index]
    alone = len(group) == 1
    if how == "up":
        if alone and index > 0:
            result[index - 1], result[index] = result[index], result[index - 1]
        elif not alone:
            group.remove(party_id)
            result.insert(index, [party_id])
    elif how == "down":
        if alone and index < len(result) - 1:
            result[index + 1], result[index] = result[index], result[index + 1]
        elif not alone:
            group.remove(party_id)
            result.insert(index + 1, [party_id])
    elif how == "together":
        if index > 0:
            group.remove(party_id)
            result[index - 1].append(party_id)
    elif how == "apart" and not alone:
        group.remove(party_id)
        result.insert(index + 1, [party_id])
    return [g for g in result if g]


@dataclass
class PartyOrder:
    """The new order of every party of a draft: a list of steps, each a list of party ids agreeing in parallel.

    ``[[a], [b, c], [d]]`` means a first, then b and c in parallel, then d.
    """

    steps: list[list[uuid.UUID]]


async def reorder_parties(session: AsyncSession, contract: Contract, data: PartyOrder, who: Actor) -> list[Party]:
    """Number the parties 1, 2, 3 … by the steps given (each party exactly once).

    :raises core.errors.Invalid: a party missing, named twice or not of this contract.
    """
    await _editable(session, contract)
    ids = [party_id for group in data.steps for party_id in group]
    mine = {p.id: p for p in contract.parties}
    if len(ids) != len(set(ids)) or set(ids) != set(mine):
        raise Invalid(_("Please list every party of this contract exactly once."))
    before = {str(p.id): p.order_no for p in contract.parties}
    for number, group in enumerate((g for g in data.steps if g), start=1):
        for party_id in group:
            mine[party_id].order_no = number
    after = {str(p.id): p.order_no for p in contract.parties}
    if after != before:
        await session.flush()
        await _event(session, contract, who, AuditKind.UPDATED, {"order": {"from": before, "to": after}})
    return sorted(contract.parties, key=lambda p: (p.order_no, p.created_at))


async def move_party(
    session: AsyncSession, contract: Contract, party_id: uuid.UUID, how: PartyMove, who: Actor
) -> list[Party]:
    """Move one party as the screen's buttons do (:func:`moved`)."""
    groups = [[p.id for p in group] for group in steps(contract.parties)]
    return await reorder_parties(session, contract, PartyOrder(moved(groups, party_id, how)), who)


async def _renumber(contract: Contract) -> None:
    """Close the gaps a removed party leaves; parallel steps stay together."""
    for number, group in enumerate(steps(contract.parties), start=1):
        for party in group:
            party.order_no = number


@dataclass
class PartyChanges:
    """Changes to a party of a draft: a field left ``null`` stays as it is.

    For a contractor: ``company``, ``name``, ``email``, and ``password`` (a new
    access password). For a member signer: ``staff_id`` and ``title_id``.
    """

    company: str | None = None
    name: str | None = None
    email: str | None = None
    password: str | None = None
    staff_id: uuid.UUID | None = None
    title_id: uuid.UUID | None = None


def _party_of(contract: Contract, party_id: uuid.UUID) -> Party:
    party = next((p for p in contract.parties if p.id == party_id), None)
    if party is None:
        raise NotFound(_("The party was not found."))
    return party


async def edit_party(
    session: AsyncSession, contract: Contract, party_id: uuid.UUID, data: PartyChanges, who: Actor
) -> Party:
    """Correct a party of a draft; the trail keeps the old and new values (never a password).

    :raises core.errors.Invalid: a contractor without a name or valid e-mail, a short password,
        a signer who does not hold the title.
    """
    await _editable(session, contract)
    party = _party_of(contract, party_id)
    before = {"company": party.company, "name": party.name, "email": party.email}
    detail: dict[str, object] = {"party": str(party.id)}
    if party.kind is PartyKind.CONTRACTOR:
        company = party.company if data.company is None else data.company.strip()[:200]
        name = party.name if data.name is None else data.name.strip()[:200]
        email = party.email if data.email is None else data.email.strip()
        check_contractor(name, email, company)
        if data.password:
            check_contractor_password(data.password)
            party.password_hash = await anyio.to_thread.run_sync(hash_password, data.password)
            detail["password_set"] = True
        if (name, email) != (party.name, party.email):
            party.contact_id = None  # no longer the address book's person
        party.company, party.name, party.email = company, name, email
    else:
        repo = ContractRepository(session, contract.member_id)
        staff_id = data.staff_id or party.staff_id
        title_id = data.title_id or party.title_id or contract.title_id
        staff = await repo.staff(staff_id) if staff_id else None
        if staff is None:
            raise Invalid(_("Please choose a staff member of your organisation."))
        if not await repo.holds_title(staff.id, title_id):
            raise Invalid(_("{name} may not conclude contracts under this title.").format(name=staff.name))
        if party.title_id != title_id:
            detail["title"] = {"from": _text(party.title_id), "to": str(title_id)}
        party.staff_id, party.title_id, party.name, party.email = staff.id, title_id, staff.name, staff.email
    after = {"company": party.company, "name": party.name, "email": party.email}
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if changed or len(detail) > 1:
        await session.flush()
        await _event(session, contract, who, AuditKind.UPDATED, {**detail, "party_changed": changed})
    return party


async def remove_party(session: AsyncSession, contract: Contract, party_id: uuid.UUID, who: Actor) -> None:
    """Remove a party of a draft with the text boxes it would fill; the others are numbered without a gap."""
    await _editable(session, contract)
    party = _party_of(contract, party_id)
    boxes = [b for b in await text_boxes(session, contract.id) if b.party_id == party.id]
    for box in boxes:
        await session.delete(box)
    await session.delete(party)
    contract.parties.remove(party)
    await session.flush()
    await _renumber(contract)
    await session.flush()
    await _event(
        session,
        contract,
        who,
        AuditKind.UPDATED,
        {
            "party_removed": str(party.id),
            "email": party.email,
            "name": party.label,
            "text_boxes_removed": [str(b.id) for b in boxes],
        },
    )


# ---------------------------------------------------------------------------- text boxes


@dataclass
class TextBoxChanges:
    """Changes to a text box of a draft: a field left ``null`` stays as it is.

    Position and size in PDF points from the bottom-left corner of the page
    (1 mm = 2.835 pt); ``page`` zero-based; ``party_id`` reassigns the box.
    """

    document_id: uuid.UUID | None = None
    party_id: uuid.UUID | None = None
    page: int | None = None
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None
    label: str | None = None
    required: bool | None = None


async def _box_of(session: AsyncSession, contract: Contract, box_id: uuid.UUID) -> TextBox:
    box = next((b for b in await text_boxes(session, contract.id) if b.id == box_id), None)
    if box is None:
        raise NotFound(_("The text box was not found."))
    return box


async def edit_text_box(
    session: AsyncSession, contract: Contract, box_id: uuid.UUID, data: TextBoxChanges, who: Actor
) -> TextBox:
    """Move, resize, relabel or reassign a box of a draft (checked as a new box is).

    :raises core.errors.Invalid: off the page, too small, no label, a document or party not of this contract.
    """
    await _editable(session, contract)
    box = await _box_of(session, contract, box_id)

    page = pick(data.page, box.page)
    place = (pick(data.x, box.x), pick(data.y, box.y), pick(data.width, box.width), pick(data.height, box.height))
    label = pick(data.label, box.label)
    document = next((d for d in contract.documents if d.id == pick(data.document_id, box.document_id)), None)
    party = next((p for p in contract.parties if p.id == pick(data.party_id, box.party_id)), None)
    if document is None or party is None:
        raise Invalid(_("Please choose a document and a party of this contract."))
    check_box_place(document, page, place)
    check_box_label(label)
    new: dict[str, object] = {
        "document_id": document.id,
        "party_id": party.id,
        "page": page,
        "x": place[0],
        "y": place[1],
        "width": place[2],
        "height": place[3],
        "label": label.strip()[:200],
        "required": pick(data.required, box.required),
    }
    changed = {
        name: {"from": _text(getattr(box, name)), "to": _text(value)}
        for name, value in new.items()
        if getattr(box, name) != value
    }
    if not changed:
        return box
    for name, value in new.items():
        setattr(box, name, value)
    await session.flush()
    await _event(session, contract, who, AuditKind.UPDATED, {"text_box": str(box.id), "changed": changed})
    return box


async def remove_text_box(session: AsyncSession, contract: Contract, box_id: uuid.UUID, who: Actor) -> None:
    """Delete a box of a draft."""
    await _editable(session, contract)
    box = await _box_of(session, contract, box_id)
    await session.delete(box)
    await session.flush()
    await _event(
        session,
        contract,
        who,
        AuditKind.UPDATED,
        {"text_box_removed": str(box.id), "label": box.label, "page": box.page},
    )


# ---------------------------------------------------------------------------- files


def _document_of(contract: Contract, document_id: uuid.UUID) -> ContractDocument:
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None:
        raise NotFound(_("The document was not found."))
    return document


async def replace_draft_document(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    *,
    document_id: uuid.UUID,
    file_name: str,
    data: bytes,
    who: Actor,
) -> ContractDocument:
    """Replace a file of a draft with another PDF, checked as every upload is; its text boxes keep their place.

    :raises core.errors.Invalid: the PDF is refused, or a text box would no longer be on its page
        (nothing is changed; move or delete that box first).
    """
    await _editable(session, contract)
    document = _document_of(contract, document_id)
    name = clean_file_name(file_name)
    total = sum(d.size for d in contract.documents) - document.size + len(data)
    if total > settings.contracts.max_contract_mb * 1024 * 1024:
        raise TooLarge(
            _("The files of one contract may total at most {limit} MB. “{name}” was not added.").format(
                limit=settings.contracts.max_contract_mb, name=name
            ),
        )
    previous = await swap_document_file(session, settings, contract, document, name=name, data=data)
    await session.flush()
    await _event(
        session,
        contract,
        who,
        AuditKind.UPLOADED,
        {"replaced": previous, "file_name": name, "sha256": document.sha256, "size": len(data)},
    )
    return document


async def remove_document(session: AsyncSession, contract: Contract, document_id: uuid.UUID, who: Actor) -> None:
    """Remove a file of a draft with the text boxes placed on it; the others keep their order."""
    await _editable(session, contract)
    document = _document_of(contract, document_id)
    boxes = [b for b in await text_boxes(session, contract.id) if b.document_id == document.id]
    for box in boxes:
        await session.delete(box)
    await session.delete(document)
    contract.documents.remove(document)
    await session.flush()
    # Ascending, one at a time: (contract, position) is unique at every step.
    for position, remaining in enumerate(sorted(contract.documents, key=lambda d: d.position), start=1):
        if remaining.position != position:
            remaining.position = position
            await session.flush()
    contract.file_names = "\n".join(d.file_name for d in contract.documents)
    await session.flush()
    await _event(
        session,
        contract,
        who,
        AuditKind.UPDATED,
        {
            "document_removed": str(document.id),
            "file_name": document.file_name,
            "sha256": document.sha256,
            "text_boxes_removed": [str(b.id) for b in boxes],
        },
    )


# ---------------------------------------------------------------------------- delete, copy, revise


async def delete_draft(session: AsyncSession, contract: Contract, who: Actor) -> None:
    """Delete a draft that was never sent: its files, parties and boxes go; the trail records the deletion.

    The contract's row stays, marked deleted and shown nowhere, because its
    audit trail (append-only) refers to it; the event says who deleted what.
    """
    await _editable(session, contract)
    if contract.deleted_at is not None:
        return
    detail: dict[str, object] = {
        "subject": contract.subject,
        "contract_number": contract.contract_number,
        "documents": [{"file_name": d.file_name, "sha256": d.sha256} for d in contract.documents],
        "parties": [p.email for p in contract.parties],
    }
    for box in await text_boxes(session, contract.id):
        await session.delete(box)
    for party in list(contract.parties):
        await session.delete(party)
    for document in list(contract.documents):
        await session.delete(document)
    await session.flush()
    await _event(session, contract, who, AuditKind.DELETED, detail)
    contract.parties.clear()
    contract.documents.clear()
    contract.deleted_at = now()
    contract.file_names = ""
    await session.flush()


async def copy_contract(
    session: AsyncSession,
    principal: Principal,
    contract: Contract,
    who: Actor,
    *,
    revision: bool = False,
) -> Contract:
    """A new draft made from any contract: its particulars, files (the originals), parties and boxes.

    Values typed into boxes are not copied, nor are contractors' access passwords
    (staff set new ones before sending), except for a revision of a declined
    contract (:func:`revise_declined`), whose contractors keep the password they know.
    Parties who forwarded their request are replaced by the person they chose.
    """
    copy = await create_contract(
        session,
        principal,
        ContractInput(
            subject=contract.subject,
            title_id=contract.title_id,
            contract_number=contract.contract_number,
            amount=contract.amount,
            transaction_date=contract.transaction_date,
            counterparty=contract.counterparty,
            department_id=contract.department_id,
        ),
        who,
    )
    documents: dict[uuid.UUID, uuid.UUID] = {}
    for original in contract.documents:
        document = ContractDocument(
            member_id=copy.member_id,
            contract_id=copy.id,
            position=original.position,
            file_name=original.file_name,
            sha256=original.sha256,  # the same encrypted blob of the same member
            size=original.size,
            page_sizes=[list(s) for s in original.page_sizes],
        )
        session.add(document)
        copy.documents.append(document)
        await session.flush()
        documents[original.id] = document.id
    parties: dict[uuid.UUID, uuid.UUID] = {}
    kept = [p for p in contract.parties if p.status is not PartyStatus.FORWARDED]
    for person in sorted(kept, key=lambda p: (p.order_no, p.created_at)):
        party = Party(
            member_id=copy.member_id,
            contract_id=copy.id,
            order_no=person.order_no,
            kind=person.kind,
            company=person.company,
            name=person.name,
            email=person.email,
            staff_id=person.staff_id,
            title_id=person.title_id,
            contact_id=person.contact_id,
            password_hash=person.password_hash if revision else None,
        )
        session.add(party)
        copy.parties.append(party)
        await session.flush()
        parties[person.id] = party.id
    await _renumber(copy)
    boxes = 0
    for original_box in await text_boxes(session, contract.id):
        if original_box.document_id not in documents or original_box.party_id not in parties:
            continue
        session.add(
            TextBox(
                member_id=copy.member_id,
                contract_id=copy.id,
                document_id=documents[original_box.document_id],
                party_id=parties[original_box.party_id],
                page=original_box.page,
                x=original_box.x,
                y=original_box.y,
                width=original_box.width,
                height=original_box.height,
                label=original_box.label,
                required=original_box.required,
            )
        )
        boxes += 1
    copy.file_names = "\n".join(d.file_name for d in copy.documents)
    if revision:
        copy.previous_id = contract.id
        copy.version = contract.version + 1
    await session.flush()
    summary = {"documents": len(documents), "parties": len(parties), "text_boxes": boxes}
    await _event(
        session,
        copy,
        who,
        AuditKind.UPDATED,
        {("revision_of" if revision else "copied_from"): str(contract.id), **summary},
    )
    await _event(
        session,
        contract,
        who,
        AuditKind.REVISED if revision else AuditKind.UPDATED,
        {("revised_as" if revision else "copied_to"): str(copy.id), "version": copy.version},
    )
    return copy


async def revise_declined(session: AsyncSession, principal: Principal, contract: Contract, who: Actor) -> Contract:
    """After a decline: a new version as a draft (staff revise it and send it again); the declined one stays as it was.

    The new draft names the declined contract as its previous version, whose
    trail, decline reason included, stays readable from both.

    :raises core.errors.Conflict: the contract was not declined, or was revised already.
    """
    await lock_contract(session, contract)
    if contract.status is not ContractStatus.DECLINED:
        raise Conflict(_("Only a declined contract can be revised and sent again."))
    if await ContractRepository(session, contract.member_id).revision_of(contract.id) is not None:
        raise Conflict(_("This contract has already been revised; please open the newer version."))
    return await copy_contract(session, principal, contract, who, revision=True)
