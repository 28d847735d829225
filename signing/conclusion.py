"""Concluded means sealed: what happens once the seal exists, and the way back when it cannot be made.

The last agreement only moves a contract to 封緘待ち (``services._complete``).
Parties are told 【締結完了】, get their link to the concluded contract, and the
drafter is told, only by :func:`announce_conclusion`, which the sealing service
calls in the transaction that stores the seal: no mail, link or download calls
a contract concluded before its sealed file is stored.

When the document or a typed value cannot be sealed (a PDF whose structure
pyHanko cannot write, a character the embedded font lacks, a value longer than
its box), retrying would fail the same way for ever. :func:`record_seal_failure`
moves the contract to 封緘できませんでした with the reason, tells the drafter and
alerts the operators (who see the reason's kind, never the contract's text).
Staff then choose one of (in :mod:`signing.services`, which the screens and
the API call alike):

* ``replace_document`` — upload a corrected PDF; every agreement is reset
  and the contract circulates again from the first party;
* ``request_correction`` — the party who typed the value is asked again
  (new link), and so is everyone who agreed after seeing that value;
* ``cancel``.

Operators can send a contract whose failure was not the document's (an
unexpected error, since fixed) to the sealing service again with
:func:`retry_seal` (``kyodo seal retry``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.i18n import gettext as _
from core.outbox import enqueue
from core.settings import Settings
from signing import services as svc
from signing.audit import Actor, append_event
from signing.errors import SealingInputError, UnsupportedCharactersError
from signing.labels import failure_message
from signing.mail import queue_contract_mail
from signing.models import (
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    PartyKind,
    PartyStatus,
    TextBox,
)
from signing.repositories import ContractRepository
from signing.services._portal import portal_url
from tenants.models import Staff

__all__ = [
    "SEAL_FAILURE_REASONS",
    "announce_conclusion",
    "failure_from_error",
    "failure_message",
    "internal_failure",
    "record_seal_failure",
    "retry_seal",
]

SEAL_FAILURE_REASONS = ("document", "characters", "overflow", "area", "page", "internal")
"""What ``Contract.seal_failure["reason"]`` can say: the file, a typed value, a box, or the platform."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- conclusion


async def announce_conclusion(session: AsyncSession, settings: Settings, contract: Contract) -> None:
    """Tell every party who agreed, and the drafter, that the contract is concluded (after the seal is stored).

    Each contractor gets a fresh personal link to view and download the sealed
    contract and its certificate, and the address of the contractor portal,
    where it can see the contract later for as long as it is kept (the link
    expires); staff get the contract page.
    """
    url = f"{settings.server.staff_base_url()}/contracts/{contract.id}"
    for party in contract.parties:
        if party.status is not PartyStatus.AGREED:
            continue
        if party.kind is PartyKind.CONTRACTOR:
            token = svc.issue_token(settings, party)
            queue_contract_mail(
                session,
                settings,
                contract,
                "concluded_contractor",
                to=party.email,
                link=svc.party_link(settings, token),
                party=party,
                portal=portal_url(settings),
            )
        else:
            queue_contract_mail(session, settings, contract, "concluded_signer", to=party.email, party=party, url=url)
    drafter = await _drafter(session, contract)
    signers = {p.email.lower() for p in contract.parties if p.status is PartyStatus.AGREED}
    if drafter is not None and drafter.email.lower() not in signers:
        queue_contract_mail(
            session, settings, contract, "concluded_drafter", to=drafter.email, drafter=drafter, url=url
        )


async def _drafter(session: AsyncSession, contract: Contract) -> Staff | None:
    if contract.created_by_id is None:
        return None
    return await ContractRepository(session, contract.member_id).staff(contract.created_by_id)


# --------------------------------------------------------------------------- failures


def failure_from_error(
    exc: SealingInputError, document: ContractDocument | None, boxes: list[TextBox]
) -> dict[str, object]:
    """The record of a permanent seal failure: what went wrong and where, without the typed text."""
    box = next((b for b in boxes if exc.ref is not None and str(b.id) == exc.ref), None)
    failure: dict[str, object] = {
        "reason": exc.reason if exc.reason in SEAL_FAILURE_REASONS else "document",
        "at": _now().isoformat(),
        "detail": str(exc)[:500] if exc.reason == "document" else type(exc).__name__,
    }
    if document is not None:
        failure["document_id"] = str(document.id)
        failure["file_name"] = document.file_name
    if box is not None:
        failure["text_box_id"] = str(box.id)
        failure["label"] = box.label
        failure["page"] = box.page + 1
    elif exc.page is not None:
        failure["page"] = exc.page + 1
    if isinstance(exc, UnsupportedCharactersError):
        failure["characters"] = exc.characters
    return failure


def internal_failure(exc: BaseException) -> dict[str, object]:
    """The record of a seal that failed on something neither the file nor a value explains."""
    return {"reason": "internal", "at": _now().isoformat(), "detail": f"{type(exc).__name__}: {exc}"[:500]}


async def record_seal_failure(
    session: AsyncSession, settings: Settings, contract: Contract, failure: dict[str, object]
) -> None:
    """封緘できませんでした: record why, tell the drafter, alert the operators. The caller holds the contract."""
    contract.status = ContractStatus.SEAL_FAILED
    contract.seal_failure = failure
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.SEAL_FAILED,
        who=Actor(actor="封緘サービス（共同）"),
        documents=[d.sha256 for d in contract.documents],
        detail={k: v for k, v in failure.items() if k in ("reason", "document_id", "text_box_id", "page")},
    )
    drafter = await _drafter(session, contract)
    if drafter is not None:
        queue_contract_mail(
            session,
            settings,
            contract,
            "seal_failed_drafter",
            to=drafter.email,
            drafter=drafter,
            url=f"{settings.server.staff_base_url()}/contracts/{contract.id}",
        )
    # Operators see which contract and what kind of failure, never its contents.
    for email in await ContractRepository(session, contract.member_id).operator_emails():
        queue_contract_mail(
            session,
            settings,
            contract,
            "seal_failed_operators",
            to=email,
            reason=failure.get("reason"),
            detail=failure.get("detail", ""),
        )


def _require_failed(contract: Contract) -> None:
    if contract.status is not ContractStatus.SEAL_FAILED:
        raise Conflict(_("Only a contract that could not be sealed can be corrected this way."))


async def retry_seal(session: AsyncSession, contract: Contract, who: Actor) -> None:
    """Send a contract that failed on an unexpected error to the sealing service again (operators)."""
    await svc.lock_contract(session, contract)
    _require_failed(contract)
    if (contract.seal_failure or {}).get("reason") != "internal":
        raise Conflict(_("This failure is caused by the file or an entered value; staff must correct it first."))
    contract.status = ContractStatus.SEALING
    contract.seal_failure = None
    contract.completed_at = _now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.RECIRCULATED,
        who=who,
        documents=[d.sha256 for d in contract.documents],
        detail={"retry_seal": True},
    )
    enqueue(session, svc.SEAL_TASK, contract_id=str(contract.id))
    await session.flush()
