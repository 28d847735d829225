"""JSON API of member administration under ``/api/v1`` (API key, or session with ``X-CSRFToken``).

Each handler calls the same service method as its screen in
:mod:`tenants.controllers`, with the service's own input type as its body.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core.web import client_ip
from policy.guards import caller_member, requires
from tenants.models import ContractTitle, Department, IpRange, Staff, StaffStatus, ViewScope
from tenants.services import (
    ApiKeyEntry,
    ApiKeyIn,
    Contacts,
    DepartmentIn,
    DepartmentPatch,
    IpRangeIn,
    PasswordIn,
    StaffEntry,
    StaffIn,
    StaffPatch,
    TitleIn,
    TitlePatch,
    member_services,
)
from tenants.sessions import session_store

__all__ = ["AdminApiController"]


class ContactsIn(msgspec.Struct, forbid_unknown_fields=True):
    """Whom contractors call: the member's line and, by department id, the departments' (others stay)."""

    member_contact: str = ""
    departments: dict[uuid.UUID, str] = msgspec.field(default_factory=dict)


class DepartmentContactOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    contact: str


class ContactsOut(msgspec.Struct):
    member_contact: str
    departments: list[DepartmentContactOut]

    @classmethod
    def of(cls, contacts: Contacts) -> ContactsOut:
        return cls(
            member_contact=contacts.member.contact,
            departments=[DepartmentContactOut(d.id, d.code, d.name, d.contact) for d in contacts.departments],
        )


class MergeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The department another one is merged into."""

    target_id: uuid.UUID


class DepartmentOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    parent_id: uuid.UUID | None

    @classmethod
    def of(cls, d: Department) -> DepartmentOut:
        return cls(id=d.id, code=d.code, name=d.name, parent_id=d.parent_id)


class StaffOut(msgspec.Struct):
    id: uuid.UUID
    login_id: str
    name: str
    email: str
    department_id: uuid.UUID | None
    status: StaffStatus
    view_scope: ViewScope
    locked: bool
    roles: list[str]
    initial_password: str | None = None
    """Only in the answer that created the account or reset its password, and only when generated."""

    @classmethod
    def of(cls, entry: StaffEntry) -> StaffOut:
        s = entry.staff
        return cls(
            id=s.id,
            login_id=s.login_id,
            name=s.name,
            email=s.email,
            department_id=s.department_id,
            status=s.status,
            view_scope=s.view_scope,
            locked=entry.locked,
            roles=entry.roles,
            initial_password=entry.initial_password,
        )


class TitleOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    formal_name: str
    sort_order: int
    active: bool
    staff_ids: list[uuid.UUID] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, t: ContractTitle, holders: Sequence[Staff] = ()) -> TitleOut:
        return cls(
            id=t.id,
            code=t.code,
            name=t.name,
            formal_name=t.formal_name,
            sort_order=t.sort_order,
            active=t.active,
            staff_ids=[s.id for s in holders],
        )


class IpRangeOut(msgspec.Struct):
    id: uuid.UUID
    cidr: str
    label: str

    @classmethod
    def of(cls, r: IpRange) -> IpRangeOut:
        return cls(id=r.id, cidr=str(r.cidr), label=r.label)


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    prefix: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    roles: list[str]
    key: str | None = None
    """The key itself: only in the answer that created it."""

    @classmethod
    def of(cls, entry: ApiKeyEntry) -> ApiKeyOut:
        k = entry.api_key
        return cls(
            id=k.id,
            prefix=k.prefix,
            label=k.label,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
            roles=entry.roles,
            key=entry.key,
        )


