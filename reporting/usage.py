"""Usage figures for reports and billing (ONB-4, SLA-7): contracts concluded per period.

Contracts live in ``signing/`` (not built yet). Reports depend only on
:func:`concluded_contracts`: it reads a ``contract`` table when the metadata has one
with ``member_id``, ``status``, ``concluded_at``, ``department_id`` and ``title_id``
columns, and returns empty groups otherwise, so reports work before and after
contracts exist without changing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kyodo.db import metadata as default_metadata
from tenants.models import ContractTitle, Department

__all__ = ["CONCLUDED_STATUS", "ContractCounts", "concluded_contracts"]

CONCLUDED_STATUS = "concluded"
"""The ``contract.status`` value of a concluded contract."""
REQUIRED_COLUMNS = {"member_id", "status", "concluded_at", "department_id", "title_id"}


@dataclass(frozen=True)
class ContractCounts:
    """Contracts a member concluded in a period, grouped two ways (names, counts)."""

    by_department: list[tuple[str, int]] = field(default_factory=list)
    by_title: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """All contracts concluded in the period."""
        return sum(count for _, count in self.by_department)


def _contract_table(metadata: MetaData) -> Table | None:
    table = metadata.tables.get("contract")
    if table is None or not set(table.columns.keys()) >= REQUIRED_COLUMNS:
        return None
    return table


async def concluded_contracts(
    session: AsyncSession,
    member_id: uuid.UUID,
    period: tuple[dt.datetime, dt.datetime],
    *,
    metadata: MetaData | None = None,
) -> ContractCounts:
    """Contracts of ``member_id`` concluded in ``[start, end)``, by department and by contract title.

    Contracts without a department or title are grouped under an empty name.
    Returns empty groups while no ``contract`` table exists.
    """
    table = _contract_table(metadata if metadata is not None else default_metadata)
    if table is None:
        return ContractCounts()
    start, end = period
    concluded = (
        (table.c.member_id == member_id)
        & (table.c.status == CONCLUDED_STATUS)
        & (table.c.concluded_at >= start)
        & (table.c.concluded_at < end)
    )
    by_department = (
        await session.execute(
            select(func.coalesce(Department.name, ""), func.count())
            .select_from(table)
            .outerjoin(Department, Department.id == table.c.department_id)
            .where(concluded)
            .group_by(Department.name)
            .order_by(func.count().desc(), Department.name)
        )
    ).all()
    by_title = (
        await session.execute(
            select(func.coalesce(ContractTitle.name, ""), func.count())
            .select_from(table)
            .outerjoin(ContractTitle, ContractTitle.id == table.c.title_id)
            .where(concluded)
            .group_by(ContractTitle.name)
            .order_by(func.count().desc(), ContractTitle.name)
        )
    ).all()
    return ContractCounts(
        by_department=[(str(name), int(count)) for name, count in by_department],
        by_title=[(str(name), int(count)) for name, count in by_title],
    )
