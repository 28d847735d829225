"""Bulk staff registration from CSV (ACC-1, SAP-6(7)): preview by line, all or nothing, idempotent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.scope import elevated
from core.settings import Settings
from onboarding.models import StaffImport
from onboarding.staff_import import BACKGROUND_ROWS
from policy.engine import CHANNEL
from policy.models import MemberRole, PolicyRule
from tenants.models import Staff, TitleGrant
from tenants.passwords import api_key_digest, new_api_key
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in

HEADER = "氏名,所属,メールアドレス,ロール,契約名義\r\n"

# Lines 2-8: two good rows and five bad ones, each with a different reason.
MIXED = HEADER + (
    "盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,drafter・signer,MAYOR\r\n"  # 2 good (department by code)
    "盛岡 花子,契約課,hanako@city.morioka.lg.jp,起案者,MAYOR;EDU\r\n"  # 3 good (department by name, Japanese role)
    ",KEIYAKU,noname@city.morioka.lg.jp,drafter,\r\n"  # 4 missing name
    "岩手 次郎,財務課,jiro@city.morioka.lg.jp,drafter,\r\n"  # 5 unknown department
    "岩手 三郎,KEIYAKU,taro@city.morioka.lg.jp,drafter,\r\n"  # 6 duplicate of line 2
    "岩手 四郎,KEIYAKU,shiro@@city,drafter,\r\n"  # 7 bad address
    "岩手 五郎,KEIYAKU,goro@city.morioka.lg.jp,superuser,GOVERNOR\r\n"  # 8 unknown role and unknown title
)
CLEAN = HEADER + (
    "盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,drafter・signer,MAYOR\r\n"
    "盛岡 花子,契約課,hanako@city.morioka.lg.jp,起案者,MAYOR;EDU\r\n"
    "岩手 五郎,,goro@city.morioka.lg.jp,viewer,\r\n"
)


async def _setup(session: AsyncSession, two: TwoMembers) -> None:
    await f.department(session, two.a, "KEIYAKU", "契約課")
    await f.title(session, two.a, "MAYOR", "市長", "盛岡市長 内舘 茂")
    await f.title(session, two.a, "EDU", "教育長", "盛岡市教育委員会教育長")
    # The same codes exist in member B: they must never be confused.
    await f.department(session, two.b, "KEIYAKU", "契約課")
    await f.title(session, two.b, "MAYOR", "市長", "八幡平市長")


async def _upload(client: AsyncTestClient, content: bytes, name: str = "staff.csv"):
    return await client.post(
        "/admin/import/",
        files={"file": (name, content, "text/csv")},
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=True,
    )


@asynccontextmanager
async def _database(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A second session on the test's connection, seeing every member: what the requests stored."""
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        yield fresh


async def _count_staff(session: AsyncSession, two: TwoMembers) -> int:
    async with _database(session) as fresh:
        count = await fresh.scalar(select(func.count()).select_from(Staff).where(Staff.member_id == two.a.id))
        return int(count or 0)


async def _only_import(session: AsyncSession) -> StaffImport:
    async with _database(session) as fresh:
        return (await fresh.scalars(select(StaffImport))).one()


async def _roles_of(session: AsyncSession, staff: Staff) -> set[str]:
    async with _database(session) as fresh:
        return set((await fresh.scalars(select(PolicyRule.v1).where(PolicyRule.v0 == f"staff:{staff.id}"))).all())


async def _commit(client: AsyncTestClient, page_url: str):
    return await client.post(
        f"{page_url}/commit", data={"_csrf_token": await csrf_token(client)}, follow_redirects=True
    )


async def test_cp932_file_reports_every_problem_by_line_and_writes_nothing(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _setup(db_session, two_members)
    before = await _count_staff(db_session, two_members)
    await sign_in(client, "morioka-admin")
    page = await _upload(client, MIXED.encode("cp932"))
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in soup.select("#problems tbody tr")]
    assert [(r[0], r[1]) for r in rows] == [
        ("4", "氏名"),
        ("5", "所属"),
        ("6", "メールアドレス"),
        ("7", "メールアドレス"),
        ("8", "ロール"),
        ("8", "契約名義"),
    ]
    assert "財務課" in rows[1][2]
    assert "2 行目" in rows[2][2]  # the duplicate names the first line
    assert "superuser" in rows[4][2]
    assert "GOVERNOR" in rows[5][2]
    assert soup.find("button", string="すべて登録する") is None  # no way to commit
    assert await _count_staff(db_session, two_members) == before
    job = await _only_import(db_session)
    assert job.encoding == "cp932"
    assert job.status.value == "rejected"
    # Committing a rejected import is refused and still writes nothing.
    refused = await client.post(
        f"/admin/import/{job.id}/commit", data={"_csrf_token": await csrf_token(client)}, follow_redirects=False
    )
    assert refused.status_code == 400
    assert "登録できません" in refused.text
    assert await _count_staff(db_session, two_members) == before


