"""Usage figures for reports, the secretariat and billing (ONB-4, SLA-7, NII-25).

* contracts concluded in a period, by department and by contract title;
* downloads of concluded contracts and certificates in a period, by who
  downloaded (staff, contractors, other systems through the API), counted from
  the ``downloaded`` events of the audit trail, which every download writes.

The functions read member-owned rows: the session must see them (system access
for workers, the operator and the secretariat's aggregates).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import AuditEvent, AuditKind, Contract, ContractStatus
from tenants.models import ContractTitle, Department

__all__ = ["DOWNLOADERS", "ContractCounts", "concluded_contracts", "downloads"]

DOWNLOADERS = ("staff", "contractor", "api")
"""Who downloads, in the order reports list them."""


@dataclass(frozen=True)
class ContractCounts:
    """Contracts a member concluded in a period, grouped two ways (names, counts)."""

    by_department: list[tuple[str, int]] = field(default_factory=list)
    by_title: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """All contracts concluded in the period."""
        return sum(count for _, count in self.by_department)


async def concluded_contracts(
    session: AsyncSession, member_id: uuid.UUID, period: tuple[dt.datetime, dt.datetime]
) -> ContractCounts:
    """Contracts of ``member_id`` concluded in ``[start, end)``, by department and by contract title.

    Contracts without a department are grouped under an empty name.
    """
    start, end = period
    concluded = (
        (Contract.member_id == member_id)
        & (Contract.status == ContractStatus.CONCLUDED)
        & (Contract.concluded_at >= start)
        & (Contract.concluded_at < end)
    )
    by_department = (
        await session.execute(
            select(func.coalesce(Department.name, ""), func.count())
            .select_from(Contract)
            .outerjoin(Department, Department.id == Contract.department_id)
            .where(concluded)
            .group_by(Department.name)
            .order_by(func.count().desc(), Department.name)
        )
    ).all()
    by_title = (
        await session.execute(
            select(func.coalesce(ContractTitle.name, ""), func.count())
            .select_from(Contract)
            .outerjoin(ContractTitle, ContractTitle.id == Contract.title_id)
            .where(concluded)
            .group_by(ContractTitle.name)
            .order_by(func.count().desc(), ContractTitle.name)
        )
    ).all()
    return ContractCounts(
        by_department=[(str(name), int(count)) for name, count in by_department],
        by_title=[(str(name), int(count)) for name, count in by_title],
    )


async def downloads(
    session: AsyncSession, member_ids: Iterable[uuid.UUID], period: tuple[dt.datetime, dt.datetime]
) -> dict[uuid.UUID, dict[str, int]]:
    """Downloads per member in ``[start, end)``, by who downloaded (every key of :data:`DOWNLOADERS`)."""
    ids = list(member_ids)
    start, end = period
    # The audit actor starts with who it was: staff:<id> …, party:<id> …, apikey:<id> ….
    who = case(
        (AuditEvent.actor.startswith("party:"), "contractor"),
        (AuditEvent.actor.startswith("apikey:"), "api"),
        else_="staff",
    )
    rows = await session.execute(
        select(AuditEvent.member_id, who, func.count())
        .where(
            AuditEvent.member_id.in_(ids),
            AuditEvent.kind == AuditKind.DOWNLOADED.value,
            AuditEvent.occurred_at >= start,
            AuditEvent.occurred_at < end,
        )
        .group_by(AuditEvent.member_id, who)
    )
    counts = {member_id: dict.fromkeys(DOWNLOADERS, 0) for member_id in ids}
    for member_id, kind, count in rows.tuples():
        counts[member_id][str(kind)] = int(count)
    return counts
