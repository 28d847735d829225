"""Demo data: the eight members of 盛岡広域連携, safe to seed at every start, with working logins."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.demo import DEMO_OPERATOR, DEMO_PASSWORD, DEMO_SECRETARIAT, seed_demo
from kyodo.models import metadata
from tenants.models import Member, MemberStatus
from tests.conftest import sign_in
from tests.helpers import api


async def _snapshot(session: AsyncSession) -> dict[str, list[tuple]]:
    out = {}
    for table in metadata.sorted_tables:
        if table.name in ("outbox_message", "security_event"):
            continue
        rows = (await session.execute(select(table).order_by(*table.primary_key.columns))).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


async def test_seeding_twice_changes_nothing(db_session: AsyncSession) -> None:
    first = await seed_demo(db_session)
    assert first.added["Member"] == 8
    before = await _snapshot(db_session)
    second = await seed_demo(db_session)
    assert second.total == 0
    assert await _snapshot(db_session) == before
    members = {m.lg_code: m for m in await db_session.scalars(select(Member))}
    assert set(members) == {"032018", "032140", "032166", "033022", "033031", "033014", "033219", "033227"}
    assert members["032018"].status is MemberStatus.LIVE
    assert (
        await db_session.scalar(select(func.count()).select_from(Member).where(Member.status == MemberStatus.LIVE)) == 1
    )


async def test_demo_logins_work(client: AsyncTestClient, db_session: AsyncSession) -> None:
    await seed_demo(db_session)
    await sign_in(client, "morioka-admin", DEMO_PASSWORD)
    titles = (await api(client, "GET", "/api/v1/titles")).json()
    assert {t["name"] for t in titles} >= {"市長", "教育長", "上下水道事業管理者", "病院事業管理者"}
    staff_list = (await api(client, "GET", "/api/v1/staff")).json()
    shocho = next(s["id"] for s in staff_list if s["login_id"] == "morioka-shocho")
    assert all(t["staff_ids"] == [shocho] for t in titles)  # the signer holds every title, nobody else
    staff = {s["login_id"]: s["roles"] for s in staff_list}
    assert staff["morioka-shocho"] == ["signer"]
    assert staff["morioka-kansa"] == ["auditor"]
    await sign_in(client, "yahaba-keiyaku", DEMO_PASSWORD)
    book = (await api(client, "GET", "/api/v1/address-book")).json()
    assert [e["company_name"] for e in book] == ["盛岡建設株式会社"]
    await sign_in(client, DEMO_SECRETARIAT, DEMO_PASSWORD)
    members = (await api(client, "GET", "/api/v1/secretariat/members")).json()
    assert len(members) == 8
    assert all(m["staff_count"] == 6 for m in members)
    await sign_in(client, DEMO_OPERATOR, DEMO_PASSWORD)
    reports = await client.get("/operator/reports/")
    assert reports.status_code == 200
    assert "盛岡広域連携" in reports.text