async def test_clean_cp932_file_registers_then_the_same_file_changes_nothing(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers, settings: Settings
) -> None:
    await _setup(db_session, two_members)
    before = await _count_staff(db_session, two_members)  # the administrator
    await sign_in(client, "morioka-admin")

    page = await _upload(client, CLEAN.encode("cp932"))
    plan = BeautifulSoup(page.text, "html.parser").select_one("#plan")
    assert plan is not None
    assert "3 件を新規登録" in plan.get_text()
    subscriber = AsyncRedis.from_url(settings.redis.url)
    listener = subscriber.pubsub(ignore_subscribe_messages=True)
    await listener.subscribe(CHANNEL)
    done = await _commit(client, str(page.url))
    # Every web and worker process is told to reload the member's roles.
    messages = []
    for _ in range(20):
        message = await listener.get_message(timeout=0.25)
        if message is not None:
            messages.append(message["data"])
            break
    assert messages == [f"member:{two_members.a.id}".encode()]
    await listener.aclose()  # type: ignore[no-untyped-call]
    await subscriber.aclose()
    result = BeautifulSoup(done.text, "html.parser").select_one("#result")
    assert result is not None
    assert "新規 3 件、更新 0 件、変更なし 0 件" in result.get_text()
    assert await _count_staff(db_session, two_members) == before + 3

    async with _database(db_session) as fresh:
        taro = (await fresh.scalars(select(Staff).where(Staff.email == "taro@city.morioka.lg.jp"))).one()
        assert taro.login_id == "032018-taro"
        assert taro.password_hash is None  # no password until set or invited
        assert taro.member_id == two_members.a.id
        hanako = (await fresh.scalars(select(Staff).where(Staff.email == "hanako@city.morioka.lg.jp"))).one()
        grants = await fresh.scalar(
            select(func.count()).select_from(TitleGrant).where(TitleGrant.staff_id == hanako.id)
        )
        assert grants == 2  # MAYOR and EDU
    assert await _roles_of(db_session, taro) == {"role:drafter", "role:signer"}

    # The same file again: nothing to create or update.
    again = await _upload(client, CLEAN.encode("cp932"))
    assert "0 件を新規登録、0 件を更新し、3 件は変更しません" in again.text
    done = await _commit(client, str(again.url))
    assert "新規 0 件、更新 0 件、変更なし 3 件" in done.text
    assert await _count_staff(db_session, two_members) == before + 3

    # A changed row updates the account found by e-mail (roles become exactly the row's).
    changed = CLEAN.replace(
        "盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,drafter・signer", "盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,viewer"
    )
    page = await _upload(client, changed.encode("cp932"))
    done = await _commit(client, str(page.url))
    assert "新規 0 件、更新 1 件、変更なし 2 件" in done.text
    assert await _roles_of(db_session, taro) == {"role:viewer"}


