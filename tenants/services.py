"""Member administration: departments, staff, contract titles and grants, IP ranges, API keys.

Every service works inside one member: it is built with the member's id and
filters by it (row-level security is the second line behind that filter). A row
of another member is simply "not found", whatever its id.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from advanced_alchemy.exceptions import NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid
from core.i18n import gettext as _
from core.scope import Principal, PrincipalKind
from tenants.auth import ip_allowed
from tenants.models import (
    ApiKey,
    ContractTitle,
    Department,
    IpRange,
    OperatorAccount,
    SecretariatAccount,
    Staff,
    StaffStatus,
    TitleGrant,
    ViewScope,
)
from tenants.passwords import MIN_PASSWORD_LENGTH, api_key_digest, hash_password, new_api_key, verify_password

__all__ = [
    "ApiKeyService",
    "DepartmentNode",
    "DepartmentService",
    "IpRangeService",
    "StaffService",
    "TitleService",
    "change_own_password",
    "generate_password",
    "member_services",
]


def generate_password() -> str:
    """A random initial password (shown once to the administrator, never stored in clear)."""
    return secrets.token_urlsafe(12)


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(_("The password must be at least {n} characters long.").format(n=MIN_PASSWORD_LENGTH))
    return password


def _required(value: str | None, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(_("Please enter {field}.").format(field=label))
    return text


class _MemberScoped:
    """Lookups of one member's rows by id; another member's id is "not found"."""

    member_id: uuid.UUID

    async def _one(self, service: SQLAlchemyAsyncRepositoryService[Any], item_id: uuid.UUID) -> Any:
        row = await service.get_one_or_none(id=item_id, member_id=self.member_id)
        if row is None:
            raise NotFoundError(_("Not found."))
        return row


# --------------------------------------------------------------------------- departments


@dataclass(frozen=True)
class DepartmentNode:
    """A department with its depth in the tree, for indented lists."""

    department: Department
    depth: int
    path: str
    """Names from the top, e.g. 総務部 / 総務課."""


class DepartmentService(_MemberScoped, SQLAlchemyAsyncRepositoryService[Department]):
    """Departments (課・室) of one member, nested."""

    class Repo(SQLAlchemyAsyncRepository[Department]):
        model_type = Department

    repository_type = Repo

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session=session)
        self.member_id = member_id

    async def find(self, department_id: uuid.UUID) -> Department:
        """One department of the member, or NotFoundError."""
        row: Department = await self._one(self, department_id)
        return row

    async def all(self) -> Sequence[Department]:
        """Every department of the member, by code."""
        return await self.get_many(Department.member_id == self.member_id, order_by=[("code", False)])

    async def tree(self) -> list[DepartmentNode]:
        """Departments in tree order (parents before their children)."""
        rows = await self.all()
        children: dict[uuid.UUID | None, list[Department]] = {}
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        out: list[DepartmentNode] = []

        def walk(parent: uuid.UUID | None, depth: int, prefix: str) -> None:
            for row in children.get(parent, []):
                path = f"{prefix} / {row.name}" if prefix else row.name
                out.append(DepartmentNode(row, depth, path))
                walk(row.id, depth + 1, path)

        walk(None, 0, "")
        return out

    async def _parent(self, parent_id: uuid.UUID | None) -> uuid.UUID | None:
        if parent_id is None:
            return None
        try:
            return (await self.find(parent_id)).id
        except NotFoundError:
            raise Invalid(_("The parent department does not exist.")) from None

    async def add(self, *, code: str, name: str, parent_id: uuid.UUID | None = None) -> Department:
        """Create a department (inside ``parent_id`` if given)."""
        code = _required(code, _("a code"))
        if await self.exists(Department.member_id == self.member_id, Department.code == code):
            raise Conflict(_("The code {code} is already used by another department.").format(code=code))
        return await self.create(
            Department(
                member_id=self.member_id,
                code=code,
                name=_required(name, _("a name")),
                parent_id=await self._parent(parent_id),
            )
        )

    async def rename(self, department: Department, *, name: str, code: str | None = None) -> Department:
        """Change the name (and the code, if given)."""
        department.name = _required(name, _("a name"))
        if code is not None and code.strip() and code.strip() != department.code:
            code = code.strip()
            if await self.exists(Department.member_id == self.member_id, Department.code == code):
                raise Conflict(_("The code {code} is already used by another department.").format(code=code))
            department.code = code
        return await self.update(department)

    async def move(self, department: Department, parent_id: uuid.UUID | None) -> Department:
        """Put the department inside another one (or at the top); never inside itself."""
        new_parent = await self._parent(parent_id)
        cursor = new_parent
        by_id = {d.id: d for d in await self.all()}
        while cursor is not None:
            if cursor == department.id:
                raise Invalid(_("A department cannot be moved inside itself or one of its sub-departments."))
            cursor = by_id[cursor].parent_id
        department.parent_id = new_parent
        return await self.update(department)

    async def remove(self, department: Department) -> None:
        """Delete a department that has no sub-departments and no staff."""
        if await self.exists(Department.member_id == self.member_id, Department.parent_id == department.id):
            raise Conflict(_("The department still has sub-departments. Move or delete them first."))
        staff_count = await self.repository.session.scalar(
            select(func.count()).select_from(Staff).where(Staff.department_id == department.id)
        )
        if staff_count:
            raise Conflict(
                _("{n} staff still belong to the department. Move them to another department first.").format(
                    n=staff_count
                )
            )
        await self.delete(department.id)


# --------------------------------------------------------------------------- staff


class StaffService(_MemberScoped, SQLAlchemyAsyncRepositoryService[Staff]):
    """Staff accounts of one member."""

    class Repo(SQLAlchemyAsyncRepository[Staff]):
        model_type = Staff

    repository_type = Repo

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session=session)
        self.member_id = member_id
        self.departments = DepartmentService(session, member_id)

    async def find(self, staff_id: uuid.UUID) -> Staff:
        """One staff account of the member, or NotFoundError."""
        row: Staff = await self._one(self, staff_id)
        return row

    async def by_department(self, department_id: uuid.UUID | None = None) -> Sequence[Staff]:
        """Staff of the member, optionally only those of one department."""
        filters = [Staff.member_id == self.member_id]
        if department_id is not None:
            filters.append(Staff.department_id == department_id)
        return await self.get_many(*filters, order_by=[("login_id", False)])

    async def _department(self, department_id: uuid.UUID | None) -> uuid.UUID | None:
        if department_id is None:
            return None
        try:
            return (await self.departments.find(department_id)).id
        except NotFoundError:
            raise Invalid(_("The department does not exist.")) from None

    async def add(
        self,
        *,
        login_id: str,
        name: str,
        email: str,
        department_id: uuid.UUID | None = None,
        password: str | None = None,
        view_scope: ViewScope = ViewScope.MEMBER,
    ) -> tuple[Staff, str | None]:
        """Create an account; without ``password`` one is generated and returned (to show once)."""
        login_id = _required(login_id, _("a login ID"))
        generated = None
        if not password:
            generated = password = generate_password()
        _check_password(password)
        email = _required(email, _("an e-mail address"))
        if "@" not in email:
            raise Invalid(_("The e-mail address {email} is not valid.").format(email=email))
        # The ID is unique across the platform; other members' IDs are invisible
        # here, so ask PostgreSQL with a function that only answers yes or no.
        if await login_id_taken(self.repository.session, login_id):
            raise Conflict(_("The login ID {login_id} is already in use. Choose another.").format(login_id=login_id))
        if await self.exists(Staff.member_id == self.member_id, Staff.email == email):
            raise Conflict(_("Another account already uses the e-mail address {email}.").format(email=email))
        staff = await self.create(
            Staff(
                member_id=self.member_id,
                login_id=login_id,
                name=_required(name, _("a name")),
                email=email,
                department_id=await self._department(department_id),
                password_hash=hash_password(password),
                # The administrator chose it: the person replaces it at the first sign-in.
                must_change_password=True,
                status=StaffStatus.ACTIVE,
                view_scope=view_scope,
                failed_logins=0,
            )
        )
        return staff, generated

    async def edit(
        self,
        staff: Staff,
        *,
        name: str | None = None,
        email: str | None = None,
        department_id: uuid.UUID | object | None = ...,
        status: StaffStatus | None = None,
        view_scope: ViewScope | None = None,
        editor_id: uuid.UUID | None = None,
    ) -> Staff:
        """Change the given fields (``department_id=None`` means no department).

        An administrator cannot suspend or retire their own account (``editor_id``):
        nobody might be left to undo it.
        """
        if status is not None and status is not StaffStatus.ACTIVE and staff.id == editor_id:
            raise Invalid(_("You cannot suspend or retire your own account. Ask another administrator."))
        if name is not None:
            staff.name = _required(name, _("a name"))
        if email is not None:
            email = _required(email, _("an e-mail address"))
            if "@" not in email:
                raise Invalid(_("The e-mail address {email} is not valid.").format(email=email))
            if email != staff.email and await self.exists(
                Staff.member_id == self.member_id, Staff.email == email, Staff.id != staff.id
            ):
                raise Conflict(_("Another account already uses the e-mail address {email}.").format(email=email))
            staff.email = email
        if department_id is not ...:
            staff.department_id = await self._department(
                department_id if isinstance(department_id, uuid.UUID) else None
            )
        if status is not None:
            staff.status = status
        if view_scope is not None:
            staff.view_scope = view_scope
        return await self.update(staff)

    async def reset_password(self, staff: Staff, password: str | None = None) -> str | None:
        """Set a new password (generated and returned when none is given); also unlocks."""
        generated = None
        if not password:
            generated = password = generate_password()
        staff.password_hash = hash_password(_check_password(password))
        staff.must_change_password = True
        staff.failed_logins = 0
        staff.locked_until = None
        await self.update(staff)
        return generated

    async def unlock(self, staff: Staff) -> Staff:
        """End a lock-out after too many wrong passwords."""
        staff.failed_logins = 0
        staff.locked_until = None
        return await self.update(staff)


async def login_id_taken(session: AsyncSession, login_id: str) -> bool:
    """True if any member's staff or any secretariat account uses ``login_id``."""
    taken = await session.scalar(select(func.kyodo_login_id_taken(login_id)))
    return bool(taken)


