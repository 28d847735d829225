"""JSON API of member administration under ``/api/v1`` (API key, or session with ``X-CSRFToken``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import PrincipalKind
from core.web import client_ip
from policy.engine import publish_change
from policy.guards import caller_member, requires
from policy.permissions import member_domain
from policy.services import RoleService
from tenants.models import ApiKey, ContractTitle, Department, IpRange, Staff, StaffStatus, ViewScope
from tenants.services import is_locked, member_services
from tenants.sessions import session_store

__all__ = ["AdminApiController"]

UNSET: Any = msgspec.UNSET


class DepartmentOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    parent_id: uuid.UUID | None

    @classmethod
    def of(cls, d: Department) -> DepartmentOut:
        return cls(id=d.id, code=d.code, name=d.name, parent_id=d.parent_id)


class DepartmentIn(msgspec.Struct):
    code: str
    name: str
    parent_id: uuid.UUID | None = None


class DepartmentPatch(msgspec.Struct):
    """Rename (``name``/``code``) and/or move (``parent_id``; null = top level)."""

    name: str | msgspec.UnsetType = UNSET
    code: str | msgspec.UnsetType = UNSET
    parent_id: uuid.UUID | msgspec.UnsetType | None = UNSET


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
    def of(cls, s: Staff, roles: list[str], password: str | None = None) -> StaffOut:
        return cls(
            id=s.id,
            login_id=s.login_id,
            name=s.name,
            email=s.email,
            department_id=s.department_id,
            status=s.status,
            view_scope=s.view_scope,
            locked=is_locked(s),
            roles=roles,
            initial_password=password,
        )


class StaffIn(msgspec.Struct):
    login_id: str
    name: str
    email: str
    department_id: uuid.UUID | None = None
    password: str | None = None
    """Leave out to have one generated (returned once as ``initial_password``)."""
    view_scope: ViewScope = ViewScope.MEMBER
    roles: list[str] = msgspec.field(default_factory=list)


class StaffPatch(msgspec.Struct):
    name: str | msgspec.UnsetType = UNSET
    email: str | msgspec.UnsetType = UNSET
    department_id: uuid.UUID | msgspec.UnsetType | None = UNSET
    status: StaffStatus | msgspec.UnsetType = UNSET
    view_scope: ViewScope | msgspec.UnsetType = UNSET
    """``department``: only contracts of the person's own department (SAP-6(9))."""


class PasswordIn(msgspec.Struct):
    password: str | None = None


class TitleOut(msgspec.Struct):
    id: uuid.UUID
    code: str
    name: str
    formal_name: str
    sort_order: int
    active: bool
    staff_ids: list[uuid.UUID] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, t: ContractTitle, staff_ids: list[uuid.UUID] | None = None) -> TitleOut:
        return cls(
            id=t.id,
            code=t.code,
            name=t.name,
            formal_name=t.formal_name,
            sort_order=t.sort_order,
            active=t.active,
            staff_ids=staff_ids or [],
        )


class TitleIn(msgspec.Struct):
    code: str
    name: str
    formal_name: str
    sort_order: int = 0
    active: bool = True


class TitlePatch(msgspec.Struct):
    code: str | msgspec.UnsetType = UNSET
    name: str | msgspec.UnsetType = UNSET
    formal_name: str | msgspec.UnsetType = UNSET
    sort_order: int | msgspec.UnsetType = UNSET
    active: bool | msgspec.UnsetType = UNSET


class IpRangeOut(msgspec.Struct):
    id: uuid.UUID
    cidr: str
    label: str

    @classmethod
    def of(cls, r: IpRange) -> IpRangeOut:
        return cls(id=r.id, cidr=str(r.cidr), label=r.label)


class IpRangeIn(msgspec.Struct):
    cidr: str
    label: str = ""


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
    def of(cls, k: ApiKey, roles: list[str], key: str | None = None) -> ApiKeyOut:
        return cls(
            id=k.id,
            prefix=k.prefix,
            label=k.label,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
            roles=roles,
            key=key,
        )


class ApiKeyIn(msgspec.Struct):
    label: str
    roles: list[str] = msgspec.field(default_factory=list)


def _set(value: Any) -> bool:
    return value is not UNSET