async def test_utf8_with_bom_is_read(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _setup(db_session, two_members)
    await sign_in(client, "morioka-admin")
    page = await _upload(client, b"\xef\xbb\xbf" + CLEAN.encode("utf-8"))
    assert "3 件を新規登録" in page.text
    job = await _only_import(db_session)
    assert job.encoding == "utf-8-sig"
    assert job.rows[0]["name"] == "盛岡 太郎"  # the BOM is not part of the first header


async def test_unreadable_file_is_explained(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    page = await _upload(client, b"\xff\xfe\x00\x81\x00broken")
    assert "UTF-8 または Shift_JIS" in page.text


async def test_api_key_imports_for_its_own_member_only(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _setup(db_session, two_members)
    from tenants.models import ApiKey

    key, prefix = new_api_key()
    async with elevated(db_session):
        api_key = ApiKey(member_id=two_members.a.id, prefix=prefix, key_hash=api_key_digest(key), label="人事システム")
        db_session.add(api_key)
        await db_session.flush()
        db_session.add(PolicyRule(member_id=two_members.a.id, ptype="g", v0=f"apikey:{api_key.id}", v1="role:admin"))
        await db_session.flush()
    headers = {"Authorization": f"Bearer {key}"}
    created = await client.post(
        "/api/v1/staff-imports", files={"file": ("s.csv", CLEAN.encode("utf-8"), "text/csv")}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "previewed"
    assert body["result"] == {"created": 3, "updated": 0, "unchanged": 0}
    committed = await client.post(f"/api/v1/staff-imports/{body['id']}/commit", headers=headers)
    assert committed.status_code == 200
    assert committed.json()["status"] == "done"
    bad = await client.post(
        "/api/v1/staff-imports", files={"file": ("s.csv", MIXED.encode("utf-8"), "text/csv")}, headers=headers
    )
    assert [p["line"] for p in bad.json()["problems"]] == [4, 5, 6, 7, 8, 8]

    # Member B's administrator cannot read or commit member A's import.
    client.headers.pop("Authorization", None)
    await sign_in(client, "hachimantai-admin")
    token = await csrf_token(client)
    assert (await client.get(f"/admin/import/{body['id']}")).status_code == 404
    assert (await client.get(f"/admin/import/{body['id']}/progress")).status_code == 404
    assert (await client.get(f"/api/v1/staff-imports/{body['id']}", headers={"x-csrftoken": token})).status_code == 404
    refused = await client.post(f"/admin/import/{bad.json()['id']}/commit", data={"_csrf_token": token})
    assert refused.status_code == 404
    api_commit = await client.post(f"/api/v1/staff-imports/{body['id']}/commit", headers={"x-csrftoken": token})
    assert api_commit.status_code == 404
    listing = await client.get("/admin/import/")
    assert "s.csv" not in listing.text


async def test_import_needs_the_permission(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.staff(db_session, two_members.a, "morioka-drafter", roles=("drafter",))
    await sign_in(client, "morioka-drafter")
    assert (await client.get("/admin/import/")).status_code == 403
    assert (await client.get("/admin/export/")).status_code == 403
    await sign_in(client, "jimukyoku")
    assert (await client.get("/admin/import/")).status_code == 403


async def test_nobody_grants_more_than_they_hold(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    a = two_members.a
    await _setup(db_session, two_members)
    # A personnel clerk may import staff but is not an administrator.
    db_session.add(MemberRole(member_id=a.id, name="custom:jinji", label="人事担当"))
    for perm in ("member:import", "staff:view"):
        obj, act = perm.split(":")
        db_session.add(PolicyRule(member_id=a.id, ptype="p", v0="role:custom:jinji", v2=obj, v3=act))
    await db_session.flush()
    await f.staff(db_session, a, "morioka-jinji", roles=("custom:jinji", "viewer"))
    await sign_in(client, "morioka-jinji")
    content = HEADER + (
        "盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,admin,\r\n"  # 2: admin carries more than the clerk holds
        "盛岡 花子,KEIYAKU,hanako@city.morioka.lg.jp,viewer,\r\n"  # 3: fine
        "管理 者,KEIYAKU,morioka-admin@example.lg.jp,viewer,\r\n"  # 4: would demote the administrator
    )
    page = await _upload(client, content.encode("utf-8"))
    soup = BeautifulSoup(page.text, "html.parser")
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in soup.select("#problems tbody tr")]
    assert [r[0] for r in rows] == ["2", "4"]
    assert "admin" in rows[0][2]
    assert "変更できない" in rows[1][2]


async def test_large_file_is_queued_and_its_progress_is_polled(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _setup(db_session, two_members)
    await sign_in(client, "morioka-admin")
    rows = "".join(f"職員 {i},KEIYAKU,s{i}@city.morioka.lg.jp,viewer,\r\n" for i in range(BACKGROUND_ROWS + 1))
    page = await _upload(client, (HEADER + rows).encode("cp932"))
    done = await _commit(client, str(page.url))
    box = BeautifulSoup(done.text, "html.parser").select_one("#import-progress")
    assert box is not None
    assert box["hx-get"] == f"{page.url.path}/progress"
    assert box["hx-trigger"] == "every 1s"
    assert f"{BACKGROUND_ROWS + 1} 行中 0 行" in box.get_text()
    # The work waits in the outbox, written in the same transaction as the queued state.
    async with _database(db_session) as fresh:
        queued = (
            await fresh.scalars(select(OutboxMessage).where(OutboxMessage.task_name == "onboarding.apply_staff_import"))
        ).one()
    job = await _only_import(db_session)
    assert queued.kwargs == {"job_id": str(job.id)}
    partial = await client.get(f"{page.url.path}/progress", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "登録しています" in partial.text


async def test_import_pages_label_every_field(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    for path in ("/admin/import/", "/admin/export/"):
        page = BeautifulSoup((await client.get(path)).text, "html.parser")
        assert len(page.find_all("h1")) == 1
        for field in page.find_all(["input", "select"]):
            if field.get("type") != "hidden":
                assert page.find("label", attrs={"for": str(field.get("id"))}) is not None, field
    await sign_in(client, "jimukyoku")
    for path in ("/secretariat/billing/", "/secretariat/leaving/", "/secretariat/onboarding/"):
        response = await client.get(path)
        assert response.status_code == 200
        page = BeautifulSoup(response.text, "html.parser")
        assert len(page.find_all("h1")) == 1
        for field in page.find_all(["input", "select"]):
            if field.get("type") != "hidden":
                assert page.find("label", attrs={"for": str(field.get("id"))}) is not None, field


async def test_login_id_taken_by_another_member_fails_cleanly(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _setup(db_session, two_members)
    # Member B chose, by hand, the ID the import would generate for Morioka's taro.
    await f.staff(db_session, two_members.b, "032018-taro", roles=("viewer",))
    before = await _count_staff(db_session, two_members)
    await sign_in(client, "morioka-admin")
    page = await _upload(client, CLEAN.encode("utf-8"))
    failed = await client.post(
        f"{page.url.path}/commit", data={"_csrf_token": await csrf_token(client)}, follow_redirects=False
    )
    assert failed.status_code == 400
    assert "別の団体" in failed.text
    assert await _count_staff(db_session, two_members) == before
