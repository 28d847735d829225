"""Roles and permissions: the screen under ``/admin/roles`` and the API under ``/api/v1/roles``."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.forms import Form, field, field_list
from core.i18n import gettext as _
from policy.engine import publish_change
from policy.guards import caller_member, requires
from policy.permissions import MEMBER_PERMISSIONS, Permission, member_domain
from policy.services import RoleInfo, RoleService

__all__ = ["RoleApiController", "RoleController"]


def _permissions(texts: list[str]) -> list[Permission]:
    try:
        return [Permission.parse(t) for t in texts]
    except ValueError as exc:
        raise Invalid(_("Unknown permission: {permission}.").format(permission=exc)) from None


class RoleController(Controller):
    """The roles screen of the member administrator."""

    path = "/admin/roles"
    include_in_schema = False
    guards = [requires("role", "manage")]  # noqa: RUF012 - Litestar's declaration style

    @get("/")
    async def roles(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Built-in and custom roles with their permissions; a form for a new role."""
        principal, member_id = caller_member(request)
        return Template(
            "admin/roles.html",
            context={
                "roles": await RoleService(db_session, member_id).roles(),
                "permissions": MEMBER_PERMISSIONS,
                "held": principal.permissions,
            },
        )

    @post("/", status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession], state: State
    ) -> Redirect:
        """Create a custom role from permissions the editor holds."""
        principal, member_id = caller_member(request)
        await RoleService(db_session, member_id).create_role(
            editor=principal.permissions,
            name=field(data, "name"),
            label=field(data, "label"),
            permissions=_permissions(field_list(data, "permissions")),
        )
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return Redirect("/admin/roles", status_code=303)

    @post("/{role_id:uuid}/delete", status_code=303)
    async def delete_role(
        self,
        request: Request[Any, Any, Any],
        role_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Delete a custom role and its assignments."""
        principal, member_id = caller_member(request)
        service = RoleService(db_session, member_id)
        try:
            role = await service.custom_role(role_id)
        except LookupError:
            raise NotFoundException() from None
        await service.delete_role(editor=principal.permissions, role=role, editor_subject=principal.subject)
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return Redirect("/admin/roles", status_code=303)


class RoleOut(msgspec.Struct):
    """A role and its permissions (``object:action``)."""

    name: str
    label: str
    builtin: bool
    permissions: list[str]
    id: uuid.UUID | None = None

    @classmethod
    def of(cls, role: RoleInfo) -> RoleOut:
        return cls(
            name=role.name,
            label=role.label,
            builtin=role.builtin,
            permissions=sorted(str(p) for p in role.permissions),
            id=role.id,
        )


class RoleIn(msgspec.Struct):
    """A new custom role."""

    name: str
    label: str
    permissions: list[str]


class RoleApiController(Controller):
    """Roles of the caller's member."""

    path = "/api/v1/roles"
    tags = ["roles"]  # noqa: RUF012
    guards = [requires("role", "manage")]  # noqa: RUF012

    @get("/")
    async def list_roles(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[RoleOut]:
        """Built-in and custom roles."""
        _p, member_id = caller_member(request)
        return [RoleOut.of(r) for r in await RoleService(db_session, member_id).roles()]

    @post("/", status_code=201)
    async def create_role(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[RoleIn],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> RoleOut:
        """Create a custom role; every permission must be held by the caller."""
        principal, member_id = caller_member(request)
        role = await RoleService(db_session, member_id).create_role(
            editor=principal.permissions, name=data.name, label=data.label, permissions=_permissions(data.permissions)
        )
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
        return RoleOut.of(role)

    @delete("/{role_id:uuid}", status_code=204)
    async def delete_role(
        self,
        request: Request[Any, Any, Any],
        role_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> None:
        """Delete a custom role and its assignments."""
        principal, member_id = caller_member(request)
        service = RoleService(db_session, member_id)
        try:
            role = await service.custom_role(role_id)
        except LookupError:
            raise NotFoundException() from None
        await service.delete_role(editor=principal.permissions, role=role, editor_subject=principal.subject)
        await db_session.commit()
        await publish_change(state.redis, member_domain(member_id))
