"""A contractor's personal link: finding it across members, the access password, what the link allows."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.errors import Gone, Locked, NotFound
from core.i18n import gettext as _
from core.scope import Afterwards, elevated
from core.settings import Settings
from signing.audit import Actor, Origin, append_event
from signing.models import (
    AuditKind,
    Contract,
    ContractStatus,
    Party,
    PartyStatus,
    TextBox,
)
from signing.repositories import ContractRepository
from signing.services._circulation import agree, decline, forward, forward_problem, require_turn
from signing.services._common import documents_of, get_contract, now, text_boxes, token_digest
from signing.services._downloads import Download, certificate_download, document_download, page_preview_png
from signing.services._values import answer_problems
from tenants.auth import record_security_event
from tenants.models import SecurityEventKind
from tenants.passwords import verify_access_code


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
    if party.token_expires_at is None or party.token_expires_at < now():
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
    if password_hash is not None and (checked := await verify_access_code(password_hash, password)):
        # Only while the hash checked is still the password: a new one set meanwhile keeps its own count.
        await repo.clear_password_attempts(party.id, password_hash, checked.rehash)
        set_committed_value(party, "failed_attempts", 0)
        set_committed_value(party, "locked", False)
        if checked.rehash is not None:
            # The gate's cookie is made from the hash: the one now stored, or the next page refuses it.
            set_committed_value(party, "password_hash", checked.rehash)
        await append_event(
            session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.OPENED,
            who=who,
            documents=documents_of(contract),
            detail={"party": str(party.id)},
        )
        return True
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.PASSWORD_FAILED,
        who=who,
        documents=documents_of(contract),
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
            documents=documents_of(contract),
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
        then = Afterwards()
        async with elevated(session, then):
            party, contract = await party_by_token(session, token)
            then.member(contract.member_id)
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

    def require_turn(self) -> None:
        """Refuse, saying why, when this party may not answer now (cancelled, already answered, not its turn)."""
        require_turn(self.contract, self.party)

    async def answer_problems(self, values: dict[str, str]) -> dict[str, str]:
        """Box id → why the typed value cannot be agreed (see :func:`signing.services._values.answer_problems`)."""
        return await answer_problems(await self.boxes(), values)

    def forward_problem(self, data: ForwardInput) -> str | None:
        """Why the request cannot be handed to that person, or None."""
        return forward_problem(self.party, data.name, data.email)

    @property
    def attempts_left(self) -> int:
        """Wrong passwords this link still takes before it locks (as the last check left it)."""
        return max(0, self.settings.contracts.contractor_max_attempts - (self.party.failed_attempts or 0))

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
