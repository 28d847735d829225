"""Queries of the contractor portal: its sign-in links, and an address's concluded contracts across members.

The portal belongs to no member: a contractor's address asks, and what it is
shown is every concluded contract it agreed to, whichever member made it. So
the contract queries here read across members and run only inside
:func:`core.scope.elevated`; each download then works in the contract's
member's scope (:mod:`signing.services._portal`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from signing.models import Contract, ContractStatus, Party, PartyStatus, PortalSignIn
from tenants.models import Member

__all__ = ["PortalRepository"]


class PortalRepository:
    """Sign-in links of the portal (platform rows) and the contracts an address agreed to (elevated)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: PortalSignIn) -> None:
        """Keep a new sign-in link (the caller commits)."""
        self.session.add(row)

    async def requests_since(self, since: dt.datetime, *, email: str, ip: str | None) -> tuple[int, int]:
        """How many links this address, and this client address, asked for since ``since``."""
        recent = select(PortalSignIn).where(PortalSignIn.created_at >= since).subquery()
        by_email = await self.session.scalar(select(func.count()).select_from(recent).where(recent.c.email == email))
        by_ip = 0
        if ip:
            by_ip = (
                await self.session.scalar(select(func.count()).select_from(recent).where(recent.c.requested_ip == ip))
                or 0
            )
        return int(by_email or 0), int(by_ip)

    async def by_token_hash(self, token_hash: str) -> PortalSignIn | None:
        """The sign-in link with this token, locked for its one use."""
        return (
            await self.session.scalars(
                select(PortalSignIn).where(PortalSignIn.token_hash == token_hash).with_for_update()
            )
        ).first()

    async def sign_in(self, sign_in_id: uuid.UUID) -> PortalSignIn | None:
        """A sign-in link by its id (the portal's cookie names it)."""
        return await self.session.get(PortalSignIn, sign_in_id)

    def _agreed(self, email: str) -> Select[tuple[Contract, Party, Member]]:
        """Concluded contracts the address agreed to, with its party and the member (elevated: across members)."""
        return (
            select(Contract, Party, Member)
            .join(Party, Party.contract_id == Contract.id)
            .join(Member, Member.id == Contract.member_id)
            .where(
                func.lower(Party.email) == email,
                Party.status == PartyStatus.AGREED,
                Contract.status == ContractStatus.CONCLUDED,
                Contract.deleted_at.is_(None),
            )
        )

    async def knows(self, email: str) -> bool:
        """The address agreed to at least one concluded contract."""
        return (await self.session.execute(self._agreed(email).limit(1))).first() is not None

    async def contracts_of(self, email: str) -> list[tuple[Contract, Party, Member]]:
        """Every concluded contract the address agreed to, newest first, with the party and the member."""
        rows = await self.session.execute(
            self._agreed(email)
            .options(
                selectinload(Contract.documents),
                selectinload(Contract.parties),
                selectinload(Contract.sealed_documents),
            )
            .order_by(Contract.concluded_at.desc(), Contract.id)
        )
        return [(c, p, m) for c, p, m in rows.tuples()]

    async def contract_of(self, email: str, contract_id: uuid.UUID) -> tuple[Contract, Party] | None:
        """One concluded contract the address agreed to (its documents and parties loaded), or None."""
        row = (
            await self.session.execute(
                self._agreed(email)
                .where(Contract.id == contract_id)
                .options(
                    selectinload(Contract.documents),
                    selectinload(Contract.parties),
                    selectinload(Contract.sealed_documents),
                )
                .limit(1)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None
