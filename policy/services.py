"""Roles of a member: built-in and custom roles, and who holds them.

The one rule: an editor never grants more than they hold. A custom role may only
be made of permissions the editor has, and a role may only be given to (or taken
from) a staff member or API key if the editor has every permission of that role.
Nor may editors take from themselves the right to manage roles: nobody might be
left to give it back.

Every change is written as :class:`~policy.models.PolicyRule` rows in the
caller's transaction and announced through :func:`policy_changed`: once the
transaction commits, every process drops the member's domain (never for a
change that rolled back). The screens, the JSON API and other domains change
roles only through :class:`RoleService`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid, NotFound
from core.i18n import gettext as _
from core.operations import note
from core.scope import Principal
from core.uow import after_commit
from policy.engine import announce
from policy.permissions import (
    BUILTIN_ROLES,
    MEMBER_PERMISSIONS,
    ROLE_LABELS,
    SECRETARIAT_ROLE,
    Permission,
    member_domain,
)
from policy.repository import PolicyRepository

__all__ = ["CUSTOM_PREFIX", "RoleIn", "RoleInfo", "RoleService", "policy_changed"]

CUSTOM_PREFIX = "custom:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,40}$")
_MANAGE_ROLES = Permission("role", "manage")


def policy_changed(session: AsyncSession, member_id: uuid.UUID) -> None:
    """Announce to every process, once ``session``'s transaction has committed, that the member's policy changed.

    One announcement per transaction however many changes it holds; none if it
    rolls back.
    """
    after_commit(session, partial(announce, member_domain(member_id)), key=f"policy.changed:{member_id}")


@dataclass(frozen=True)
class RoleInfo:
    """A role as the screens show it."""

    name: str
    """``admin`` … for built-in roles, ``custom:<name>`` for the member's own."""
    label: str
    permissions: frozenset[Permission]
    builtin: bool
    id: uuid.UUID | None = None


class RoleIn(msgspec.Struct):
    """A new custom role: a name for the system, a label for people, permissions as ``object:action``."""

    name: str
    label: str
    permissions: list[str]


def _casbin_role(name: str) -> str:
    return f"role:{name}"


def _permissions(texts: Iterable[str]) -> frozenset[Permission]:
    try:
        return frozenset(Permission.parse(t) for t in texts)
    except ValueError as exc:
        raise Invalid(_("Unknown permission: {permission}.").format(permission=exc)) from None


def _held(editor: Principal | frozenset[Permission]) -> frozenset[Permission]:
    return editor.permissions if isinstance(editor, Principal) else editor


