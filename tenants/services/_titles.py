"""Contract titles (契約名義) of one member and the staff allowed to contract under them (CON-2, CON-3)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from core.errors import Conflict
from core.i18n import gettext as _
from tenants import oplog
from tenants.models import ContractTitle, OperationKind, Staff, TitleGrant
from tenants.services._common import UNSET, MemberService, fields_of, required

TITLE_FIELDS = ("code", "name", "formal_name", "sort_order", "active")


class TitleIn(msgspec.Struct):
    """A new title."""

    code: str
    name: str
    formal_name: str
    sort_order: int = 0
    active: bool = True


class TitlePatch(msgspec.Struct):
    """Changes to a title; left out = unchanged (``active: false`` retires it)."""

    code: str | msgspec.UnsetType = UNSET
    name: str | msgspec.UnsetType = UNSET
    formal_name: str | msgspec.UnsetType = UNSET
    sort_order: int | msgspec.UnsetType = UNSET
    active: bool | msgspec.UnsetType = UNSET


@dataclass(frozen=True)
class TitleEntry:
    """A title and the staff who may contract under it."""

    title: ContractTitle
    holders: list[Staff]


class TitleService(MemberService):
    """Contract titles of one member and their grants."""

    async def find(self, title_id: uuid.UUID) -> ContractTitle:
        """One title of the member, or NotFound."""
        return await self._find(ContractTitle, title_id)

    async def all(self) -> Sequence[ContractTitle]:
        """Every title, in display order."""
        return await self.repository.titles()

    async def listing(self) -> list[TitleEntry]:
        """Every title with the staff allowed to sign under it."""
        staff = {s.id: s for s in await self.repository.staff()}
        holders: dict[uuid.UUID, list[Staff]] = {}
        for grant in await self.repository.grants():
            if grant.staff_id in staff:
                holders.setdefault(grant.title_id, []).append(staff[grant.staff_id])
        return [TitleEntry(t, holders.get(t.id, [])) for t in await self.all()]

    async def titles_of(self, staff_id: uuid.UUID) -> Sequence[ContractTitle]:
        """Titles a staff member may contract under."""
        return await self.repository.titles_of(staff_id)

    async def _free_code(self, code: str) -> str:
        if await self.repository.title_code_taken(code):
            raise Conflict(_("The code {code} is already used by another title.").format(code=code))
        return code

    async def create(self, data: TitleIn) -> ContractTitle:
        """Create a title."""
        title = ContractTitle(
            code=await self._free_code(required(data.code, _("a code"))),
            name=required(data.name, _("a name")),
            formal_name=required(data.formal_name, _("the formal name")),
            sort_order=data.sort_order,
            active=data.active,
        )
        self.repository.add(title)
        await self.repository.flush()
        await self._record(OperationKind.CREATED, _target(title), {"after": fields_of(title, *TITLE_FIELDS)})
        return title

    async def edit(self, title_id: uuid.UUID, data: TitlePatch) -> ContractTitle:
        """Change the given fields."""
        title = await self.find(title_id)
        before = fields_of(title, *TITLE_FIELDS)
        if isinstance(data.code, str) and data.code.strip() != title.code:
            title.code = await self._free_code(required(data.code, _("a code")))
        if isinstance(data.name, str):
            title.name = required(data.name, _("a name"))
        if isinstance(data.formal_name, str):
            title.formal_name = required(data.formal_name, _("the formal name"))
        if isinstance(data.sort_order, int) and not isinstance(data.sort_order, bool):
            title.sort_order = data.sort_order
        if isinstance(data.active, bool):
            title.active = data.active
        await self.repository.flush()
        await self._record_change(_target(title), before, fields_of(title, *TITLE_FIELDS))
        return title

    async def _pair(self, staff_id: uuid.UUID, title_id: uuid.UUID) -> tuple[Staff, ContractTitle]:
        return await self._find(Staff, staff_id), await self.find(title_id)

    async def grant(self, staff_id: uuid.UUID, title_id: uuid.UUID) -> None:
        """Allow a staff member to contract under a title (nothing happens if already allowed)."""
        staff, title = await self._pair(staff_id, title_id)
        if await self.repository.grant(staff.id, title.id) is None:
            self.repository.add(TitleGrant(staff_id=staff.id, title_id=title.id))
            await self.repository.flush()
            await self._record(OperationKind.CREATED, _grant_target(staff, title), {"after": {"granted": True}})

    async def revoke(self, staff_id: uuid.UUID, title_id: uuid.UUID) -> None:
        """Withdraw the grant (nothing happens if there was none)."""
        staff, title = await self._pair(staff_id, title_id)
        existing = await self.repository.grant(staff.id, title.id)
        if existing is not None:
            await self.repository.remove(existing)
            await self._record(OperationKind.DELETED, _grant_target(staff, title), {"before": {"granted": True}})


def _target(title: ContractTitle) -> str:
    return oplog.target("title", title.id, f"{title.code} {title.name}")


def _grant_target(staff: Staff, title: ContractTitle) -> str:
    return oplog.target("title_grant", title.id, f"{title.code} {title.name} → staff:{staff.id} {staff.login_id}")
