"""The members an onboarding screen acts on: the caller's own, or one of the secretariat's consortium.

Members are consortium records (no ``member_id``, no row-level security), so
these lookups say themselves which consortium they are limited to. Another
consortium's member and an id that never existed answer alike: NotFound.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.i18n import gettext as _
from tenants.models import Member, MemberStatus

__all__ = ["consortium_member", "consortium_members", "own_member"]


async def own_member(session: AsyncSession, member_id: uuid.UUID | None) -> Member:
    """The member a member's staff or API key works for."""
    member = await session.get(Member, member_id) if member_id is not None else None
    if member is None:
        raise NotFound(_("No such member."))
    return member


async def consortium_member(session: AsyncSession, consortium_id: uuid.UUID, member_id: uuid.UUID) -> Member:
    """A member of the consortium ``consortium_id``."""
    member = await session.scalar(select(Member).where(Member.id == member_id, Member.consortium_id == consortium_id))
    if member is None:
        raise NotFound(_("No such member."))
    return member


async def consortium_members(
    session: AsyncSession, consortium_id: uuid.UUID, *, status: MemberStatus | None = None
) -> Sequence[Member]:
    """The consortium's members (optionally only those in one stage), by local government code."""
    statement = select(Member).where(Member.consortium_id == consortium_id).order_by(Member.lg_code)
    if status is not None:
        statement = statement.where(Member.status == status)
    return (await session.scalars(statement)).all()
