"""Circulation: sending, each party's turn and mail, agreeing, declining, forwarding, reminders, cancelling."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Forbidden, Invalid
from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import Principal
from core.settings import Settings
from signing.audit import Actor, append_event
from signing.mail import queue_contract_mail
from signing.models import (
    AuditKind,
    Contract,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
)
from signing.repositories import ContractRepository
from signing.services._common import (
    OPEN_PARTY,
    SEAL_TASK,
    documents_of,
    get_contract,
    lock_contract,
    now,
    require_draft,
    text_boxes,
    token_digest,
    valid_email,
)
from signing.services._metadata import require_particulars
from signing.services._values import check_values


def party_link(settings: Settings, token: str) -> str:
    return f"{settings.server.base_url()}/c/{token}"


def issue_token(settings: Settings, party: Party) -> str:
    token = secrets.token_urlsafe(32)
    party.token_hash = token_digest(token)
    party.token_expires_at = now() + dt.timedelta(days=settings.contracts.link_days)
    return token


def _request_mail(
    settings: Settings, session: AsyncSession, contract: Contract, party: Party, *, reminder: bool
) -> None:
    if party.kind is PartyKind.CONTRACTOR:
        token = issue_token(settings, party)
        expires = f"{party.token_expires_at:%Y-%m-%d}"
        queue_contract_mail(
            session,
            settings,
            contract,
            "request_contractor",
            to=party.email,
            link=party_link(settings, token),
            party=party,
            reminder=reminder,
            expires=expires,
        )
    else:
        queue_contract_mail(
            session,
            settings,
            contract,
            "request_staff",
            to=party.email,
            party=party,
            reminder=reminder,
            url=f"{settings.server.staff_base_url()}/contracts/{contract.id}",
        )


async def notify_next(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> None:
    """Notify the lowest order still open, or complete the contract when none is left."""
    open_parties = [p for p in contract.parties if p.status in OPEN_PARTY]
    if not open_parties:
        await _complete(session, settings, contract, who)
        return
    current = min(p.order_no for p in open_parties)
    for party in open_parties:
        if party.order_no == current and party.status is PartyStatus.WAITING:
            party.status = PartyStatus.NOTIFIED
            party.notified_at = now()
            party.reminded_at = None
            _request_mail(settings, session, contract, party, reminder=False)
            await append_event(
                session,
                member_id=contract.member_id,
                contract_id=contract.id,
                kind=AuditKind.NOTIFIED,
                who=Actor("system"),
                documents=documents_of(contract),
                detail={"party": str(party.id), "email": party.email, "order": party.order_no},
            )


def _notice(session: AsyncSession, settings: Settings, contract: Contract, name: str, **context: Any) -> None:
    """The mail ``name`` to everyone who was asked so far (the contract's news: cancelled, declined)."""
    recipients = {p.email for p in contract.parties if p.notified_at is not None or p.answered_at is not None}
    for email in sorted(recipients):
        queue_contract_mail(session, settings, contract, name, to=email, **context)


async def _complete(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> None:
    """Every party agreed: 封緘待ち, and the seal task is queued with this change.

    Nobody is told 締結 here: the conclusion mail and links are sent by the
    sealing service once the sealed file is stored (:mod:`signing.conclusion`).
    """
    contract.status = ContractStatus.SEALING
    contract.completed_at = now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.COMPLETED,
        who=who,
        documents=documents_of(contract),
    )
    enqueue(session, SEAL_TASK, contract_id=str(contract.id))


async def send(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> Contract:
    """Start circulation (idempotent: a contract already sent is left as it is)."""
    await lock_contract(session, contract)
    if contract.status is ContractStatus.CIRCULATING:
        return contract
    require_draft(contract)
    if not contract.documents:
        raise Invalid(_("Please upload at least one PDF before sending."))
    if not contract.parties:
        raise Invalid(_("Please add at least one party before sending."))
    require_particulars(contract)
    contract.status = ContractStatus.CIRCULATING
    contract.sent_at = now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.SENT,
        who=who,
        documents=documents_of(contract),
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
    contract.cancelled_at = now()
    # Links stay recognisable so that whoever opens one is told it was cancelled;
    # party_by_token refuses every link of a cancelled contract.
    for party in contract.parties:
        if party.status in OPEN_PARTY:
            party.status = PartyStatus.CANCELLED
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.CANCELLED,
        who=who,
        documents=documents_of(contract),
    )
    _notice(session, settings, contract, "cancelled")
    await session.flush()
    return contract


def require_turn(contract: Contract, party: Party) -> None:
    """Refuse, saying why, when it is not ``party``'s turn to agree, decline or forward."""
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
    require_turn(contract, party)
    boxes = [b for b in await text_boxes(session, contract.id) if b.party_id == party.id]
    missing = [b.label for b in boxes if b.required and not (values.get(str(b.id)) or "").strip()]
    if missing:
        raise Invalid(_("Please fill in: {fields}").format(fields="、".join(missing)))
    filled: dict[str, str] = {}
    await check_values(boxes, values)
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
            documents=documents_of(contract),
            detail={"party": str(party.id), "values": filled},
        )
    party.status = PartyStatus.AGREED
    party.answered_at = now()
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.AGREED,
        who=who,
        documents=documents_of(contract),
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
    require_turn(contract, party)
    if not reason.strip():
        raise Invalid(_("Please tell the organisation why you decline."))
    party.status = PartyStatus.DECLINED
    party.answered_at = now()
    party.decline_reason = reason.strip()[:2000]
    contract.status = ContractStatus.DECLINED
    for other in contract.parties:
        if other.status in OPEN_PARTY:
            other.status = PartyStatus.CANCELLED
        other.token_hash = None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DECLINED,
        who=who,
        documents=documents_of(contract),
        detail={"party": str(party.id), "reason": party.decline_reason},
    )
    _notice(session, settings, contract, "declined", party=party)
    if contract.created_by_id:
        creator = await ContractRepository(session, contract.member_id).staff(contract.created_by_id)
        if creator is not None:
            queue_contract_mail(session, settings, contract, "declined_drafter", to=creator.email, party=party)
    await session.flush()


