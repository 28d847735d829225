"""What every part of the contract services shares: task names, limits, reading and locking a contract."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from core.text import normalized_email
from signing.models import (
    Contract,
    ContractStatus,
    PartyStatus,
    TextBox,
)
from signing.repositories import ContractRepository

SEAL_TASK = "signing.seal_contract"
"""Task the sealing service registers; enqueued (outbox) when the last party agreed."""

MIN_CONTRACTOR_PASSWORD = 8
"""Shortest access password staff may give a contractor (the suggested ones have 10 characters)."""

OPEN_PARTY = (PartyStatus.WAITING, PartyStatus.NOTIFIED)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_digest(token: str) -> str:
    """SHA-256 of a link token (tokens are long and random, so a fast hash is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def documents_of(contract: Contract) -> list[str]:
    return [d.sha256 for d in contract.documents]


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


async def lock_contract(session: AsyncSession, contract: Contract) -> None:
    """Serialise changes of one contract (two parallel parties agreeing at once) and re-read its parties."""
    await ContractRepository(session, contract.member_id).lock(contract)


def require_draft(contract: Contract) -> None:
    if contract.status is not ContractStatus.DRAFT:
        raise Conflict(_("This contract has already been sent and can no longer be changed."))


def valid_email(email: str) -> bool:
    """True for a well-formed address without line breaks or spaces (email-validator, no DNS lookup)."""
    return normalized_email(email) is not None and "." in email.rpartition("@")[2]
