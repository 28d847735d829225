"""After a seal failure: a corrected file or a corrected value, and the contract circulates again."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.i18n import gettext as _
from core.settings import Settings
from signing.audit import Actor, append_event
from signing.models import (
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyStatus,
    TextBox,
)
from signing.services._circulation import notify_next
from signing.services._common import lock_contract, text_boxes
from signing.services._drafts import clean_file_name, swap_document_file

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
    previous = await swap_document_file(
        session, settings, contract, document, name=clean_file_name(file_name), data=data
    )
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


def correctable_box(contract: Contract, boxes: Sequence[TextBox]) -> TextBox | None:
    """The text box whose value stopped the seal, when a corrected value can fix it."""
    failure = contract.seal_failure or {}
    if contract.status is not ContractStatus.SEAL_FAILED or failure.get("reason") not in _VALUE_REASONS:
        return None
    return next((b for b in boxes if str(b.id) == failure.get("text_box_id")), None)
