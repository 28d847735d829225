"""Staff accounts of one member, their roles and passwords."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from tenants import oplog
from tenants.models import Department, OperationKind, Staff, StaffStatus, ViewScope
from tenants.passwords import hash_secret
from tenants.repository import AccountRepository
from tenants.services._common import (
    UNSET,
    RoleHolderService,
    check_password,
    fields_of,
    generate_password,
    given,
    required,
    valid_email,
)
from tenants.sessions import SessionStore

STAFF_FIELDS = ("login_id", "name", "email", "department_id", "status", "view_scope")
"""What the operation log compares before and after a change of an account (never its password)."""


def staff_target(staff: Staff) -> str:
    """How the operation log names an account."""
    return oplog.target("staff", staff.id, f"{staff.login_id} {staff.name}")


class StaffIn(msgspec.Struct):
    """A new account; without ``password`` one is generated (returned once)."""

    login_id: str
    name: str
    email: str
    department_id: uuid.UUID | None = None
    password: str | None = None
    """Leave out to have one generated (returned once as ``initial_password``)."""
    view_scope: ViewScope = ViewScope.MEMBER
    roles: list[str] = msgspec.field(default_factory=list)
    """Roles to give at once, each within what the creator holds."""


class StaffPatch(msgspec.Struct):
    """Changes to an account; left out = unchanged (``department_id: null`` = no department)."""

    name: str | msgspec.UnsetType = UNSET
    email: str | msgspec.UnsetType = UNSET
    department_id: uuid.UUID | msgspec.UnsetType | None = UNSET
    status: StaffStatus | msgspec.UnsetType = UNSET
    view_scope: ViewScope | msgspec.UnsetType = UNSET
    """``department``: only contracts of the person's own department (SAP-6(9))."""


class PasswordIn(msgspec.Struct):
    """A new password chosen by the administrator; left out = one is generated (returned once)."""

    password: str | None = None


@dataclass(frozen=True)
class StaffEntry:
    """An account with its roles, as lists and answers show it."""

    staff: Staff
    roles: list[str]
    initial_password: str | None = None
    """Only right after creation or a reset, and only when generated."""

    @property
    def locked(self) -> bool:
        """True while the account is locked out."""
        return is_locked(self.staff)


def is_locked(staff: Staff) -> bool:
    """True while the account is locked out."""
    return staff.locked_until is not None and staff.locked_until > dt.datetime.now(dt.UTC)


async def login_id_taken(session: AsyncSession, login_id: str) -> bool:
    """True if any member's staff or any secretariat account uses ``login_id``."""
    return await AccountRepository(session).login_id_taken(login_id)