class AdminApiController(Controller):
    """Departments, staff, titles, grants, networks and API keys of the caller's member."""

    path = "/api/v1"
    tags = ["administration"]  # noqa: RUF012

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
        row = await member_services(db_session, member_id).departments.add(
            code=data.code, name=data.name, parent_id=data.parent_id
        )
        return DepartmentOut.of(row)

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
        service = member_services(db_session, member_id).departments
        row = await service.find(department_id)
        if _set(data.name) or _set(data.code):
            await service.rename(
                row,
                name=data.name if isinstance(data.name, str) else row.name,
                code=data.code if isinstance(data.code, str) else None,
            )
        if _set(data.parent_id):
            await service.move(row, data.parent_id if isinstance(data.parent_id, uuid.UUID) else None)
        return DepartmentOut.of(row)

    @delete("/departments/{department_id:uuid}", guards=[requires("staff", "manage")], status_code=204)
    async def delete_department(
        self,
        request: Request[Any, Any, Any],
        department_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete an empty department (409 if it has sub-departments or staff)."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).departments
        await service.remove(await service.find(department_id))

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
        roles = await RoleService(db_session, member_id).assignments()
        staff = await member_services(db_session, member_id).staff.by_department(department_id)
        return [StaffOut.of(s, roles.get(f"staff:{s.id}", [])) for s in staff]

    @post("/staff", guards=[requires("staff", "manage")], status_code=201)
    async def create_staff(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[StaffIn],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> StaffOut:
        """Create an account (and give it roles, within what the caller holds)."""
        principal, member_id = caller_member(request)
        staff, generated = await member_services(db_session, member_id).staff.add(
            login_id=data.login_id,
            name=data.name,
            email=data.email,
            department_id=data.department_id,
            password=data.password,
            view_scope=data.view_scope,
        )
        roles = RoleService(db_session, member_id)
        for role in data.roles:
            await roles.assign(editor=principal.permissions, subject=f"staff:{staff.id}", role_name=role)
        await db_session.commit()
        if data.roles:
            await publish_change(state.redis, member_domain(member_id))
        return StaffOut.of(staff, await roles.roles_of(f"staff:{staff.id}"), generated)

    @get("/staff/{staff_id:uuid}", guards=[requires("staff", "view")])
    async def get_staff(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> StaffOut:
        """One account."""
        _p, member_id = caller_member(request)
        staff = await member_services(db_session, member_id).staff.find(staff_id)
        return StaffOut.of(staff, await RoleService(db_session, member_id).roles_of(f"staff:{staff.id}"))

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
        service = member_services(db_session, member_id).staff
        staff = await service.find(staff_id)
        await service.edit(
            staff,
            name=data.name if isinstance(data.name, str) else None,
            email=data.email if isinstance(data.email, str) else None,
            department_id=data.department_id if _set(data.department_id) else ...,
            status=data.status if isinstance(data.status, StaffStatus) else None,
            view_scope=data.view_scope if isinstance(data.view_scope, ViewScope) else None,
            editor_id=principal.id,
        )
        return StaffOut.of(staff, await RoleService(db_session, member_id).roles_of(f"staff:{staff.id}"))

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
        staff = await service.find(staff_id)
        generated = await service.reset_password(staff, data.password)
        # Whoever was signed in with the old password is signed out everywhere.
        await session_store(request.app.state).end_all_of("staff", str(staff.id))
        return StaffOut.of(staff, await RoleService(db_session, member_id).roles_of(f"staff:{staff.id}"), generated)

    @post("/staff/{staff_id:uuid}/unlock", guards=[requires("staff", "manage")], status_code=200)
    async def unlock(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> StaffOut:
        """Unlock an account locked after wrong passwords."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).staff
        staff = await service.unlock(await service.find(staff_id))
        return StaffOut.of(staff, await RoleService(db_session, member_id).roles_of(f"staff:{staff.id}"))

    @put("/staff/{staff_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=200)
    async def assign_staff_role(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> StaffOut:
        """Give a role (only if the caller holds all its permissions)."""
        principal, member_id = caller_member(request)
        staff = await member_services(db_session, member_id).staff.find(staff_id)
        roles = RoleService(db_session, member_id)
        await roles.assign(editor=principal.permissions, subject=f"staff:{staff.id}", role_name=role)
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return StaffOut.of(staff, await roles.roles_of(f"staff:{staff.id}"))

    @delete("/staff/{staff_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=204)
    async def remove_staff_role(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> None:
        """Take a role (only if the caller holds all its permissions)."""
        principal, member_id = caller_member(request)
        staff = await member_services(db_session, member_id).staff.find(staff_id)
        await RoleService(db_session, member_id).unassign(
            editor=principal.permissions, subject=f"staff:{staff.id}", role_name=role, editor_subject=principal.subject
        )
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))

    # ----------------------------------------------------------------- titles and grants

    @get("/titles", guards=[requires("title", "manage")])
    async def list_titles(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[TitleOut]:
        """Every title with the staff allowed to sign under it."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).titles
        holders: dict[uuid.UUID, list[uuid.UUID]] = {}
        for g in await service.grants():
            holders.setdefault(g.title_id, []).append(g.staff_id)
        return [TitleOut.of(t, holders.get(t.id)) for t in await service.all()]

    @post("/titles", guards=[requires("title", "manage")], status_code=201)
    async def create_title(
        self, request: Request[Any, Any, Any], data: JSONBody[TitleIn], db_session: NamedDependency[AsyncSession]
    ) -> TitleOut:
        """Create a title."""
        _p, member_id = caller_member(request)
        row = await member_services(db_session, member_id).titles.add(
            code=data.code,
            name=data.name,
            formal_name=data.formal_name,
            sort_order=data.sort_order,
            active=data.active,
        )
        return TitleOut.of(row)

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
        service = member_services(db_session, member_id).titles
        row = await service.edit(
            await service.find(title_id),
            code=data.code if isinstance(data.code, str) else None,
            name=data.name if isinstance(data.name, str) else None,
            formal_name=data.formal_name if isinstance(data.formal_name, str) else None,
            sort_order=data.sort_order if isinstance(data.sort_order, int) else None,
            active=data.active if isinstance(data.active, bool) else None,
        )
        return TitleOut.of(row)

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
        services = member_services(db_session, member_id)
        await services.titles.grant(await services.staff.find(staff_id), await services.titles.find(title_id))

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
        services = member_services(db_session, member_id)
        await services.titles.revoke(await services.staff.find(staff_id), await services.titles.find(title_id))

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
        row = await member_services(db_session, member_id).ip_ranges.add(
            cidr=data.cidr, label=data.label, editor_ip=client_ip(request.scope)
        )
        return IpRangeOut.of(row)

    @delete("/ip-ranges/{range_id:uuid}", guards=[requires("iprange", "manage")], status_code=204)
    async def delete_ip_range(
        self, request: Request[Any, Any, Any], range_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Remove a network (409 if the caller's own address would be shut out)."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).ip_ranges
        await service.remove(await service.find(range_id), editor_ip=client_ip(request.scope))

    # ----------------------------------------------------------------- API keys

    @get("/api-keys", guards=[requires("apikey", "manage")])
    async def list_api_keys(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[ApiKeyOut]:
        """Keys (prefix, label, last use); never the keys themselves."""
        _p, member_id = caller_member(request)
        roles = await RoleService(db_session, member_id).assignments()
        keys = await member_services(db_session, member_id).api_keys.all()
        return [ApiKeyOut.of(k, roles.get(f"apikey:{k.id}", [])) for k in keys]

    @post("/api-keys", guards=[requires("apikey", "manage")], status_code=201)
    async def create_api_key(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ApiKeyIn],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ApiKeyOut:
        """Issue a key; the answer carries it once."""
        principal, member_id = caller_member(request)
        row, key = await member_services(db_session, member_id).api_keys.issue(
            label=data.label, created_by_id=principal.id if principal.kind is PrincipalKind.STAFF else None
        )
        roles = RoleService(db_session, member_id)
        for role in data.roles:
            await roles.assign(editor=principal.permissions, subject=f"apikey:{row.id}", role_name=role)
        await db_session.commit()
        if data.roles:
            await publish_change(state.redis, member_domain(member_id))
        return ApiKeyOut.of(row, await roles.roles_of(f"apikey:{row.id}"), key)

    @delete("/api-keys/{key_id:uuid}", guards=[requires("apikey", "manage")], status_code=204)
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], key_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Revoke a key; it is refused from then on."""
        _p, member_id = caller_member(request)
        service = member_services(db_session, member_id).api_keys
        await service.revoke(await service.find(key_id))

    @put("/api-keys/{key_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=200)
    async def assign_key_role(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> ApiKeyOut:
        """Give a role to a key (only if the caller holds all its permissions)."""
        principal, member_id = caller_member(request)
        key = await member_services(db_session, member_id).api_keys.find(key_id)
        roles = RoleService(db_session, member_id)
        await roles.assign(editor=principal.permissions, subject=f"apikey:{key.id}", role_name=role)
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return ApiKeyOut.of(key, await roles.roles_of(f"apikey:{key.id}"))

    @delete("/api-keys/{key_id:uuid}/roles/{role:str}", guards=[requires("role", "manage")], status_code=204)
    async def remove_key_role(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        role: FromPath[str],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> None:
        """Take a role from a key."""
        principal, member_id = caller_member(request)
        key = await member_services(db_session, member_id).api_keys.find(key_id)
        await RoleService(db_session, member_id).unassign(
            editor=principal.permissions, subject=f"apikey:{key.id}", role_name=role
        )
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
