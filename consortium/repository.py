"""Every query of a member-owned row in the consortium domain.

:class:`ConsortiumRepository` reads a member's address book (its own rows,
joined to the consortium's shared companies and contacts) and, made with
``member_id=None`` inside :func:`core.scope.elevated`, the figures the
secretariat sees across members (active staff per member) and the rows the
demo seeding looks up. Every statement goes through
:meth:`~core.repository.MemberScopedRepository.scoped`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select

from core.db import MemberOwned
from core.repository import MemberScopedRepository
from tenants.models import AddressBookEntry, ContractorCompany, ContractorContact, Staff, StaffStatus

__all__ = ["ConsortiumRepository"]

T = TypeVar("T")


class ConsortiumRepository(MemberScopedRepository):
    """A member's address book; across members, the secretariat's staff figures and demo rows."""

    # ----------------------------------------------------------------- across members (elevated)

    async def active_staff_counts(self, member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Member id → active staff, for several members at once (one aggregate query)."""
        statement = (
            self.scoped(Staff)
            .where(Staff.member_id.in_(member_ids), Staff.status == StaffStatus.ACTIVE)
            .with_only_columns(Staff.member_id, func.count())
            .group_by(Staff.member_id)
        )
        return {member_id: int(n) for member_id, n in (await self.session.execute(statement)).tuples()}

    async def find_by(self, model: type[T], **key: Any) -> T | None:
        """The row of ``model`` whose columns equal ``key`` (demo seeding), or None.

        A member-owned model is read through :meth:`scoped`; the consortium's own
        records (members, companies, accounts) by their key alone.
        """
        if isinstance(model, type) and issubclass(model, MemberOwned):
            statement: Any = self.scoped(model).filter_by(**key)
        else:
            statement = select(model).filter_by(**key)
        row: T | None = await self.session.scalar(statement)
        return row

    # ----------------------------------------------------------------- the member's address book

    async def address_book(self) -> list[tuple[AddressBookEntry, ContractorCompany, ContractorContact]]:
        """Every entry with its company and contact, by company name then contact name."""
        statement = (
            self.scoped(AddressBookEntry)
            .add_columns(ContractorCompany, ContractorContact)
            .join(ContractorCompany, ContractorCompany.id == AddressBookEntry.company_id)
            .join(ContractorContact, ContractorContact.id == AddressBookEntry.contact_id)
            .order_by(ContractorCompany.name, ContractorContact.name)
        )
        return [(e, c, p) for e, c, p in (await self.session.execute(statement)).tuples()]

    async def address_book_entry(self, entry_id: uuid.UUID) -> AddressBookEntry | None:
        """One entry of the member's address book, or None."""
        return await self.get(AddressBookEntry, entry_id)

    async def address_book_entry_for(self, contact_id: uuid.UUID) -> AddressBookEntry | None:
        """The member's entry of ``contact_id``, if the contact is already in the book."""
        return await self.first(self.scoped(AddressBookEntry).where(AddressBookEntry.contact_id == contact_id))

    async def remove(self, entry: AddressBookEntry) -> None:
        """Take ``entry`` (read through this repository) out of the book."""
        await self.session.delete(entry)
        await self.session.flush()

    async def flush(self) -> None:
        """Write pending changes now."""
        await self.session.flush()