def is_locked(staff: Staff) -> bool:
    """True while the account is locked out."""
    return staff.locked_until is not None and staff.locked_until > dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- titles and grants


class TitleService(_MemberScoped, SQLAlchemyAsyncRepositoryService[ContractTitle]):
    """Contract titles (契約名義) of one member and the staff allowed to contract under them."""

    class Repo(SQLAlchemyAsyncRepository[ContractTitle]):
        model_type = ContractTitle

    repository_type = Repo

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session=session)
        self.member_id = member_id

    async def find(self, title_id: uuid.UUID) -> ContractTitle:
        """One title of the member, or NotFoundError."""
        row: ContractTitle = await self._one(self, title_id)
        return row

    async def all(self) -> Sequence[ContractTitle]:
        """Every title, in display order."""
        return await self.get_many(
            ContractTitle.member_id == self.member_id, order_by=[("sort_order", False), ("code", False)]
        )

    async def add(
        self, *, code: str, name: str, formal_name: str, sort_order: int = 0, active: bool = True
    ) -> ContractTitle:
        """Create a title."""
        code = _required(code, _("a code"))
        if await self.exists(ContractTitle.member_id == self.member_id, ContractTitle.code == code):
            raise Conflict(_("The code {code} is already used by another title.").format(code=code))
        return await self.create(
            ContractTitle(
                member_id=self.member_id,
                code=code,
                name=_required(name, _("a name")),
                formal_name=_required(formal_name, _("the formal name")),
                sort_order=sort_order,
                active=active,
            )
        )

    async def edit(
        self,
        title: ContractTitle,
        *,
        code: str | None = None,
        name: str | None = None,
        formal_name: str | None = None,
        sort_order: int | None = None,
        active: bool | None = None,
    ) -> ContractTitle:
        """Change the given fields."""
        if code is not None and code.strip() != title.code:
            code = _required(code, _("a code"))
            if await self.exists(ContractTitle.member_id == self.member_id, ContractTitle.code == code):
                raise Conflict(_("The code {code} is already used by another title.").format(code=code))
            title.code = code
        if name is not None:
            title.name = _required(name, _("a name"))
        if formal_name is not None:
            title.formal_name = _required(formal_name, _("the formal name"))
        if sort_order is not None:
            title.sort_order = sort_order
        if active is not None:
            title.active = active
        return await self.update(title)

    async def grants(self) -> Sequence[TitleGrant]:
        """Every grant of the member."""
        rows = await self.repository.session.scalars(select(TitleGrant).where(TitleGrant.member_id == self.member_id))
        grants: Sequence[TitleGrant] = rows.all()
        return grants

    async def titles_of(self, staff: Staff) -> Sequence[ContractTitle]:
        """Titles ``staff`` may contract under."""
        rows = await self.repository.session.scalars(
            select(ContractTitle)
            .join(TitleGrant, TitleGrant.title_id == ContractTitle.id)
            .where(TitleGrant.staff_id == staff.id, TitleGrant.member_id == self.member_id)
            .order_by(ContractTitle.sort_order, ContractTitle.code)
        )
        titles: Sequence[ContractTitle] = rows.all()
        return titles

    async def grant(self, staff: Staff, title: ContractTitle) -> None:
        """Allow ``staff`` to contract under ``title`` (nothing happens if already allowed)."""
        assert staff.member_id == title.member_id == self.member_id
        session = self.repository.session
        existing = await session.scalar(
            select(TitleGrant).where(TitleGrant.staff_id == staff.id, TitleGrant.title_id == title.id)
        )
        if existing is None:
            session.add(TitleGrant(member_id=self.member_id, staff_id=staff.id, title_id=title.id))
            await session.flush()

    async def revoke(self, staff: Staff, title: ContractTitle) -> None:
        """Withdraw the grant (nothing happens if there was none)."""
        session = self.repository.session
        existing = await session.scalar(
            select(TitleGrant).where(TitleGrant.staff_id == staff.id, TitleGrant.title_id == title.id)
        )
        if existing is not None:
            await session.delete(existing)
            await session.flush()


