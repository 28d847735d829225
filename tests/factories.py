"""Builders of consortium, members, staff and secretariat rows for tests.

They write through a session with system access (as an operator would) and
flush, so the rows are visible to the app under test in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from consortium.models import Consortium, Member, MemberKind, MemberStatus, SecretariatAccount
from policy.models import PolicyRule
from tenants.models import ContractTitle, Department, IpRange, Staff, TitleGrant, ViewScope
from tenants.passwords import hash_password
from tenants.rls import system_access

PASSWORD = "kyodo-Test-2026"

# Password hashing dominates test set-up; hash once.
_HASH = hash_password(PASSWORD)


async def consortium(session: AsyncSession, name: str = "盛岡広域連携", slug: str | None = None) -> Consortium:
    await system_access(session)
    row = Consortium(name=name, slug=slug or f"c-{uuid.uuid4().hex[:8]}", maintenance_notice_days=15)
    session.add(row)
    await session.flush()
    return row


async def member(
    session: AsyncSession,
    of: Consortium,
    lg_code: str,
    name: str,
    *,
    kind: MemberKind = MemberKind.MUNICIPALITY,
    status: MemberStatus = MemberStatus.LIVE,
) -> Member:
    await system_access(session)
    row = Member(
        consortium_id=of.id, lg_code=lg_code, name=name, kind=kind, status=status, joined_on=dt.date(2026, 4, 1)
    )
    session.add(row)
    await session.flush()
    return row


async def department(
    session: AsyncSession, of: Member, code: str, name: str, parent: Department | None = None
) -> Department:
    await system_access(session)
    row = Department(member_id=of.id, code=code, name=name, parent_id=parent.id if parent else None)
    session.add(row)
    await session.flush()
    return row


async def staff(
    session: AsyncSession,
    of: Member,
    login_id: str,
    *,
    roles: Iterable[str] = ("admin",),
    name: str | None = None,
    department: Department | None = None,
    view_scope: ViewScope = ViewScope.MEMBER,
    password_hash: str | None = _HASH,
) -> Staff:
    await system_access(session)
    row = Staff(
        member_id=of.id,
        login_id=login_id,
        name=name or login_id,
        email=f"{login_id}@example.lg.jp",
        department_id=department.id if department else None,
        view_scope=view_scope,
        password_hash=password_hash,
    )
    session.add(row)
    await session.flush()
    for role in roles:
        session.add(PolicyRule(member_id=of.id, ptype="g", v0=f"staff:{row.id}", v1=f"role:{role}"))
    await session.flush()
    return row


async def title(session: AsyncSession, of: Member, code: str, name: str, formal_name: str) -> ContractTitle:
    await system_access(session)
    row = ContractTitle(member_id=of.id, code=code, name=name, formal_name=formal_name)
    session.add(row)
    await session.flush()
    return row


async def grant(session: AsyncSession, who: Staff, what: ContractTitle) -> TitleGrant:
    await system_access(session)
    row = TitleGrant(member_id=who.member_id, staff_id=who.id, title_id=what.id)
    session.add(row)
    await session.flush()
    return row


async def ip_range(session: AsyncSession, of: Member, cidr: str) -> IpRange:
    await system_access(session)
    row = IpRange(member_id=of.id, cidr=cidr, label="test")
    session.add(row)
    await session.flush()
    return row


async def secretariat(session: AsyncSession, of: Consortium, login_id: str) -> SecretariatAccount:
    await system_access(session)
    row = SecretariatAccount(
        consortium_id=of.id, login_id=login_id, name=login_id, email=f"{login_id}@example.lg.jp", password_hash=_HASH
    )
    session.add(row)
    await session.flush()
    return row
