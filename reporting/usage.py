"""Usage figures for reports, the secretariat and billing (ONB-4, SLA-7, NII-25).

* contracts concluded in a period, by department and by contract title;
* downloads of concluded contracts and certificates in a period, by who
  downloaded (staff, contractors, other systems through the API), counted from
  the ``downloaded`` events of the audit trail, which every download writes.

The functions read member-owned rows (through :class:`reporting.repository.ReportingRepository`):
the session must see them (inside :func:`core.scope.elevated` for workers, the
operator and the secretariat's aggregates).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from reporting.repository import DOWNLOADERS, ReportingRepository

__all__ = ["DOWNLOADERS", "ContractCounts", "concluded_contracts", "downloads"]


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
    by_department, by_title = await ReportingRepository(session, member_id).concluded_counts(member_id, period)
    return ContractCounts(by_department=by_department, by_title=by_title)


async def downloads(
    session: AsyncSession, member_ids: Iterable[uuid.UUID], period: tuple[dt.datetime, dt.datetime]
) -> dict[uuid.UUID, dict[str, int]]:
    """Downloads per member in ``[start, end)``, by who downloaded (every key of :data:`DOWNLOADERS`)."""
    return await ReportingRepository(session, None).downloads(member_ids, period)
