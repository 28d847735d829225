"""The consortium's services give the caller's session back with the scope it came with.

Counting the members' staff, writing a new member's first administrator, an
operator's API key and the demo data need system access; each happens inside
``core.scope.elevated``, and afterwards the session sees exactly what it saw
before: a secretariat's nothing of any member, a member's only its own rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.demo import seed_demo
from consortium.services import AddressBookService, MembershipService, issue_operator_api_key
from core.scope import for_member
from tenants.models import ApiKey, Member, MemberKind, Staff
from tests.conftest import TwoMembers


def _scope(session: AsyncSession) -> tuple[str, bool]:
    return str(session.info.get("member_id") or ""), bool(session.info.get("system"))


async def _staff_seen(session: AsyncSession, member: Member) -> int:
    return int(await session.scalar(select(func.count()).select_from(Staff).where(Staff.member_id == member.id)) or 0)


async def _keys_seen(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def test_a_secretariat_session_sees_no_members_rows_after_any_service(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    a, b = two_members.a, two_members.b
    service = MembershipService(db_session, two_members.consortium.id)
    await for_member(db_session, None)  # how a secretariat's request starts

    async def unchanged(after: str) -> None:
        assert _scope(db_session) == ("", False), after
        assert await _staff_seen(db_session, a) == 0, after
        assert await _staff_seen(db_session, b) == 0, after
        assert await _keys_seen(db_session) == 0, after

    await unchanged("start")
    figures = {f.member.id: f.staff_count for f in await service.figures()}
    assert figures == {a.id: 1, b.id: 1}
    await unchanged("figures")
    member, _, _ = await service.add(
        lg_code="032166", name="滝沢市", kind=MemberKind.MUNICIPALITY, joined_on=dt.date(2026, 10, 1),
        admin_login_id="takizawa-admin", admin_name="滝沢 管理", admin_email="admin@city.takizawa.lg.jp",
    )  # fmt: skip
    assert await _staff_seen(db_session, member) == 0
    await unchanged("add")
    await issue_operator_api_key(db_session, lg_code="032018", label="連携", role="viewer")
    await unchanged("issue_operator_api_key")
    await seed_demo(db_session)
    await unchanged("seed_demo")


async def test_a_members_session_sees_only_its_own_rows_after_any_service(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    a, b = two_members.a, two_members.b
    await for_member(db_session, a.id)  # how a request of member A's staff starts

    async def unchanged(after: str) -> None:
        assert _scope(db_session) == (str(a.id), False), after
        assert await _staff_seen(db_session, a) == 1, after
        assert await _staff_seen(db_session, b) == 0, after

    await unchanged("start")
    await MembershipService(db_session, two_members.consortium.id).figures()
    await unchanged("figures")
    book = AddressBookService(db_session, a.id, two_members.consortium.id)
    await book.add(company_name="盛岡建設株式会社", contact_name="営業 一郎", email="eigyo@example.co.jp")
    assert len(await book.entries()) == 1
    await unchanged("address book")
