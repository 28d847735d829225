"""Queries the operator's commands make of another domain's member-owned rows, across every member.

Each is run inside :func:`core.scope.elevated` by the command that opened the
session, through the scoped method of :class:`core.repository.MemberScopedRepository`
(``member_id=None``: every member). A query belongs to its domain's repository;
one lives here only while that domain offers no function for it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from core.repository import MemberScopedRepository
from signing.models import Contract, ContractStatus
from tenants.models import Member

__all__ = ["SealQueue", "WaitingSeal"]


@dataclass(frozen=True)
class WaitingSeal:
    """A contract agreed by every party whose seal is not stored: waiting, or refused by the sealer."""

    lg_code: str
    member_name: str
    contract_id: uuid.UUID
    status: ContractStatus
    completed_at: dt.datetime | None
    failure_reason: str


class SealQueue(MemberScopedRepository):
    """Contracts waiting for the sealing service (for ``kyodo seal pending``; belongs in signing's repository)."""

    async def needing_seal(self) -> list[WaitingSeal]:
        """Contracts being sealed or that could not be sealed, the longest waiting first."""
        statement = (
            self.scoped(Contract)
            .where(Contract.status.in_([ContractStatus.SEALING, ContractStatus.SEAL_FAILED]))
            .with_only_columns(
                Member.lg_code,
                Member.name,
                Contract.id,
                Contract.status,
                Contract.completed_at,
                Contract.seal_failure,
            )
            .join_from(Contract, Member, Member.id == Contract.member_id)
            .order_by(Contract.completed_at)
        )
        rows = await self.session.execute(statement)
        return [
            WaitingSeal(code, name, cid, status, done, str((failure or {}).get("reason", "")))
            for code, name, cid, status, done, failure in rows.tuples()
        ]