class AdminApiController(Controller):
    """Departments, staff, titles, grants, networks and API keys of the caller's member."""

    path = "/api/v1"
    tags = ["administration"]  # noqa: RUF012

    # ----------------------------------------------------------------- contacts

    @get("/contact", guards=[requires("staff", "view")])
    async def contacts(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> ContactsOut:
        """Whom contractors are told to call: the member's contact line and each department's."""
        _p, member_id = caller_member(request)
        return ContactsOut.of(await member_services(db_session, member_id).contacts.current())

    @put("/contact", guards=[requires("staff", "manage")])
    async def change_contacts(
        self, request: Request[Any, Any, Any], data: JSONBody[ContactsIn], db_session: NamedDependency[AsyncSession]
    ) -> ContactsOut:
        """Set the member's contact line and the given departments' (one line each, at most 300 characters).

        A line that is refused (a line break, too long) changes nothing and answers 400.
        """
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).contacts
        return ContactsOut.of(await service.change(data.member_contact, data.departments))

    # ----------------------------------------------------------------- departments

    @get("/departments", guards=[requires("staff", "view")])
    async def list_departments(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[DepartmentOut]:
        """Every department (``parent_id`` gives the nesting)."""
        _p, member_id = caller_member(request)
        return [DepartmentOut.of(d) for d in await member_services(db_session, member_id).departments.all()]

    @post("/departments", guards=[requires("staff", "manage")], status_code=201)
    async def create_department(
        self, request: Request[Any, Any, Any], data: JSONBody[DepartmentIn], db_session: NamedDependency[AsyncSession]
    ) -> DepartmentOut:
        """Create a department."""
        _p, member_id = caller_member(request)
        return DepartmentOut.of(await member_services(db_session, member_id).departments.create(data))

    @patch("/departments/{department_id:uuid}", guards=[requires("staff", "manage")])
    async def change_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        data: JSONBody[DepartmentPatch],
        db_session: NamedDependency[AsyncSession],
    ) -> DepartmentOut:
        """Rename and/or move."""
        _p, member_id = caller_member(request)
        return DepartmentOut.of(await member_services(db_session, member_id).departments.change(department_id, data))

    @delete("/departments/{department_id:uuid}", guards=[requires("staff", "manage")], status_code=204)
    async def delete_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete an empty department (409 if it has sub-departments or staff)."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).departments.delete(department_id)

    @post("/departments/{department_id:uuid}/merge", guards=[requires("staff", "manage")], status_code=204)
    async def merge_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        data: JSONBody[MergeIn],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Merge a department into ``target_id``: its staff, sub-departments and contracts move, it is deleted."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).departments.merge(department_id, data.target_id)

    # ----------------------------------------------------------------- staff

    @get("/staff", guards=[requires("staff", "view")])
    async def list_staff(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        department_id: Annotated[uuid.UUID | None, QueryParameter(name="department_id")] = None,
    ) -> list[StaffOut]:
        """Staff, optionally of one department."""
        _p, member_id = caller_member(request)
        return [StaffOut.of(e) for e in await member_services(db_session, member_id).staff.listing(department_id)]

    @post("/staff", guards=[requires("staff", "manage")], status_code=201)
    async def create_staff(
        self, request: Request[Any, Any, Any], data: JSONBody[StaffIn], db_session: NamedDependency[AsyncSession]
    ) -> StaffOut:
        """Create an account (and give it roles, within what the caller holds)."""
        principal, member_id = caller_member(request)
        return StaffOut.of(await member_services(db_session, member_id).staff.create(principal, data))

    @get("/staff/{staff_id:uuid}", guards=[requires("staff", "view")])
    async def get_staff(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> StaffOut:
        """One account."""
        _p, member_id = caller_member(request)
        return StaffOut.of(await member_services(db_session, member_id).staff.entry(staff_id))

    @patch("/staff/{staff_id:uuid}", guards=[requires("staff", "manage")])
    async def edit_staff(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[StaffPatch],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffOut:
        """Change name, e-mail, department, status or view scope."""
        principal, member_id = caller_member(request)
        return StaffOut.of(await member_services(db_session, member_id).staff.edit(principal, staff_id, data))

    @post("/staff/{staff_id:uuid}/password", guards=[requires("staff", "manage")], status_code=200)
    async def reset_password(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[PasswordIn],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffOut:
        """Set a new password (generated and returned once when not given); unlocks too."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).staff
        return StaffOut.of(await service.reset_password(staff_id, data, session_store(request.app.state)))

    @post("/staff/{staff_id:uuid}/unlock", guards=[requires("staff", "manage")], status_code=200)
    async def unlock(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> StaffOut:
        """Unlock an account locked after wrong passwords."""
        _p, member_id = caller_member(request)
        return StaffOut.of(await member_services(db_session, member_id).staff.unlock(staff_id))

    @put("/staff/{staff_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=200)
    async def assign_staff_role(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
    ) -> StaffOut:
        """Give a role (only if the caller holds all its permissions)."""
        principal, member_id = caller_member(request)
        return StaffOut.of(await member_services(db_session, member_id).staff.give_role(principal, staff_id, role))

    @delete("/staff/{staff_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=204)
    async def remove_staff_role(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Take a role (only if the caller holds all its permissions; never the caller's own role management)."""
        principal, member_id = caller_member(request)
        await member_services(db_session, member_id).staff.take_role(principal, staff_id, role)

    # ----------------------------------------------------------------- titles and grants

    @get("/titles", guards=[requires("title", "manage")])
    async def list_titles(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[TitleOut]:
        """Every title with the staff allowed to sign under it."""
        _p, member_id = caller_member(request)
        return [TitleOut.of(e.title, e.holders) for e in await member_services(db_session, member_id).titles.listing()]

    @post("/titles", guards=[requires("title", "manage")], status_code=201)
    async def create_title(
        self, request: Request[Any, Any, Any], data: JSONBody[TitleIn], db_session: NamedDependency[AsyncSession]
    ) -> TitleOut:
        """Create a title."""
        _p, member_id = caller_member(request)
        return TitleOut.of(await member_services(db_session, member_id).titles.create(data))

    @patch("/titles/{title_id:uuid}", guards=[requires("title", "manage")])
    async def edit_title(
        self,
        request: Request[Any, Any, Any],
        title_id: FromPath[uuid.UUID],
        data: JSONBody[TitlePatch],
        db_session: NamedDependency[AsyncSession],
    ) -> TitleOut:
        """Change a title."""
        _p, member_id = caller_member(request)
        return TitleOut.of(await member_services(db_session, member_id).titles.edit(title_id, data))

    @put("/titles/{title_id:uuid}/staff/{staff_id:uuid}", guards=[requires("title", "manage")], status_code=204)
    async def grant_title(
        self,
        request: Request[Any, Any, Any],
        title_id: FromPath[uuid.UUID],
        staff_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Allow a staff member to contract under the title (契約締結権限)."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).titles.grant(staff_id, title_id)

    @delete("/titles/{title_id:uuid}/staff/{staff_id:uuid}", guards=[requires("title", "manage")], status_code=204)
    async def revoke_title(
        self,
        request: Request[Any, Any, Any],
        title_id: FromPath[uuid.UUID],
        staff_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Withdraw the grant."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).titles.revoke(staff_id, title_id)

    # ----------------------------------------------------------------- IP ranges

    @get("/ip-ranges", guards=[requires("iprange", "manage")])
    async def list_ip_ranges(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[IpRangeOut]:
        """Allowed networks (none: every address is allowed)."""
        _p, member_id = caller_member(request)
        return [IpRangeOut.of(r) for r in await member_services(db_session, member_id).ip_ranges.all()]

    @post("/ip-ranges", guards=[requires("iprange", "manage")], status_code=201)
    async def create_ip_range(
        self, request: Request[Any, Any, Any], data: JSONBody[IpRangeIn], db_session: NamedDependency[AsyncSession]
    ) -> IpRangeOut:
        """Allow a network (409 if the caller's own address would be shut out)."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).ip_ranges
        return IpRangeOut.of(await service.create(data, editor_ip=client_ip(request.scope)))

    @delete("/ip-ranges/{range_id:uuid}", guards=[requires("iprange", "manage")], status_code=204)
    async def delete_ip_range(
        self, request: Request[Any, Any, Any], range_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Remove a network (409 if the caller's own address would be shut out)."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).ip_ranges.delete(range_id, editor_ip=client_ip(request.scope))

    # ----------------------------------------------------------------- API keys

    @get("/api-keys", guards=[requires("apikey", "manage")])
    async def list_api_keys(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[ApiKeyOut]:
        """Keys (prefix, label, last use); never the keys themselves."""
        _p, member_id = caller_member(request)
        return [ApiKeyOut.of(e) for e in await member_services(db_session, member_id).api_keys.listing()]

    @post("/api-keys", guards=[requires("apikey", "manage")], status_code=201)
    async def create_api_key(
        self, request: Request[Any, Any, Any], data: JSONBody[ApiKeyIn], db_session: NamedDependency[AsyncSession]
    ) -> ApiKeyOut:
        """Issue a key; the answer carries it once."""
        principal, member_id = caller_member(request)
        return ApiKeyOut.of(await member_services(db_session, member_id).api_keys.create(principal, data))

    @delete("/api-keys/{key_id:uuid}", guards=[requires("apikey", "manage")], status_code=204)
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], key_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Revoke a key; it is refused from then on."""
        _p, member_id = caller_member(request)
        await member_services(db_session, member_id).api_keys.revoke(key_id)

    @put("/api-keys/{key_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=200)
    async def assign_key_role(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
    ) -> ApiKeyOut:
        """Give a role to a key (only if the caller holds all its permissions)."""
        principal, member_id = caller_member(request)
        return ApiKeyOut.of(await member_services(db_session, member_id).api_keys.give_role(principal, key_id, role))

    @delete("/api-keys/{key_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=204)
    async def remove_key_role(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Take a role from a key (within what the caller holds; a key never takes its own role management)."""
        principal, member_id = caller_member(request)
        await member_services(db_session, member_id).api_keys.take_role(principal, key_id, role)
