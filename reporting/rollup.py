"""The secretariat's view: figures of every member of one consortium, never contract contents.

These services read measurements of several members, so they see every
member's rows only inside :func:`core.scope.elevated` around the computation,
and the session is scoped as before afterwards; they only ever return
aggregated figures of the caller's consortium.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from reporting.figures import JST, MemberMonth, compute_month, month_as_reported
from reporting.repository import ReportingRepository
from reporting.usage import concluded_contracts, downloads

__all__ = ["MemberUsage", "RollupRow", "consortium_rollup", "member_draft", "usage_between"]


@dataclass(frozen=True)
class RollupRow:
    """One member's line in the roll-up."""

    figures: MemberMonth
    issued_at: dt.datetime | None


async def consortium_rollup(session: AsyncSession, consortium_id: uuid.UUID, month: dt.date) -> list[RollupRow]:
    """Every member of ``consortium_id`` in service in ``month``: figures (as issued, once issued) and when issued."""
    async with elevated(session):
        figures, issued = await month_as_reported(session, consortium_id, month)
    return [RollupRow(f, issued.get(f.member_id)) for f in figures]


async def member_draft(
    session: AsyncSession, consortium_id: uuid.UUID, lg_code: str, month: dt.date
) -> MemberMonth | None:
    """A member's figures for ``month`` if it belongs to ``consortium_id`` (None otherwise)."""
    member = await ReportingRepository(session, None).member_by_code(lg_code, consortium_id=consortium_id)
    if member is None:
        return None
    async with elevated(session):
        found = await compute_month(session, consortium_id, month, member_ids=[member.id])
    return found[0] if found else None


@dataclass(frozen=True)
class MemberUsage:
    """One member's usage in a period (SLA-7, NII-25): contracts by department, downloads by who."""

    lg_code: str
    member_name: str
    contracts_by_department: list[tuple[str, int]]
    downloads: dict[str, int]

    @property
    def contracts_total(self) -> int:
        """Contracts concluded in the period."""
        return sum(count for _, count in self.contracts_by_department)


async def usage_between(
    session: AsyncSession, consortium_id: uuid.UUID, first_day: dt.date, last_day: dt.date
) -> list[MemberUsage]:
    """Usage of every member of ``consortium_id`` that has joined, from ``first_day`` to ``last_day`` (Japan time)."""
    start = dt.datetime.combine(first_day, dt.time(), JST)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), JST)
    members = await ReportingRepository(session, None).joined_members(consortium_id)
    async with elevated(session):
        counted = await downloads(session, [m.id for m in members], (start, end))
        return [
            MemberUsage(
                lg_code=m.lg_code,
                member_name=m.name,
                contracts_by_department=(await concluded_contracts(session, m.id, (start, end))).by_department,
                downloads=counted[m.id],
            )
            for m in members
        ]