class RoleService:
    """Roles and role assignments of one member."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.member_id = member_id
        self.repository = PolicyRepository(session, member_id)

    async def roles(self) -> list[RoleInfo]:
        """Built-in roles, then the member's own roles."""
        out = [
            RoleInfo(name=name, label=ROLE_LABELS.get(name, name), permissions=perms, builtin=True)
            for name, perms in BUILTIN_ROLES.items()
            if name != SECRETARIAT_ROLE
        ]
        rules = await self.repository.role_permission_rules()
        for role in await self.repository.custom_roles():
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
        """One of the member's own roles by id; NotFound if it is not the member's."""
        for role in await self.roles():
            if role.id == role_id:
                return role
        raise NotFound(_("The page or item was not found. It may have been deleted, or the address is wrong."))

    @staticmethod
    def _within(editor: frozenset[Permission], wanted: Iterable[Permission]) -> None:
        missing = sorted(set(wanted) - editor)
        if missing:
            raise Invalid(
                _("You cannot grant permissions you do not hold yourself: {permissions}.").format(
                    permissions="、".join(MEMBER_PERMISSIONS.get(p, str(p)) for p in missing)
                )
            )

    @staticmethod
    def _not_own_role_management(role: RoleInfo) -> None:
        if _MANAGE_ROLES in role.permissions:
            raise Invalid(_("You cannot take away your own right to manage roles. Ask another administrator."))

    async def create(self, editor: Principal | frozenset[Permission], data: RoleIn) -> RoleInfo:
        """A new custom role made only of permissions the editor holds."""
        name = (data.name or "").strip().lower()
        if not _NAME.match(name):
            raise Invalid(
                _("A role name uses 2 to 41 lower-case letters, digits, '-' or '_' (for example: keiyaku-tanto).")
            )
        label = (data.label or "").strip()
        if not label:
            raise Invalid(_("Please enter {field}.").format(field=_("a label")))
        perms = _permissions(data.permissions)
        if not perms:
            raise Invalid(_("Choose at least one permission."))
        unknown = [p for p in perms if p not in MEMBER_PERMISSIONS]
        if unknown:
            raise Invalid(_("Unknown permission: {permission}.").format(permission=unknown[0]))
        self._within(_held(editor), perms)
        if await self.repository.role_name_taken(name):
            raise Conflict(_("A role named {name} already exists.").format(name=name))
        role = await self.repository.add_role(name, label, [(p.obj, p.act) for p in sorted(perms)])
        policy_changed(self.session, self.member_id)
        after = {"label": label, "permissions": sorted(str(p) for p in perms)}
        await note(self.session, self.member_id, "created", f"role:{CUSTOM_PREFIX}{name}", {"after": after})
        return RoleInfo(name=CUSTOM_PREFIX + name, label=label, permissions=perms, builtin=False, id=role.id)

    async def delete(self, editor: Principal, role_id: uuid.UUID) -> None:
        """Delete a custom role and every assignment of it (only if the editor holds all its permissions).

        A role that gives the editor themselves the right to manage roles cannot be
        deleted by them.
        """
        role = await self.custom_role(role_id)
        self._within(editor.permissions, role.permissions)
        if role.name in await self.roles_of(editor.subject):
            self._not_own_role_management(role)
        assert role.id is not None
        await self.repository.delete_role(role.id, _casbin_role(role.name))
        policy_changed(self.session, self.member_id)
        before = {"label": role.label, "permissions": sorted(str(p) for p in role.permissions)}
        await note(self.session, self.member_id, "deleted", f"role:{role.name}", {"before": before})

    async def roles_of(self, subject: str) -> list[str]:
        """Role names held by ``subject`` (``staff:<id>`` or ``apikey:<id>``)."""
        return sorted(r.v1.removeprefix("role:") for r in await self.repository.assignments(subject))

    async def assignments(self) -> dict[str, list[str]]:
        """Subject → its role names, for the whole member."""
        out: dict[str, list[str]] = {}
        for row in await self.repository.assignments():
            out.setdefault(row.v0, []).append(row.v1.removeprefix("role:"))
        return {k: sorted(v) for k, v in out.items()}

    async def assign(self, *, editor: Principal | frozenset[Permission], subject: str, role_name: str) -> RoleInfo:
        """Give ``role_name`` to ``subject`` (the editor must hold every permission of the role).

        ``editor`` is the caller, or for the provider's operator (who holds no role
        of the member) the permissions they stand for.
        """
        role = await self.role(role_name)
        self._within(_held(editor), role.permissions)
        if await self.repository.assign(subject, _casbin_role(role.name)):
            policy_changed(self.session, self.member_id)
            await self._note_roles(subject, given=role.name)
        return role

    async def unassign(self, *, editor: Principal, subject: str, role_name: str) -> None:
        """Take ``role_name`` from ``subject`` (the editor must hold every permission of the role).

        Editors cannot take from themselves a role that lets them manage roles: they
        could not give it back.
        """
        role = await self.role(role_name)
        self._within(editor.permissions, role.permissions)
        if subject == editor.subject:
            self._not_own_role_management(role)
        if await self.repository.unassign(subject, _casbin_role(role.name)):
            policy_changed(self.session, self.member_id)
            await self._note_roles(subject, taken=role.name)

    async def _note_roles(self, subject: str, *, given: str = "", taken: str = "") -> None:
        """An assignment changed: the subject's roles before and after, for the operation log."""
        after = await self.roles_of(subject)
        before = sorted(({*after, taken} - {given}) - {""})
        await note(
            self.session, self.member_id, "changed", subject, {"before": {"roles": before}, "after": {"roles": after}}
        )
