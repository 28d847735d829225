"""Every query of the member administration: departments, staff, titles and grants, networks, API keys.

:class:`TenantRepository` reads and writes one member's rows through
:meth:`~core.repository.MemberScopedRepository.scoped`; made with
``member_id=None`` inside :func:`core.scope.elevated` it looks across members,
which only sign-in does (a login ID or an API key prefix names its member).
:class:`AccountRepository` holds the sign-in statements shared by every kind of
account (staff, secretariat, operators): lookup by login ID and the lock-out
counters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.repository import MemberScopedRepository
from tenants.models import (
    ApiKey,
    ContractTitle,
    Department,
    IpRange,
    OperatorAccount,
    SecretariatAccount,
    Staff,
    TitleGrant,
)

__all__ = ["AccountRepository", "AccountTable", "TenantRepository"]

AccountTable = type[Staff] | type[SecretariatAccount] | type[OperatorAccount]


class TenantRepository(MemberScopedRepository):
    """One member's departments, staff, titles, grants, networks and API keys."""

    async def _exists(self, statement: Select[Any]) -> bool:
        return bool(await self.session.scalar(select(statement.exists())))

    async def _count(self, statement: Select[Any]) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0)

    async def remove(self, row: Department | IpRange | TitleGrant) -> None:
        """Delete one row of the member (already read through this repository)."""
        await self.session.delete(row)
        await self.session.flush()

    async def flush(self) -> None:
        """Write pending changes (ids and constraints are checked now, not at commit)."""
        await self.session.flush()

    # ----------------------------------------------------------------- departments

    async def departments(self) -> Sequence[Department]:
        """Every department, by code."""
        return await self.all(self.scoped(Department).order_by(Department.code))

    async def department_code_taken(self, code: str) -> bool:
        """True if a department of the member already has ``code``."""
        return await self._exists(self.scoped(Department).where(Department.code == code))

    async def has_sub_departments(self, department_id: uuid.UUID) -> bool:
        """True if a department is inside ``department_id``."""
        return await self._exists(self.scoped(Department).where(Department.parent_id == department_id))

    async def staff_in(self, department_id: uuid.UUID) -> int:
        """How many staff belong to the department."""
        return await self._count(self.scoped(Staff).where(Staff.department_id == department_id))

    async def move_department_staff(self, source_id: uuid.UUID, target_id: uuid.UUID) -> int:
        """Every staff member of ``source_id`` now belongs to ``target_id``; how many moved."""
        result = await self.session.execute(
            update(Staff)
            .where(Staff.member_id == self.member_id, Staff.department_id == source_id)
            .values(department_id=target_id)
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def move_sub_departments(self, source_id: uuid.UUID, target_id: uuid.UUID) -> int:
        """The departments inside ``source_id`` are now inside ``target_id``; how many moved."""
        result = await self.session.execute(
            update(Department)
            .where(Department.member_id == self.member_id, Department.parent_id == source_id)
            .values(parent_id=target_id)
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def staff_per_department(self) -> dict[uuid.UUID, int]:
        """Department id → number of its staff (departments without staff are left out)."""
        statement = (
            self.scoped(Staff).with_only_columns(Staff.department_id, func.count()).group_by(Staff.department_id)
        )
        rows = (await self.session.execute(statement)).tuples().all()
        return {department_id: count for department_id, count in rows if department_id is not None}

    # ----------------------------------------------------------------- staff

    async def staff(self, department_id: uuid.UUID | None = None) -> Sequence[Staff]:
        """Staff by login ID, optionally only those of one department."""
        statement = self.scoped(Staff).order_by(Staff.login_id)
        if department_id is not None:
            statement = statement.where(Staff.department_id == department_id)
        return await self.all(statement)

    async def staff_email_taken(self, email: str, *, other_than: uuid.UUID | None = None) -> bool:
        """True if another account of the member uses ``email``."""
        statement = self.scoped(Staff).where(Staff.email == email)
        if other_than is not None:
            statement = statement.where(Staff.id != other_than)
        return await self._exists(statement)

    async def staff_account(self, staff_id: uuid.UUID) -> Staff | None:
        """The member's account with ``staff_id``, if any."""
        return await self.get(Staff, staff_id)

    async def staff_by_login_id(self, login_id: str) -> Staff | None:
        """The account with ``login_id`` (unique across members: sign-in asks elevated)."""
        return await self.first(self.scoped(Staff).where(Staff.login_id == login_id))

    # ----------------------------------------------------------------- titles and grants

    async def titles(self) -> Sequence[ContractTitle]:
        """Every title, in display order."""
        return await self.all(self.scoped(ContractTitle).order_by(ContractTitle.sort_order, ContractTitle.code))

    async def title_code_taken(self, code: str) -> bool:
        """True if a title of the member already has ``code``."""
        return await self._exists(self.scoped(ContractTitle).where(ContractTitle.code == code))

    async def grants(self) -> Sequence[TitleGrant]:
        """Every grant of the member."""
        return await self.all(self.scoped(TitleGrant))

    async def grant(self, staff_id: uuid.UUID, title_id: uuid.UUID) -> TitleGrant | None:
        """The grant of ``title_id`` to ``staff_id``, if any."""
        return await self.first(
            self.scoped(TitleGrant).where(TitleGrant.staff_id == staff_id, TitleGrant.title_id == title_id)
        )

    async def titles_of(self, staff_id: uuid.UUID) -> Sequence[ContractTitle]:
        """Titles ``staff_id`` may contract under, in display order."""
        return await self.all(
            self.scoped(ContractTitle)
            .join(TitleGrant, TitleGrant.title_id == ContractTitle.id)
            .where(TitleGrant.staff_id == staff_id, TitleGrant.member_id == ContractTitle.member_id)
            .order_by(ContractTitle.sort_order, ContractTitle.code)
        )

    # ----------------------------------------------------------------- networks

    async def ip_ranges(self) -> Sequence[IpRange]:
        """Every allowed network, by address."""
        return await self.all(self.scoped(IpRange).order_by(IpRange.cidr))

    async def cidrs(self) -> list[str]:
        """The allowed networks as text (``192.0.2.0/24``)."""
        return [str(r.cidr) for r in await self.ip_ranges()]

    # ----------------------------------------------------------------- API keys

    async def api_keys(self) -> Sequence[ApiKey]:
        """Every key, newest first."""
        return await self.all(self.scoped(ApiKey).order_by(ApiKey.created_at.desc()))

    async def api_key_by_prefix(self, prefix: str) -> ApiKey | None:
        """The key with the public ``prefix`` (unique across members: sign-in asks elevated)."""
        return await self.first(self.scoped(ApiKey).where(ApiKey.prefix == prefix))


class AccountRepository:
    """Sign-in statements of every kind of account; ``Staff`` only through a member-scoped or elevated session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def secretariat_by_login_id(self, login_id: str) -> SecretariatAccount | None:
        """The secretariat account with ``login_id``."""
        return (
            await self.session.scalars(select(SecretariatAccount).where(SecretariatAccount.login_id == login_id))
        ).first()

    async def operator_by_login_id(self, login_id: str) -> OperatorAccount | None:
        """The operator account with ``login_id``."""
        return (await self.session.scalars(select(OperatorAccount).where(OperatorAccount.login_id == login_id))).first()

    async def login_id_taken(self, login_id: str) -> bool:
        """True if any member's staff or any secretariat account uses ``login_id``.

        Other members' IDs are invisible to a member's session: PostgreSQL answers
        with a function that only says yes or no.
        """
        return bool(await self.session.scalar(select(func.kyodo_login_id_taken(login_id))))

    async def claim_attempt(
        self, table: AccountTable, account_id: uuid.UUID, *, max_attempts: int, lock_minutes: int
    ) -> tuple[bool, dt.datetime | None] | None:
        """Count one sign-in attempt in one ``UPDATE … RETURNING``; None while the account is locked.

        Returns whether this attempt set the lock, and until when. See
        :func:`tenants.auth._check_password` for why the count comes first.
        """
        now = dt.datetime.now(dt.UTC)
        reaches_limit = table.failed_logins + 1 >= max_attempts
        claimed = await self.session.execute(
            update(table)
            .where(table.id == account_id, or_(table.locked_until.is_(None), table.locked_until <= now))
            .values(
                # The lock starts a fresh count for when it runs out.
                failed_logins=case((reaches_limit, 0), else_=table.failed_logins + 1),
                locked_until=case((reaches_limit, now + dt.timedelta(minutes=lock_minutes)), else_=None),
            )
            .returning(table.locked_until)
            .execution_options(synchronize_session=False)
        )
        row = claimed.one_or_none()
        if row is None:
            return None
        return row.locked_until is not None, row.locked_until

    async def locked_until(self, table: AccountTable, account_id: uuid.UUID) -> dt.datetime | None:
        """Until when the account is locked (None: it is not)."""
        return await self.session.scalar(select(table.locked_until).where(table.id == account_id))

    async def clear_failures(
        self, table: AccountTable, account_id: uuid.UUID, *, signed_in: bool, rehash: tuple[str, str] | None = None
    ) -> None:
        """Forget the counted attempts and any lock; note the sign-in time when ``signed_in``.

        ``rehash``: (the hash checked, the same password hashed at the current cost); the new
        hash replaces the old one only while the old one is still the account's.
        """
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if signed_in:
            values["last_login_at"] = dt.datetime.now(dt.UTC)
        await self.session.execute(
            update(table).where(table.id == account_id).values(values).execution_options(synchronize_session=False)
        )
        if rehash is not None:
            old, new = rehash
            await self.session.execute(
                update(table)
                .where(table.id == account_id, table.password_hash == old)
                .values(password_hash=new)
                .execution_options(synchronize_session=False)
            )
