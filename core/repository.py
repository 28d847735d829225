"""The base of every domain's repository: the one place a member-owned model is queried.

A repository is built for a session and the member it works for::

    repo = ContractRepository(session, member_id)
    contract = await repo.get(Contract, contract_id)      # None when it is another member's
    rows = await repo.all(repo.scoped(Contract).where(Contract.status == ...))

:meth:`MemberScopedRepository.scoped` is the scoped method: ``select(model)``
filtered to the member. Row-level security enforces the same boundary in
PostgreSQL (:mod:`core.scope`); the filter keeps plans on the member's index
and makes a missing scope a visible bug rather than an empty page. A
repository made with ``member_id=None`` works across members and is only for
code that runs inside :func:`core.scope.elevated` (tasks, aggregations, the
operator's commands). ``tests/test_scoping.py`` fails on a query of a
member-owned model anywhere but in a repository.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import MemberOwned

__all__ = ["MemberScopedRepository"]

M = TypeVar("M", bound=MemberOwned)
T = TypeVar("T")


class MemberScopedRepository:
    """Queries of member-owned models, always within one member (or, elevated, across all)."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID | None) -> None:
        self.session = session
        self.member_id = member_id

    def scoped(self, model: type[M]) -> Select[tuple[M]]:
        """``select(model)`` limited to this repository's member."""
        statement = select(model)
        if self.member_id is not None:
            statement = statement.where(model.member_id == self.member_id)
        return statement

    async def get(self, model: type[M], row_id: Any, *, for_update: bool = False) -> M | None:
        """The row with primary key ``row_id`` if it belongs to the member, else None."""
        statement = self.scoped(model).where(model.id == row_id)  # type: ignore[attr-defined]
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def first(self, statement: Select[tuple[T]]) -> T | None:
        """The first row of ``statement`` (built from :meth:`scoped`), or None."""
        return (await self.session.scalars(statement)).first()

    async def all(self, statement: Select[tuple[T]]) -> Sequence[T]:
        """Every row of ``statement`` (built from :meth:`scoped`)."""
        return (await self.session.scalars(statement)).all()

    def add(self, row: MemberOwned) -> None:
        """Add a new row; it must belong to this repository's member."""
        if self.member_id is not None and getattr(row, "member_id", None) not in (None, self.member_id):
            raise ValueError("a row of another member cannot be added through this repository")
        if self.member_id is not None and getattr(row, "member_id", None) is None:
            row.member_id = self.member_id
        self.session.add(row)