# --------------------------------------------------------------------------- IP ranges


def parse_cidr(text: str) -> str:
    """A normalised network (``192.0.2.0/24``) or Invalid with a message that says what is wrong."""
    text = (text or "").strip()
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise Invalid(
            _("{text} is not an address range. Write it like 192.0.2.0/24 or 2001:db8::/48.").format(text=text)
        ) from None


class IpRangeService(_MemberScoped, SQLAlchemyAsyncRepositoryService[IpRange]):
    """The member's allowed networks (ACC-6)."""

    class Repo(SQLAlchemyAsyncRepository[IpRange]):
        model_type = IpRange

    repository_type = Repo

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session=session)
        self.member_id = member_id

    async def find(self, range_id: uuid.UUID) -> IpRange:
        """One range of the member, or NotFoundError."""
        row: IpRange = await self._one(self, range_id)
        return row

    async def all(self) -> Sequence[IpRange]:
        """Every range of the member."""
        return await self.get_many(IpRange.member_id == self.member_id, order_by=[("cidr", False)])

    def _keep_editor_in(self, ranges: list[str], editor_ip: str | None) -> None:
        if not ip_allowed(editor_ip, ranges):
            raise Conflict(
                _(
                    "This change would block your own current address ({ip}) and you could no longer use "
                    "the service. Add a range that includes your address first."
                ).format(ip=editor_ip or _("unknown"))
            )

    async def add(self, *, cidr: str, label: str, editor_ip: str | None) -> IpRange:
        """Allow a network; refused if the editor's own address would then be outside every range."""
        network = parse_cidr(cidr)
        current = [str(r.cidr) for r in await self.all()]
        if network in current:
            raise Conflict(_("The range {cidr} is already registered.").format(cidr=network))
        self._keep_editor_in([*current, network], editor_ip)
        return await self.create(IpRange(member_id=self.member_id, cidr=network, label=(label or "").strip()))

    async def remove(self, ip_range: IpRange, *, editor_ip: str | None) -> None:
        """Remove a network; refused if it would lock the editor out."""
        remaining = [str(r.cidr) for r in await self.all() if r.id != ip_range.id]
        self._keep_editor_in(remaining, editor_ip)
        await self.delete(ip_range.id)


