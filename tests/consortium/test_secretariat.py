"""The secretariat (CON-5): members with figures only, adding a member, leaving, shared companies (CON-6).

The requests run in sessions of their own; what they stored is read back from
the database through a second session (:func:`_database`), never from the
objects this test holds, which would show what the test wrote whatever the
requests did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from tenants.models import ContractorCompany, ContractorContact, Member, MemberStatus, Staff
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form, replace_given_password, shown_once, text_at


@asynccontextmanager
async def _database(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A second session on the test's connection, seeing every member: what is stored, nothing cached."""
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        yield fresh


async def _stored(session: AsyncSession, member: Member) -> Member:
    async with _database(session) as fresh:
        stored = await fresh.get(Member, member.id)
        assert stored is not None
        return stored


async def test_members_with_kind_status_and_staff_count(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    other = await f.consortium(db_session, "群馬県電子契約協議会")
    await f.member(db_session, other, "102016", "前橋市")
    await sign_in(client, "jimukyoku")
    page = await client.get("/secretariat/members")
    assert page.status_code == 200
    rows = {
        tr.th.get_text(strip=True) if tr.th else "": [td.get_text(strip=True) for td in tr.find_all("td")]
        for tr in BeautifulSoup(page.text, "html.parser").select("tbody tr")
    }
    assert set(rows) == {"盛岡市", "八幡平市"}  # never another consortium's members
    assert rows["盛岡市"][:2] == ["032018", "市区町村"]
    assert rows["盛岡市"][4] == "2"  # two active staff
    listed = {m["lg_code"]: m for m in (await api(client, "GET", "/api/v1/secretariat/members")).json()}
    assert listed["032140"]["staff_count"] == 1
    assert listed["032018"]["status"] == "live"


async def test_add_a_member_with_its_first_administrator(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "jimukyoku")
    wrong = await form(
        client,
        "/secretariat/members",
        lg_code="032169",
        name="滝沢市",
        kind="municipality",
        joined_on="2026-10-01",
        admin_login_id="takizawa-admin",
        admin_name="滝沢 管理",
        admin_email="admin@city.takizawa.lg.jp",
    )
    assert wrong.status_code == 400
    assert "検査数字が正しくありません" in wrong.text
    added = await form(
        client,
        "/secretariat/members",
        lg_code="032166",
        name="滝沢市",
        kind="municipality",
        joined_on="2026-10-01",
        admin_login_id="takizawa-admin",
        admin_name="滝沢 管理",
        admin_email="admin@city.takizawa.lg.jp",
    )
    assert added.status_code == 200
    password = shown_once(added.text)[-1]
    async with _database(db_session) as fresh:
        takizawa = await fresh.scalar(select(Member).where(Member.lg_code == "032166"))
        assert takizawa is not None
        assert (takizawa.name, takizawa.status) == ("滝沢市", MemberStatus.SANDBOX)
        admins = (await fresh.scalars(select(Staff).where(Staff.member_id == takizawa.id))).all()
        assert [(s.login_id, s.must_change_password) for s in admins] == [("takizawa-admin", True)]
    # The new administrator signs in and administers the new member only.
    await sign_in(client, "takizawa-admin", password)
    await replace_given_password(client, password, "takizawa-own-2026")
    start = await client.get("/app")
    assert "滝沢市" in start.text
    assert "団体管理者" in start.text
    staff = (await api(client, "GET", "/api/v1/staff")).json()
    assert [s["login_id"] for s in staff] == ["takizawa-admin"]


async def test_add_through_the_api_and_refuse_duplicates(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "jimukyoku")
    body = {
        "lg_code": "033022",
        "name": "岩手町",
        "kind": "municipality",
        "joined_on": "2026-11-01",
        "admin_login_id": "iwate-admin",
        "admin_name": "岩手 管理",
        "admin_email": "admin@town.iwate.lg.jp",
    }
    created = await api(client, "POST", "/api/v1/secretariat/members", body)
    assert created.status_code == 201, created.text
    assert created.json()["admin_initial_password"]
    assert created.json()["member"]["status"] == "sandbox"
    again = await api(client, "POST", "/api/v1/secretariat/members", body | {"admin_login_id": "iwate-2"})
    assert again.status_code == 409
    assert "033022" in again.json()["detail"]
    taken = await api(
        client, "POST", "/api/v1/secretariat/members", body | {"lg_code": "033031", "admin_login_id": "morioka-admin"}
    )
    assert taken.status_code == 409


async def test_mark_a_member_leaving_then_left(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "jimukyoku")
    await form(client, f"/secretariat/members/{two_members.b.id}/status", status="leaving", on="2027-03-31")
    stored = await _stored(db_session, two_members.b)
    assert (stored.status, stored.left_on) == (MemberStatus.LEAVING, dt.date(2027, 3, 31))
    left = await api(
        client, "PATCH", f"/api/v1/secretariat/members/{two_members.b.id}", {"status": "left", "on": "2027-03-31"}
    )
    assert left.json()["status"] == "left"
    stored = await _stored(db_session, two_members.b)
    assert (stored.status, stored.left_on) == (MemberStatus.LEFT, dt.date(2027, 3, 31))
    # Staff of a member that left can no longer sign in.
    await client.get("/login")
    refused = await client.post(
        "/login",
        data={
            "login_id": "hachimantai-admin",
            "password": f.PASSWORD,
            "_csrf_token": client.cookies.get("kyodo_csrf", ""),
        },
    )
    assert refused.status_code == 400


async def test_another_consortiums_members_and_companies_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    other = await f.consortium(db_session, "群馬県電子契約協議会")
    maebashi = await f.member(db_session, other, "102016", "前橋市")
    company = ContractorCompany(consortium_id=other.id, name="群馬建設株式会社")
    db_session.add(company)
    await db_session.flush()
    await sign_in(client, "jimukyoku")
    assert (await form(client, f"/secretariat/members/{maebashi.id}/status", status="left")).status_code == 404
    assert (
        await api(client, "PATCH", f"/api/v1/secretariat/members/{maebashi.id}", {"status": "left"})
    ).status_code == 404
    assert "群馬建設" not in (await client.get("/secretariat/companies")).text
    contact = {"name": "x", "email": "x@example.co.jp"}
    assert (await form(client, f"/secretariat/companies/{company.id}/contacts", **contact)).status_code == 404
    assert (
        await api(client, "POST", f"/api/v1/secretariat/companies/{company.id}/contacts", contact)
    ).status_code == 404
    # Nothing of the other consortium changed in the database.
    assert (await _stored(db_session, maebashi)).status is MemberStatus.LIVE
    async with _database(db_session) as fresh:
        contacts = select(ContractorContact.email).where(ContractorContact.company_id == company.id)
        assert (await fresh.scalars(contacts)).all() == []


async def test_member_staff_cannot_use_the_secretariat_screens(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    assert (await client.get("/secretariat/members")).status_code == 403
    assert (await api(client, "GET", "/api/v1/secretariat/members")).status_code == 403
    assert (await api(client, "GET", "/api/v1/secretariat/companies")).status_code == 403
    # And the secretariat cannot use a member's administration.
    await sign_in(client, "jimukyoku")
    assert (await client.get("/admin/staff")).status_code == 403
    assert (await api(client, "GET", "/api/v1/staff")).status_code == 403
    assert (await client.get("/address-book")).status_code == 403


async def test_companies_with_checked_corporate_numbers_and_contacts(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "jimukyoku")
    wrong = await form(client, "/secretariat/companies", name="盛岡建設株式会社", corporate_number="1234567890123")
    assert wrong.status_code == 400
    assert "法人番号" in wrong.text
    created = await api(
        client,
        "POST",
        "/api/v1/secretariat/companies",
        {"name": "盛岡建設株式会社", "corporate_number": "8400001000001"},
    )
    assert created.status_code == 201, created.text
    await form(client, "/secretariat/companies", name="個人事業 岩手設備")  # no number: fine
    contact = await api(
        client,
        "POST",
        f"/api/v1/secretariat/companies/{created.json()['id']}/contacts",
        {"name": "営業 一郎", "email": "Eigyo@morioka-kensetsu.co.jp"},
    )
    assert contact.json()["email"] == "eigyo@morioka-kensetsu.co.jp"
    page = await client.get("/secretariat/companies")
    assert "8400001000001" in page.text
    assert text_at(page.text, "thead th") == "会社名", "a company's name, not a person's (氏名)"
    assert "営業 一郎" in page.text
    assert "個人事業 岩手設備" in page.text
    async with _database(db_session) as fresh:
        names = await fresh.scalars(
            select(ContractorCompany.name).where(ContractorCompany.consortium_id == two_members.consortium.id)
        )
        assert sorted(names.all()) == ["個人事業 岩手設備", "盛岡建設株式会社"]


async def test_stages_change_only_through_the_stage_machine(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    member = await f.member(db_session, two_members.consortium, "033022", "雫石町", status=MemberStatus.SANDBOX)
    await sign_in(client, "jimukyoku")
    url = f"/api/v1/secretariat/members/{member.id}"
    straight = await api(client, "PATCH", url, {"status": "live"})
    assert straight.status_code == 400, "no sandbox member goes live without its trial"
    assert (await _stored(db_session, member)).status is MemberStatus.SANDBOX
    assert (await api(client, "PATCH", url, {"status": "trial"})).status_code == 200
    live = await api(client, "PATCH", url, {"status": "live", "on": "2026-12-10"})
    assert live.status_code == 200, live.text
    stored = await _stored(db_session, member)
    assert stored.status is MemberStatus.LIVE
    assert stored.go_live_on == dt.date(2026, 12, 10), "the service window starts at go-live"
    early = await api(client, "PATCH", f"/api/v1/secretariat/members/{two_members.a.id}", {"status": "left"})
    assert early.status_code == 400, "left only after leaving"
