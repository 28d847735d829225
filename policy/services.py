"""Roles of a member: built-in and custom roles, and who holds them.

The one rule: an editor never grants more than they hold. A custom role may only
be made of permissions the editor has, and a role may only be given to (or taken
from) a staff member or API key if the editor has every permission of that role.

Changes are written as :class:`~policy.models.PolicyRule` rows; the caller commits
and then calls :func:`policy.engine.publish_change` so every process reloads the
member's domain.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid
from core.i18n import gettext as _
from policy.models import MemberRole, PolicyRule
from policy.permissions import BUILTIN_ROLES, MEMBER_PERMISSIONS, ROLE_LABELS, SECRETARIAT_ROLE, Permission

__all__ = ["RoleInfo", "RoleService"]

CUSTOM_PREFIX = "custom:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class RoleInfo:
    """A role as the screens show it."""

    name: str
    """``admin`` … for built-in roles, ``custom:<name>`` for the member's own."""
    label: str
    permissions: frozenset[Permission]
    builtin: bool
    id: uuid.UUID | None = None


def _casbin_role(name: str) -> str:
    return f"role:{name}"


class RoleService:
    """Roles and role assignments of one member."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.member_id = member_id

    async def roles(self) -> list[RoleInfo]:
        """Built-in roles, then the member's own roles."""
        out = [
            RoleInfo(name=name, label=ROLE_LABELS.get(name, name), permissions=perms, builtin=True)
            for name, perms in BUILTIN_ROLES.items()
            if name != SECRETARIAT_ROLE
        ]
        customs = (
            await self.session.scalars(
                select(MemberRole).where(MemberRole.member_id == self.member_id).order_by(MemberRole.name)
            )
        ).all()
        rules = (
            await self.session.scalars(
                select(PolicyRule).where(PolicyRule.member_id == self.member_id, PolicyRule.ptype == "p")
            )
        ).all()
        for role in customs:
            key = _casbin_role(CUSTOM_PREFIX + role.name)
            perms = frozenset(Permission(r.v2, r.v3) for r in rules if r.v0 == key)
            out.append(
                RoleInfo(name=CUSTOM_PREFIX + role.name, label=role.label, permissions=perms, builtin=False, id=role.id)
            )
        return out

    async def role(self, name: str) -> RoleInfo:
        """One role by name, or Invalid."""
        for role in await self.roles():
            if role.name == name:
                return role
        raise Invalid(_("There is no role {name}.").format(name=name))

    async def custom_role(self, role_id: uuid.UUID) -> RoleInfo:
        """One of the member's own roles by id (LookupError if not the member's)."""
        for role in await self.roles():
            if role.id == role_id:
                return role
        raise LookupError(role_id)

    @staticmethod
    def _within(editor: frozenset[Permission], wanted: Iterable[Permission]) -> None:
        missing = sorted(set(wanted) - editor)
        if missing:
            raise Invalid(
                _("You cannot grant permissions you do not hold yourself: {permissions}.").format(
                    permissions="、".join(MEMBER_PERMISSIONS.get(p, str(p)) for p in missing)
                )
            )

    async def create_role(
        self, *, editor: frozenset[Permission], name: str, label: str, permissions: Iterable[Permission]
    ) -> RoleInfo:
        """A new custom role made only of permissions the editor holds."""
        name = (name or "").strip().lower()
        if not _NAME.match(name):
            raise Invalid(
                _("A role name uses 2 to 41 lower-case letters, digits, '-' or '_' (for example: keiyaku-tanto).")
            )
        label = (label or "").strip()
        if not label:
            raise Invalid(_("Please enter {field}.").format(field=_("a label")))
        perms = frozenset(permissions)
        if not perms:
            raise Invalid(_("Choose at least one permission."))
        unknown = [p for p in perms if p not in MEMBER_PERMISSIONS]
        if unknown:
            raise Invalid(_("Unknown permission: {permission}.").format(permission=unknown[0]))
        self._within(editor, perms)
        exists = await self.session.scalar(
            select(MemberRole.id).where(MemberRole.member_id == self.member_id, MemberRole.name == name)
        )
        if exists is not None:
            raise Conflict(_("A role named {name} already exists.").format(name=name))
        role = MemberRole(member_id=self.member_id, name=name, label=label)
        self.session.add(role)
        key = _casbin_role(CUSTOM_PREFIX + name)
        for perm in sorted(perms):
            self.session.add(PolicyRule(member_id=self.member_id, ptype="p", v0=key, v1="", v2=perm.obj, v3=perm.act))
        await self.session.flush()
        return RoleInfo(name=CUSTOM_PREFIX + name, label=label, permissions=perms, builtin=False, id=role.id)

    async def delete_role(
        self, *, editor: frozenset[Permission], role: RoleInfo, editor_subject: str | None = None
    ) -> None:
        """Delete a custom role and every assignment of it (only if the editor holds all its permissions).

        A role that gives the editor themselves the right to manage roles cannot be
        deleted by them.
        """
        if role.builtin or role.id is None:
            raise Invalid(_("Built-in roles cannot be deleted."))
        self._within(editor, role.permissions)
        if (
            editor_subject is not None
            and Permission("role", "manage") in role.permissions
            and role.name in await self.roles_of(editor_subject)
        ):
            raise Invalid(_("You cannot take away your own right to manage roles. Ask another administrator."))
        key = _casbin_role(role.name)
        await self.session.execute(
            delete(PolicyRule).where(
                PolicyRule.member_id == self.member_id,
                ((PolicyRule.ptype == "p") & (PolicyRule.v0 == key))
                | ((PolicyRule.ptype == "g") & (PolicyRule.v1 == key)),
            )
        )
        await self.session.execute(delete(MemberRole).where(MemberRole.id == role.id))
        await self.session.flush()

    async def roles_of(self, subject: str) -> list[str]:
        """Role names held by ``subject`` (``staff:<id>`` or ``apikey:<id>``)."""
        rows = await self.session.scalars(
            select(PolicyRule.v1).where(
                PolicyRule.member_id == self.member_id, PolicyRule.ptype == "g", PolicyRule.v0 == subject
            )
        )
        return sorted(v.removeprefix("role:") for v in rows)

    async def assignments(self) -> dict[str, list[str]]:
        """Subject → its role names, for the whole member."""
        rows = await self.session.scalars(
            select(PolicyRule).where(PolicyRule.member_id == self.member_id, PolicyRule.ptype == "g")
        )
        out: dict[str, list[str]] = {}
        for row in rows:
            out.setdefault(row.v0, []).append(row.v1.removeprefix("role:"))
        return {k: sorted(v) for k, v in out.items()}

    async def assign(self, *, editor: frozenset[Permission], subject: str, role_name: str) -> RoleInfo:
        """Give ``role_name`` to ``subject`` (the editor must hold every permission of the role)."""
        role = await self.role(role_name)
        self._within(editor, role.permissions)
        key = _casbin_role(role.name)
        existing = await self.session.scalar(
            select(PolicyRule.id).where(
                PolicyRule.member_id == self.member_id,
                PolicyRule.ptype == "g",
                PolicyRule.v0 == subject,
                PolicyRule.v1 == key,
            )
        )
        if existing is None:
            self.session.add(PolicyRule(member_id=self.member_id, ptype="g", v0=subject, v1=key, v2="", v3=""))
            await self.session.flush()
        return role

    async def unassign(
        self, *, editor: frozenset[Permission], subject: str, role_name: str, editor_subject: str | None = None
    ) -> None:
        """Take ``role_name`` from ``subject`` (the editor must hold every permission of the role).

        Editors cannot take from themselves a role that lets them manage roles: they
        could not give it back.
        """
        role = await self.role(role_name)
        self._within(editor, role.permissions)
        if subject == editor_subject and Permission("role", "manage") in role.permissions:
            raise Invalid(_("You cannot take away your own right to manage roles. Ask another administrator."))
        await self.session.execute(
            delete(PolicyRule).where(
                PolicyRule.member_id == self.member_id,
                PolicyRule.ptype == "g",
                PolicyRule.v0 == subject,
                PolicyRule.v1 == _casbin_role(role.name),
            )
        )
        await self.session.flush()
