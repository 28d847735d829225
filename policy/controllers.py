"""Roles and permissions: the screen under ``/admin/roles`` and the API under ``/api/v1/roles``.

Both call the same :class:`~policy.services.RoleService` methods with the same
input; the service announces every change after the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list
from policy.guards import caller_member, requires
from policy.permissions import MEMBER_PERMISSIONS
from policy.services import RoleIn, RoleInfo, RoleService

__all__ = ["RoleApiController", "RoleController"]


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
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Create a custom role from permissions the editor holds."""
        principal, member_id = caller_member(request)
        role = RoleIn(name=field(data, "name"), label=field(data, "label"), permissions=field_list(data, "permissions"))
        await RoleService(db_session, member_id).create(principal, role)
        return Redirect("/admin/roles", status_code=303)

    @post("/{role_id:uuid}/delete", status_code=303)
    async def delete_role(
        self, request: Request[Any, Any, Any], role_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Delete a custom role and its assignments."""
        principal, member_id = caller_member(request)
        await RoleService(db_session, member_id).delete(principal, role_id)
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
        self, request: Request[Any, Any, Any], data: JSONBody[RoleIn], db_session: NamedDependency[AsyncSession]
    ) -> RoleOut:
        """Create a custom role; every permission must be held by the caller."""
        principal, member_id = caller_member(request)
        return RoleOut.of(await RoleService(db_session, member_id).create(principal, data))

    @delete("/{role_id:uuid}", status_code=204)
    async def delete_role(
        self, request: Request[Any, Any, Any], role_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Delete a custom role and its assignments."""
        principal, member_id = caller_member(request)
        await RoleService(db_session, member_id).delete(principal, role_id)
