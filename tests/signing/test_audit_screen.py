"""The audit-log screen: a member's own trail, filtered, paginated, as CSV, with the chains verified (LAW, DAT-6)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import psycopg
import redis
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from signing.audit import Actor, append_event
from signing.models import AuditEvent, AuditKind
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Office

BROWSER = "Mozilla/5.0 (Windows NT 10.0) KyodoAuditCheck/1.0"
JST = ZoneInfo("Asia/Tokyo")


async def _contract(
    client: AsyncTestClient, key: str, title_id: str, subject: str, number: str, *, pages: int = 1
) -> dict:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {key}", "user-agent": BROWSER},
        data={"subject": subject, "title_id": title_id, "contract_number": number},
        files=[("files", (f"{subject}.pdf", f.pdf(pages), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    body: dict = created.json()
    return body


def _rows(html: str) -> list[list[str]]:
    table = BeautifulSoup(html, "html.parser").find("table", id="audit-events")
    assert table is not None
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.select("tbody tr")]


async def _two_members_contracts(client: AsyncTestClient, office: Office, session: AsyncSession) -> tuple[dict, dict]:
    """Two contracts of member A (R8-001, R8-002), one of member B (HB-999), and A's auditor signed in."""
    await f.staff(session, office.members.a, "morioka-kansa", roles=("auditor",))
    road = await _contract(client, office.key_a, str(office.title_a.id), "市道補修工事", "R8-001")
    await _contract(client, office.key_a, str(office.title_a.id), "学校給食委託", "R8-002")
    # Another document than A's (the same bytes would have the same SHA-256).
    secret = await _contract(client, office.key_b, str(office.title_b.id), "八幡平の極秘契約", "HB-999", pages=3)
    await sign_in(client, "morioka-kansa")
    return road, secret


