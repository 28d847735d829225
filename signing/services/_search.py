"""Search of contracts and pages of the audit trail, as the caller may see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import Principal
from signing.models import (
    AuditEvent,
    Contract,
)
from signing.repositories import ContractRepository, SearchFilters, TrailFilters


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
