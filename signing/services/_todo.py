"""The start page of a member's staff as a to-do list: what waits for them, with counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import Principal
from signing.models import Contract, Party, PartyStatus
from signing.repositories.todo import ToDo, ToDoRepository, Turn

__all__ = ["SHOWN_PER_SECTION", "ToDo", "ToDoItem", "ToDoList", "ToDoSection", "Turn", "to_do"]

SHOWN_PER_SECTION = 5
"""Contracts listed in each section; the rest are one click away in the filtered list."""


@dataclass(frozen=True)
class ToDoItem:
    """One contract in a section, with what the section says about it."""

    contract: Contract
    turn: Turn | None = None
    """Whose turn it is and since when (circulating contracts)."""
    declined_by: str = ""
    decline_reason: str = ""


@dataclass(frozen=True)
class ToDoSection:
    """A section of the start page: its kind, how many contracts it holds, the first few."""

    todo: ToDo
    count: int
    items: list[ToDoItem] = field(default_factory=list)

    @property
    def href(self) -> str:
        """The contract list filtered to this section."""
        return f"/contracts?todo={self.todo.value}"


@dataclass(frozen=True)
class ToDoList:
    """Every section the caller's permissions give them, in order."""

    sections: list[ToDoSection]

    @property
    def waiting(self) -> int:
        """Contracts that wait for the caller to act (to sign, drafts, declined)."""
        return sum(s.count for s in self.sections if s.todo in {ToDo.SIGN, ToDo.DRAFTS, ToDo.DECLINED})


def _turn(parties: list[Party]) -> Turn:
    asked = [p for p in parties if p.status is PartyStatus.NOTIFIED]
    since = [p.notified_at for p in asked if p.notified_at is not None]
    return Turn(names=[p.label for p in asked], since=min(since) if since else None)


def _item(todo: ToDo, contract: Contract, parties: list[Party]) -> ToDoItem:
    if todo in {ToDo.SIGN, ToDo.CIRCULATING}:
        return ToDoItem(contract, turn=_turn(parties))
    if todo is ToDo.DECLINED:
        declined = next((p for p in parties if p.status is PartyStatus.DECLINED), None)
        if declined is not None:
            return ToDoItem(contract, declined_by=declined.label, decline_reason=declined.decline_reason)
    return ToDoItem(contract)


def _sections_for(principal: Principal) -> list[ToDo]:
    wanted: list[ToDo] = []
    if principal.can("contract", "sign"):
        wanted.append(ToDo.SIGN)
    if principal.can("contract", "draft"):
        wanted.append(ToDo.DRAFTS)
    if principal.can("contract", "view"):
        wanted += [ToDo.CIRCULATING, ToDo.DECLINED, ToDo.SEALING, ToDo.CONCLUDED]
    return wanted


async def to_do(
    session: AsyncSession, principal: Principal, *, today: dt.date | None = None, shown: int = SHOWN_PER_SECTION
) -> ToDoList:
    """The caller's to-do list (empty for anyone who is not a member's staff)."""
    if principal.member_id is None:
        return ToDoList(sections=[])
    repo = ToDoRepository(session, principal.member_id)
    counts = await repo.counts(principal, today=today)
    sections: list[ToDoSection] = []
    for todo in _sections_for(principal):
        contracts = await repo.first_of(principal, todo, limit=shown, today=today) if counts[todo] else []
        parties = await repo.parties_of([c.id for c in contracts])
        items = [_item(todo, c, parties.get(c.id, [])) for c in contracts]
        sections.append(ToDoSection(todo=todo, count=counts[todo], items=items))
    return ToDoList(sections=sections)
