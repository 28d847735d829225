"""Every query of the operation log: the chain's end, pages with filters, the stream to verify and export."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.repository import MemberScopedRepository
from tenants.models import OperationKind, OperationLog

__all__ = ["OperationFilters", "OperationLogRepository"]


@dataclass(frozen=True)
class OperationFilters:
    """Keys of the operation-log screen: days in Japan time, who (part of the actor), what kind."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    actor: str = ""
    kind: str = ""


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class OperationLogRepository(MemberScopedRepository):
    """One member's operation log (or, elevated with ``member_id=None``, every member's)."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID | None) -> None:
        super().__init__(session, member_id)

    async def lock_chain(self, member_id: uuid.UUID) -> None:
        """Serialise appends to the member's chain until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:chain))"), {"chain": f"oplog:{member_id}"}
        )

    async def last_hash(self, member_id: uuid.UUID) -> str | None:
        """The newest hash of the member's chain."""
        statement = (
            select(OperationLog.hash)
            .where(OperationLog.member_id == member_id)
            .order_by(OperationLog.id.desc())
            .limit(1)
        )
        found: str | None = await self.session.scalar(statement)
        return found

    async def last_purge(self, member_id: uuid.UUID) -> OperationLog | None:
        """The newest retention checkpoint of the member's chain."""
        return await self.first(
            self.scoped(OperationLog)
            .where(OperationLog.member_id == member_id, OperationLog.kind == OperationKind.PURGED.value)
            .order_by(OperationLog.id.desc())
            .limit(1)
        )

    def _statement(self, filters: OperationFilters) -> Select[tuple[OperationLog]]:
        statement = self.scoped(OperationLog)
        if filters.date_from:
            statement = statement.where(
                OperationLog.occurred_at >= dt.datetime.combine(filters.date_from, dt.time(), JST)
            )
        if filters.date_to and filters.date_to < dt.date.max:
            day_after = filters.date_to + dt.timedelta(days=1)
            statement = statement.where(OperationLog.occurred_at < dt.datetime.combine(day_after, dt.time(), JST))
        if filters.actor.strip():
            statement = statement.where(OperationLog.actor.ilike(_like(filters.actor.strip()), escape="\\"))
        if filters.kind:
            statement = statement.where(OperationLog.kind == filters.kind)
        return statement.order_by(OperationLog.occurred_at.desc(), OperationLog.id.desc())

    async def page(self, filters: OperationFilters, *, offset: int, limit: int) -> Sequence[OperationLog]:
        """One slice of the log, newest first."""
        return await self.all(self._statement(filters).offset(offset).limit(limit))

    async def stream(self, filters: OperationFilters) -> AsyncIterator[OperationLog]:
        """The matching rows one by one, newest first (for the CSV)."""
        result = await self.session.stream_scalars(self._statement(filters).execution_options(yield_per=2000))
        async for row in result:
            yield row

    async def stream_chain(self) -> AsyncIterator[OperationLog]:
        """Every row of the scope in the order written (to recompute the chains)."""
        result = await self.session.stream_scalars(
            self.scoped(OperationLog).order_by(OperationLog.id).execution_options(yield_per=2000)
        )
        async for row in result:
            yield row

    async def fingerprint(self) -> tuple[int, str]:
        """How many rows the member's log has and a sum of their hashes (any change changes it)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT count(*), coalesce(sum(hashtextextended(o::text, 0)::numeric), 0) "
                    "FROM operation_log o WHERE o.member_id = :member"
                ),
                {"member": self.member_id},
            )
        ).one()
        return int(row[0]), str(row[1])