# --------------------------------------------------------------------------- API keys


class ApiKeyService(_MemberScoped, SQLAlchemyAsyncRepositoryService[ApiKey]):
    """API keys of one member: the key is shown once, only its digest is kept."""

    class Repo(SQLAlchemyAsyncRepository[ApiKey]):
        model_type = ApiKey

    repository_type = Repo

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session=session)
        self.member_id = member_id

    async def find(self, key_id: uuid.UUID) -> ApiKey:
        """One key of the member, or NotFoundError."""
        row: ApiKey = await self._one(self, key_id)
        return row

    async def all(self) -> Sequence[ApiKey]:
        """Every key of the member, newest first."""
        return await self.get_many(ApiKey.member_id == self.member_id, order_by=[("created_at", True)])

    async def issue(self, *, label: str, created_by_id: uuid.UUID | None) -> tuple[ApiKey, str]:
        """A new key: the row and the key itself (never stored; show it once)."""
        key, prefix = new_api_key()
        row = await self.create(
            ApiKey(
                member_id=self.member_id,
                prefix=prefix,
                key_hash=api_key_digest(key),
                label=_required(label, _("a label")),
                created_by_id=created_by_id,
            )
        )
        return row, key

    async def revoke(self, key: ApiKey) -> ApiKey:
        """Stop the key from working (kept in the list, marked revoked)."""
        if key.revoked_at is None:
            key.revoked_at = dt.datetime.now(dt.UTC)
        return await self.update(key)