class StaffService(RoleHolderService):
    """Staff accounts of one member."""

    subject_kind = "staff"

    async def find(self, staff_id: uuid.UUID) -> Staff:
        """One staff account of the member, or NotFound."""
        return await self._find(Staff, staff_id)

    async def entry(self, staff_id: uuid.UUID) -> StaffEntry:
        """One account with its roles."""
        staff = await self.find(staff_id)
        return StaffEntry(staff, await self.roles.roles_of(self.subject(staff.id)))

    async def listing(self, department_id: uuid.UUID | None = None) -> list[StaffEntry]:
        """Accounts with their roles by login ID, optionally only those of one department."""
        roles = await self.roles.assignments()
        return [StaffEntry(s, roles.get(self.subject(s.id), [])) for s in await self.repository.staff(department_id)]

    async def _department(self, department_id: uuid.UUID | None) -> uuid.UUID | None:
        if department_id is None:
            return None
        try:
            return (await self._find(Department, department_id)).id
        except NotFound:
            raise Invalid(_("The department does not exist.")) from None

    async def create(self, editor: Principal, data: StaffIn) -> StaffEntry:
        """Create an account and give it ``data.roles`` (each within what ``editor`` holds).

        The person replaces the initial password at the first sign-in.
        """
        login_id = required(data.login_id, _("a login ID"))
        generated = None
        password = data.password
        if not password:
            generated = password = generate_password()
        check_password(password)
        email = valid_email(data.email)
        # The ID is unique across the platform, other members' IDs included.
        if await AccountRepository(self.session).login_id_taken(login_id):
            raise Conflict(
                _("The login ID {login_id} is already in use. Choose another.").format(login_id=login_id),
                field="login_id",
            )
        if await self.repository.staff_email_taken(email):
            raise Conflict(
                _("Another account already uses the e-mail address {email}.").format(email=email), field="email"
            )
        staff = Staff(
            login_id=login_id,
            name=required(data.name, _("a name")),
            email=email,
            department_id=await self._department(data.department_id),
            password_hash=await hash_secret(password),
            must_change_password=True,
            status=StaffStatus.ACTIVE,
            view_scope=data.view_scope,
            failed_logins=0,
        )
        self.repository.add(staff)
        await self.repository.flush()
        await self._record(OperationKind.CREATED, staff_target(staff), {"after": fields_of(staff, *STAFF_FIELDS)})
        return StaffEntry(staff, await self._give_roles(editor, staff.id, data.roles), generated)

    async def edit(self, editor: Principal, staff_id: uuid.UUID, data: StaffPatch) -> StaffEntry:
        """Change the given fields.

        An administrator cannot suspend or retire their own account: nobody might
        be left to undo it.
        """
        staff = await self.find(staff_id)
        before = fields_of(staff, *STAFF_FIELDS)
        if isinstance(data.status, StaffStatus) and data.status is not StaffStatus.ACTIVE and staff.id == editor.id:
            raise Invalid(_("You cannot suspend or retire your own account. Ask another administrator."))
        if isinstance(data.name, str):
            staff.name = required(data.name, _("a name"))
        if isinstance(data.email, str):
            email = valid_email(data.email)
            if email != staff.email and await self.repository.staff_email_taken(email, other_than=staff.id):
                raise Conflict(
                    _("Another account already uses the e-mail address {email}.").format(email=email), field="email"
                )
            staff.email = email
        if given(data.department_id):
            staff.department_id = await self._department(
                data.department_id if isinstance(data.department_id, uuid.UUID) else None
            )
        if isinstance(data.status, StaffStatus):
            staff.status = data.status
        if isinstance(data.view_scope, ViewScope):
            staff.view_scope = data.view_scope
        await self.repository.flush()
        await self._record_change(staff_target(staff), before, fields_of(staff, *STAFF_FIELDS))
        return await self.entry(staff.id)

    async def reset_password(self, staff_id: uuid.UUID, data: PasswordIn, sessions: SessionStore) -> StaffEntry:
        """Set a new password (generated and returned when none is given); also unlocks.

        Whoever was signed in with the old password is signed out everywhere.
        """
        staff = await self.find(staff_id)
        generated = None
        password = data.password
        if not password:
            generated = password = generate_password()
        staff.password_hash = await hash_secret(check_password(password))
        staff.must_change_password = True
        staff.failed_logins = 0
        staff.locked_until = None
        await self.repository.flush()
        await self._record(OperationKind.CHANGED, staff_target(staff), {"after": {"password": "reset"}})
        await sessions.end_all_of("staff", str(staff.id))
        entry = await self.entry(staff.id)
        return StaffEntry(entry.staff, entry.roles, generated)

    async def unlock(self, staff_id: uuid.UUID) -> StaffEntry:
        """End a lock-out after too many wrong passwords."""
        staff = await self.find(staff_id)
        was_locked = is_locked(staff)
        staff.failed_logins = 0
        staff.locked_until = None
        await self.repository.flush()
        await self._record_change(staff_target(staff), {"locked": was_locked}, {"locked": False})
        return await self.entry(staff.id)

    async def give_role(self, editor: Principal, staff_id: uuid.UUID, role: str) -> StaffEntry:
        """Give a role (only if ``editor`` holds all its permissions)."""
        staff = await self.find(staff_id)
        return StaffEntry(staff, await self._give_roles(editor, staff.id, [role]))

    async def take_role(self, editor: Principal, staff_id: uuid.UUID, role: str) -> StaffEntry:
        """Take a role (only if ``editor`` holds all its permissions, and never their own role management)."""
        staff = await self.find(staff_id)
        await self.roles.unassign(editor=editor, subject=self.subject(staff.id), role_name=role)
        return StaffEntry(staff, await self.roles.roles_of(self.subject(staff.id)))
