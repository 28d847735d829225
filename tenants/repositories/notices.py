"""Every query of notification addresses: one member's (async, for the screens) and the routing's (sync, at flush)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.repository import MemberScopedRepository
from tenants.models import Department
from tenants.notification_addresses import NotificationAddress

__all__ = ["NoticeRepository", "addresses_for"]


class NoticeRepository(MemberScopedRepository):
    """A member's notification addresses and departments."""

    async def addresses(self) -> Sequence[NotificationAddress]:
        """Member-wide addresses first, then by department and address."""
        return await self.all(
            self.scoped(NotificationAddress).order_by(
                NotificationAddress.department_id.is_not(None), NotificationAddress.email
            )
        )

    async def address(self, address_id: uuid.UUID) -> NotificationAddress | None:
        """One address of the member."""
        return await self.get(NotificationAddress, address_id)

    async def departments(self) -> Sequence[Department]:
        """The member's departments by code."""
        return await self.all(self.scoped(Department).order_by(Department.code))

    async def department(self, department_id: uuid.UUID) -> Department | None:
        """One department of the member."""
        return await self.get(Department, department_id)


def addresses_for(
    session: Session, member_id: uuid.UUID, department_id: uuid.UUID | None, notice: str
) -> list[NotificationAddress]:
    """Addresses of ``member_id`` that take ``notice`` for a contract of ``department_id`` (sync: runs inside a flush).

    Member-wide addresses apply to every contract; a department's only to its own.
    """
    statement = (
        select(NotificationAddress)
        .where(NotificationAddress.member_id == member_id)
        .where(
            or_(NotificationAddress.department_id.is_(None), NotificationAddress.department_id == department_id)
            if department_id is not None
            else NotificationAddress.department_id.is_(None)
        )
        .where(NotificationAddress.notices.contains([notice]))
        .order_by(NotificationAddress.email)
    )
    with session.no_autoflush:
        return list(session.scalars(statement).all())
