"""The administrator's side of notification addresses (see :mod:`tenants.notification_addresses`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from tenants.notification_addresses import NOTICES, NotificationAddress, RouteMode
from tenants.repositories.notices import NoticeRepository
from tenants.services._common import valid_email

__all__ = ["AddressEntry", "NotificationAddressService"]


@dataclass(frozen=True)
class AddressEntry:
    """An address with its department's name (empty: the whole member)."""

    address: NotificationAddress
    department: str


class NotificationAddressService:
    """The notification addresses of one member."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.member_id = member_id
        self.repo = NoticeRepository(session, member_id)

    async def listing(self) -> list[AddressEntry]:
        """Every address, member-wide ones first."""
        names = {d.id: d.name for d in await self.repo.departments()}
        return [
            AddressEntry(a, names.get(a.department_id, "") if a.department_id else "")
            for a in await self.repo.addresses()
        ]

    async def departments(self) -> Sequence[tuple[uuid.UUID, str]]:
        """The member's departments (id, name), for the form."""
        return [(d.id, d.name) for d in await self.repo.departments()]

    async def add(
        self, *, email: str, notices: Sequence[str], mode: str, department_id: uuid.UUID | None
    ) -> NotificationAddress:
        """Add an address.

        :raises Invalid: a bad address, no notice chosen, an unknown notice or mode, another member's department.
        """
        address = valid_email(email)
        chosen = [n for n in NOTICES if n in set(notices)]
        if set(notices) - set(NOTICES):
            raise Invalid(_("Unknown notice: {names}.").format(names=", ".join(sorted(set(notices) - set(NOTICES)))))
        if not chosen:
            raise Invalid(_("Please choose at least one notice."))
        try:
            route = RouteMode(mode or RouteMode.COPY)
        except ValueError:
            raise Invalid(_("Choose whether the address gets a copy or the notice itself.")) from None
        if department_id is not None and await self.repo.department(department_id) is None:
            raise Invalid(_("The department does not exist."))
        row = NotificationAddress(
            member_id=self.member_id, department_id=department_id, email=address, notices=chosen, mode=route
        )
        self.repo.add(row)
        await self.session.flush()
        return row

    async def remove(self, address_id: uuid.UUID) -> None:
        """Delete an address (another member's is not found)."""
        row = await self.repo.address(address_id)
        if row is None:
            raise NotFound(_("The notification address does not exist."))
        await self.session.delete(row)
        await self.session.flush()