@dataclass
class MemberServices:
    """Every administration service of one member, sharing a session."""

    departments: DepartmentService
    staff: StaffService
    titles: TitleService
    ip_ranges: IpRangeService
    api_keys: ApiKeyService


def member_services(session: AsyncSession, member_id: uuid.UUID) -> MemberServices:
    """The services of ``member_id`` on ``session``."""
    return MemberServices(
        departments=DepartmentService(session, member_id),
        staff=StaffService(session, member_id),
        titles=TitleService(session, member_id),
        ip_ranges=IpRangeService(session, member_id),
        api_keys=ApiKeyService(session, member_id),
    )


async def change_own_password(
    session: AsyncSession, principal: Principal, *, current: str, new: str, confirm: str
) -> None:
    """A signed-in person replaces their own password (staff, secretariat or operator).

    The session must be the request's (scoped to the caller's member for staff).

    Raises:
        Invalid: the current password is wrong, or the new one is too short, the same
            as the current one or the login ID, or typed differently twice.
    """
    account: Staff | SecretariatAccount | OperatorAccount | None
    if principal.kind is PrincipalKind.STAFF:
        account = await session.get(Staff, principal.id)
    elif principal.kind is PrincipalKind.SECRETARIAT:
        account = await session.get(SecretariatAccount, principal.id)
    elif principal.kind is PrincipalKind.OPERATOR:
        account = await session.get(OperatorAccount, principal.id)
    else:
        raise Invalid(_("API keys have no password."))
    if account is None:
        raise Invalid(_("This account cannot be used. Please ask your administrator."))
    if not verify_password(account.password_hash, current):
        raise Invalid(_("The current password is not correct."))
    _check_password(new)
    if new != confirm:
        raise Invalid(_("The new password and its confirmation differ. Please type them again."))
    if new == current:
        raise Invalid(_("Choose a new password that differs from the current one."))
    if new.strip().lower() == account.login_id.lower():
        raise Invalid(_("The password must not be the same as the login ID."))
    account.password_hash = hash_password(new)
    account.must_change_password = False
    await session.flush()
