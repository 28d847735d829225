"""What waits for a staff member: the queries behind the start page and the list's to-do filters.

Each to-do is a condition on the contracts the caller may see
(:meth:`ContractRepository.visible`), so the start page's counts and the
contract list filtered by the same to-do (``/contracts?todo=…``) always agree.
"Mine" means drafted by the caller or asked of the caller as a signer; a
caller who may read all of the member's contracts (``contract:view_all``)
follows all of them.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select

from core.dates import month_period, today_jst
from core.scope import Principal
from signing.models import Contract, ContractStatus, Party, PartyKind, PartyStatus
from signing.repositories.contracts import ContractRepository

__all__ = ["ToDo", "ToDoRepository", "Turn"]


class ToDo(enum.StrEnum):
    """The sections of the start page, in the order they are shown."""

    SIGN = "sign"
    """It is the caller's turn to conclude under their title (名義で締結する)."""
    DRAFTS = "drafts"
    """The caller's drafts, not sent yet."""
    CIRCULATING = "circulating"
    """Sent and circulating: whose turn, since when."""
    DECLINED = "declined"
    """A party declined, with a reason."""
    SEALING = "sealing"
    """Every party agreed; the seal is pending or could not be applied."""
    CONCLUDED = "concluded"
    """Concluded (sealed) this month, Japan time."""


@dataclass(frozen=True)
class Turn:
    """Who is asked at present on a circulating contract, and since when."""

    names: list[str]
    since: dt.datetime | None


class ToDoRepository(ContractRepository):
    """The to-do conditions and their counts, within the caller's member."""

    def _asked_of(self, principal: Principal, *statuses: PartyStatus) -> ColumnElement[bool]:
        """The caller is a member signer of the contract (in one of ``statuses``, any when none given)."""
        condition = and_(
            Party.contract_id == Contract.id,
            Party.kind == PartyKind.STAFF,
            Party.staff_id == principal.id,
        )
        if statuses:
            condition = and_(condition, Party.status.in_(statuses))
        return exists(select(Party.id).where(condition))

    def _mine(self, principal: Principal) -> ColumnElement[bool]:
        if principal.can("contract", "view_all"):
            return Contract.id.is_not(None)
        return or_(Contract.created_by_id == principal.id, self._asked_of(principal))

    def condition(self, principal: Principal, todo: ToDo, *, today: dt.date | None = None) -> ColumnElement[bool]:
        """The SQL condition of one to-do for the caller (used by the start page and the list)."""
        if principal.member_id is None:
            return false()
        if todo is ToDo.SIGN:
            return and_(Contract.status == ContractStatus.CIRCULATING, self._asked_of(principal, PartyStatus.NOTIFIED))
        if todo is ToDo.DRAFTS:
            return and_(Contract.status == ContractStatus.DRAFT, Contract.created_by_id == principal.id)
        if todo is ToDo.CIRCULATING:
            return and_(Contract.status == ContractStatus.CIRCULATING, self._mine(principal))
        if todo is ToDo.DECLINED:
            return and_(Contract.status == ContractStatus.DECLINED, self._mine(principal))
        if todo is ToDo.SEALING:
            return and_(
                Contract.status.in_((ContractStatus.SEALING, ContractStatus.SEAL_FAILED)), self._mine(principal)
            )
        start, end = month_period(today or today_jst())
        return and_(
            Contract.status == ContractStatus.CONCLUDED,
            Contract.concluded_at >= start,
            Contract.concluded_at < end,
            self._mine(principal),
        )

    def _statement(self, principal: Principal, todo: ToDo, today: dt.date | None = None) -> Select[tuple[Contract]]:
        statement = self.scoped(Contract).where(Contract.member_id == principal.member_id)
        if todo is not ToDo.SIGN:
            # A signer asked to conclude may open the contract whatever their department.
            statement = self.visible(principal)
        return statement.where(self.condition(principal, todo, today=today))

    async def counts(self, principal: Principal, *, today: dt.date | None = None) -> dict[ToDo, int]:
        """How many contracts each to-do holds for the caller."""
        found: dict[ToDo, int] = {}
        for todo in ToDo:
            counted = select(func.count()).select_from(self._statement(principal, todo, today).subquery())
            found[todo] = int(await self.session.scalar(counted) or 0)
        return found

    async def first_of(
        self, principal: Principal, todo: ToDo, *, limit: int, today: dt.date | None = None
    ) -> Sequence[Contract]:
        """The first ``limit`` contracts of a to-do: the oldest waiting first, the newest concluded first."""
        statement = self._statement(principal, todo, today)
        if todo is ToDo.CONCLUDED:
            statement = statement.order_by(Contract.concluded_at.desc(), Contract.id.desc())
        elif todo is ToDo.DRAFTS:
            statement = statement.order_by(Contract.updated_at.desc(), Contract.id.desc())
        else:
            statement = statement.order_by(
                func.coalesce(Contract.sent_at, Contract.created_at).asc(), Contract.id.asc()
            )
        return await self.all(statement.limit(limit))

    async def parties_of(self, contract_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Party]]:
        """The parties of these contracts, in their order."""
        if not contract_ids:
            return {}
        rows = await self.all(
            self.scoped(Party)
            .where(Party.contract_id.in_(contract_ids))
            .order_by(Party.contract_id, Party.order_no, Party.created_at)
        )
        found: dict[uuid.UUID, list[Party]] = {cid: [] for cid in contract_ids}
        for party in rows:
            found[party.contract_id].append(party)
        return found