async def test_auditors_see_their_members_trail_and_nothing_else(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    road, secret = await _two_members_contracts(client, office, db_session)
    page = await client.get("/contracts/audit")
    assert page.status_code == 200, page.text
    assert "ハッシュチェーンを検証しました" in page.text
    rows = _rows(page.text)
    assert len(rows) == 4  # created and uploaded, for each of A's two contracts
    assert {r[1] for r in rows} == {"作成", "ファイル登録"}
    assert "市道補修工事 (R8-001)" in {r[2] for r in rows}
    assert BROWSER in page.text  # user agent
    assert "127.0.0.1" in page.text  # IP
    assert road["documents"][0]["sha256"] in page.text  # the document's SHA-256
    assert "八幡平" not in page.text
    assert secret["id"] not in page.text
    assert secret["documents"][0]["sha256"] not in page.text

    by_id = _rows((await client.get("/contracts/audit", params={"contract": road["id"]})).text)
    assert len(by_id) == 2
    assert all("市道補修工事" in r[2] for r in by_id)
    by_number = _rows((await client.get("/contracts/audit", params={"contract": "R8-002"})).text)
    assert len(by_number) == 2
    assert all("学校給食委託" in r[2] for r in by_number)
    # Member B's contract, named by its id or number, finds nothing.
    for other in (secret["id"], "HB-999"):
        response = await client.get("/contracts/audit", params={"contract": other})
        assert _rows(response.text) == [["該当する記録はありません。"]]
        assert "八幡平" not in response.text


async def test_the_trail_is_filtered_by_days_in_japan_time(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await _two_members_contracts(client, office, db_session)
    today = dt.datetime.now(JST).date()
    tomorrow, yesterday = today + dt.timedelta(days=1), today - dt.timedelta(days=1)
    assert len(_rows((await client.get("/contracts/audit", params={"date_from": today.isoformat()})).text)) == 4
    assert len(_rows((await client.get("/contracts/audit", params={"date_to": today.isoformat()})).text)) == 4
    later = await client.get("/contracts/audit", params={"date_from": tomorrow.isoformat()})
    assert _rows(later.text) == [["該当する記録はありません。"]]
    earlier = await client.get("/contracts/audit", params={"date_to": yesterday.isoformat()})
    assert _rows(earlier.text) == [["該当する記録はありません。"]]
    bad = await client.get("/contracts/audit", params={"date_from": "令和8年"})
    assert bad.status_code == 400
    assert "YYYY-MM-DD" in bad.text


async def test_the_trail_exports_as_csv_and_the_export_is_recorded(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    road, secret = await _two_members_contracts(client, office, db_session)
    member_a = office.members.a.id
    export = await client.get("/contracts/audit.csv", params={"contract": "R8-001"})
    assert export.status_code == 200
    assert export.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert table[0][:6] == ["日時（日本時間）", "事象", "契約ID", "契約番号", "件名", "操作者"]
    assert len(table) == 3
    for line in table[1:]:
        assert line[2] == road["id"]
        assert line[3] == "R8-001"
        assert line[7] == "127.0.0.1"
        assert line[8] == BROWSER
        assert len(line[11]) == len(line[12]) == 64  # previous hash and hash
    assert {line[1]: line[9] for line in table[1:]} == {"作成": "", "ファイル登録": road["documents"][0]["sha256"]}
    everything = (await client.get("/contracts/audit.csv")).content.decode("utf-8-sig")
    assert "八幡平" not in everything
    assert secret["id"] not in everything

    # The export itself is in the member's trail.
    await system_access(db_session)
    exported = (
        await db_session.scalars(
            select(AuditEvent).where(AuditEvent.kind == AuditKind.EXPORTED.value, AuditEvent.contract_id.is_(None))
        )
    ).all()
    assert [e.member_id for e in exported] == [member_a, member_a]
    assert all(e.detail["audit_trail"] is True for e in exported)
    shown = await client.get("/contracts/audit")
    assert "エクスポート" in shown.text


async def test_member_b_sees_only_its_own_trail(client: AsyncTestClient, office: Office) -> None:
    theirs = await _contract(client, office.key_a, str(office.title_a.id), "盛岡市の秘密の契約", "M-1")
    mine = await _contract(client, office.key_b, str(office.title_b.id), "八幡平市の契約", "H-1", pages=2)
    await sign_in(client, "hachimantai-admin")
    page = await client.get("/contracts/audit")
    assert page.status_code == 200
    assert "八幡平市の契約" in page.text
    assert mine["documents"][0]["sha256"] in page.text
    assert "盛岡" not in page.text
    assert theirs["documents"][0]["sha256"] not in page.text
    export = (await client.get("/contracts/audit.csv")).content.decode("utf-8-sig")
    assert "盛岡" not in export
    assert theirs["id"] not in export


async def test_the_trail_is_paginated(client: AsyncTestClient, office: Office, db_session: AsyncSession) -> None:
    for i in range(57):
        await append_event(
            db_session,
            member_id=office.members.a.id,
            contract_id=None,
            kind=AuditKind.SEARCHED,
            who=Actor("staff:00000000-0000-0000-0000-000000000000 検索 太郎", ip="192.0.2.7", user_agent="pytest"),
            detail={"i": i},
        )
    await sign_in(client, "morioka-admin")
    first = await client.get("/contracts/audit")
    assert len(_rows(first.text)) == 50
    assert "検索 太郎" in first.text
    assert "staff:00000000" not in first.text  # the id stays in the CSV export
    assert 'href="?page=2"' in first.text
    second = await client.get("/contracts/audit", params={"page": 2})
    assert len(_rows(second.text)) == 7
    assert "page=3" not in second.text
    filtered = await client.get("/contracts/audit", params={"date_from": "2026-01-01", "page": 2})
    assert 'href="?date_from=2026-01-01&amp;page=1"' in filtered.text


async def test_staff_without_audit_view_are_refused(client: AsyncTestClient, office: Office) -> None:
    await sign_in(client, "morioka-drafter")
    assert (await client.get("/contracts/audit")).status_code == 403
    assert (await client.get("/contracts/audit.csv")).status_code == 403
    assert "監査ログ" not in (await client.get("/contracts/")).text
    await client.post("/logout", data={"_csrf_token": await csrf_token(client)})
    assert (await client.get("/contracts/audit", follow_redirects=False)).status_code in (302, 303)


async def test_a_changed_row_shows_that_the_chain_does_not_verify(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            b = await f.member(session, group, "032140", "八幡平市")
            await f.staff(session, a, "morioka-kansa", roles=("auditor",))
            await f.staff(session, b, "hachimantai-kansa", roles=("auditor",))
            for member in (a, a, a, b):
                await append_event(
                    session,
                    member_id=member.id,
                    contract_id=None,
                    kind=AuditKind.SEARCHED,
                    who=Actor("staff:1 検索", ip="192.0.2.1", user_agent="pytest"),
                    detail={"member": member.lg_code},
                )
            await session.commit()
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            # Verified once: the result is kept with the trail's fingerprint and shown again from there.
            await sign_in(client, "morioka-kansa")
            for _ in range(2):
                intact = await client.get("/contracts/audit")
                assert "ハッシュチェーンを検証しました" in intact.text
            assert redis.Redis.from_url(fresh_database.redis.url).exists(f"kyodo:audit:verified:{a.id}")
            # Someone with the owner's rights edits one of member A's rows behind the platform's back.
            admin_url = fresh_database.database.admin_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE contract_audit_event SET actor = 'forged' "
                    "WHERE id = (SELECT min(id) FROM contract_audit_event WHERE detail->>'member' = '032018')"
                )
            page = await client.get("/contracts/audit")
            assert page.status_code == 200
            alert = BeautifulSoup(page.text, "html.parser").find(id="chain-status")
            assert alert is not None
            assert alert.get("role") == "alert"
            assert "検証に失敗しました" in alert.get_text()
            assert "3件中1件が一致しません" in alert.get_text()
            # Member B's own chain is intact, and B is not told about A's.
            await sign_in(client, "hachimantai-kansa")
            other = await client.get("/contracts/audit")
            assert "ハッシュチェーンを検証しました" in other.text
            assert "1件の記録" in other.text
    finally:
        await engine.dispose()