def forward_problem(party: Party, name: str, email: str) -> str | None:
    """Why ``party`` cannot hand the request to ``name`` <``email``>, or None."""
    if party.kind is not PartyKind.CONTRACTOR:
        return _("Only contractors can forward a request.")
    if not name.strip() or not valid_email(email.strip()):
        return _("Please enter the name and a valid e-mail address of the person.")
    if email.strip().lower() == party.email.lower():
        return _("Please enter the e-mail address of another person.")
    return None


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
    require_turn(contract, party)
    problem = forward_problem(party, name, email)
    if problem:
        raise Invalid(problem)
    email = email.strip()
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
        notified_at=now(),
    )
    session.add(new)
    await session.flush()
    contract.parties.append(new)
    for box in await text_boxes(session, contract.id):
        if box.party_id == party.id:
            box.party_id = new.id
    party.status = PartyStatus.FORWARDED
    party.answered_at = now()
    party.token_hash = None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.FORWARDED,
        who=who,
        documents=documents_of(contract),
        detail={"party": str(party.id), "to_party": str(new.id), "to_email": email, "to_name": new.name},
    )
    _request_mail(settings, session, contract, new, reminder=False)
    await session.flush()
    return new


async def remind(session: AsyncSession, settings: Settings, *, now: dt.datetime | None = None) -> int:
    """Remind parties that have not answered for ``KYODO_REMINDER_HOURS`` (system access); returns how many."""
    now = now or dt.datetime.now(dt.UTC)
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
            documents=documents_of(contract),
            detail={"party": str(party.id)},
        )
        count += 1
    return count
