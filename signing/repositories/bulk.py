"""Every query of bulk sending's batches and rows (:mod:`signing.services._bulk`), within one member.

A row is locked (``FOR UPDATE``) while its contract is made, in the same
transaction that records its outcome: a second worker given the same batch
waits, then finds the row done and leaves it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import psycopg
from sqlalchemy import func, update

from core.repository import MemberScopedRepository
from core.runtime import database_admin_url
from core.settings import Settings, to_psycopg_url
from signing.models import BulkBatch, BulkBatchRow, BulkRowState

__all__ = ["BulkRepository", "drop_expired_passwords"]


class BulkRepository(MemberScopedRepository):
    """Batches and rows of one member."""

    async def batch(self, batch_id: uuid.UUID, *, for_update: bool = False) -> BulkBatch | None:
        """The batch, if it is the member's."""
        return await self.get(BulkBatch, batch_id, for_update=for_update)

    async def rows(self, batch_id: uuid.UUID) -> Sequence[BulkBatchRow]:
        """Every row of the batch, by line."""
        return await self.all(
            self.scoped(BulkBatchRow).where(BulkBatchRow.batch_id == batch_id).order_by(BulkBatchRow.line)
        )

    async def pending_lines(self, batch_id: uuid.UUID) -> list[int]:
        """Lines of the batch not sent nor failed yet, in order."""
        statement = (
            self.scoped(BulkBatchRow)
            .where(BulkBatchRow.batch_id == batch_id, BulkBatchRow.state == BulkRowState.PENDING)
            .order_by(BulkBatchRow.line)
            .with_only_columns(BulkBatchRow.line)
        )
        return list((await self.session.scalars(statement)).all())

    async def row_for_update(self, batch_id: uuid.UUID, line: int) -> BulkBatchRow | None:
        """The row, locked until the end of the transaction (a second worker waits here)."""
        statement = (
            self.scoped(BulkBatchRow)
            .where(BulkBatchRow.batch_id == batch_id, BulkBatchRow.line == line)
            .with_for_update()
        )
        return await self.first(statement)

    async def count_row(self, batch_id: uuid.UUID, state: BulkRowState) -> None:
        """One more row sent or failed on the batch (in the row's transaction)."""
        column = BulkBatch.sent_count if state is BulkRowState.SENT else BulkBatch.failed_count
        statement = update(BulkBatch).where(BulkBatch.id == batch_id).values({column: column + 1})
        if self.member_id is not None:
            statement = statement.where(BulkBatch.member_id == self.member_id)
        await self.session.execute(statement)

    async def count_pending(self, batch_id: uuid.UUID) -> int:
        """Rows of the batch still pending."""
        statement = (
            self.scoped(BulkBatchRow)
            .where(BulkBatchRow.batch_id == batch_id, BulkBatchRow.state == BulkRowState.PENDING)
            .with_only_columns(func.count())
        )
        return int(await self.session.scalar(statement) or 0)


def drop_expired_passwords(settings: Settings, now: dt.datetime) -> int:
    """Empty every member's sealed bulk passwords whose time is over (synchronously, for the daily purge)."""
    url = to_psycopg_url(database_admin_url(settings)).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn, conn.transaction():
        # Row-level security applies to the owner too (FORCE): this transaction works for every member.
        conn.execute("SELECT set_config('kyodo.system', 'on', true)")
        cursor = conn.execute(
            "UPDATE bulk_batch SET sealed_passwords = NULL, passwords_dropped_at = %s, updated_at = %s "
            "WHERE sealed_passwords IS NOT NULL AND passwords_until <= %s",
            (now, now, now),
        )
        return int(cursor.rowcount or 0)
