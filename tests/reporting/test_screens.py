"""Reporting screens and who may see what: members see their own, the secretariat sees figures of its members."""

from __future__ import annotations

import datetime as dt

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.services import issue_report, write_plan
from tests import factories as f
from tests.conftest import sign_in
from tests.reporting.conftest import JST, OCTOBER, October
from tests.reporting.test_issue import pdf_text

NOW = dt.datetime(2026, 11, 1, 6, tzinfo=JST)


async def _issue_a(db_session: AsyncSession, october: October) -> None:
    a = october.members.a.id
    for item in ("availability", "recovery"):
        await write_plan(db_session, a, OCTOBER, item=item, reason="理由", plan="改善策", by="運用")
    await issue_report(db_session, a, OCTOBER, issued_by="運用", now=NOW)


async def test_members_see_and_download_only_their_own_reports(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _issue_a(db_session, october)
    await sign_in(client, "morioka-admin")
    page = await client.get("/reports")
    assert page.status_code == 200
    assert "2026-10" in page.text
    pdf = await client.get("/reports/2026-10/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert "盛岡市 月次サービス報告書" in pdf_text(pdf.content)
    csv = await client.get("/reports/2026-10/csv")
    assert csv.content.startswith("\ufeff".encode())

    await sign_in(client, "hachimantai-admin")
    page = await client.get("/reports")
    assert "2026-10" not in page.text
    assert (await client.get("/reports/2026-10/pdf")).status_code == 404


async def test_staff_without_the_permission_and_the_secretariat_get_no_member_reports(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await f.staff(db_session, october.members.a, "morioka-drafter", roles=("drafter",))
    await sign_in(client, "morioka-drafter")
    assert (await client.get("/reports", follow_redirects=False)).status_code == 403
    await sign_in(client, "jimukyoku")
    assert (await client.get("/reports", follow_redirects=False)).status_code == 403


async def test_secretariat_rollup_shows_every_member_side_by_side(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _issue_a(db_session, october)
    await sign_in(client, "jimukyoku")
    page = await client.get("/secretariat/reports", params={"month": "2026-10"})
    assert page.status_code == 200, page.text[:500]
    for expected in ("盛岡市 (032018)", "99.723 %", "八幡平市 (032140)", "99.856 %", "雫石町 (033014)", "99.982 %"):
        assert expected in page.text, expected
    assert "発行済み" in page.text  # 盛岡市's report is issued
    draft = await client.get("/secretariat/reports/032140/2026-10/draft.pdf")
    assert draft.status_code == 200
    assert "八幡平市 月次サービス報告書" in pdf_text(draft.content)


async def test_member_staff_cannot_open_the_rollup(client: AsyncTestClient, october: October) -> None:
    await sign_in(client, "morioka-admin")
    assert (await client.get("/secretariat/reports", follow_redirects=False)).status_code == 403
    assert (
        await client.get("/secretariat/reports/032140/2026-10/draft.pdf", follow_redirects=False)
    ).status_code == 403


async def test_secretariat_of_another_consortium_sees_none_of_these_members(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    other = await f.consortium(db_session, name="二戸地区広域", slug="ninohe")
    await f.secretariat(db_session, other, "ninohe-jimukyoku")
    await sign_in(client, "ninohe-jimukyoku")
    page = await client.get("/secretariat/reports", params={"month": "2026-10"})
    assert page.status_code == 200
    assert "盛岡市" not in page.text
    assert (await client.get("/secretariat/reports/032018/2026-10/draft.pdf")).status_code == 404


async def test_status_page_shows_a_member_its_own_incidents_and_everyone_all_member_ones(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    # Incidents of October are recovered more than 7 days before today; reopen the window of interest
    # by recording fresh ones.
    from reporting.services import open_incident

    now = dt.datetime.now(dt.UTC)
    await open_incident(db_session, title="全団体の遅延", started_at=now, detected_at=now, symptom="画面が遅い")
    await open_incident(
        db_session,
        title="盛岡市だけの障害",
        started_at=now,
        detected_at=now,
        symptom="一覧が開けない",
        members=[october.members.a.id],
    )
    anonymous = await client.get("/status")
    assert "全団体の遅延" in anonymous.text
    assert "盛岡市だけの障害" not in anonymous.text
    await sign_in(client, "morioka-admin")
    morioka = await client.get("/status")
    assert "全団体の遅延" in morioka.text
    assert "盛岡市だけの障害" in morioka.text
    await sign_in(client, "hachimantai-admin")
    hachimantai = await client.get("/status")
    assert "全団体の遅延" in hachimantai.text
    assert "盛岡市だけの障害" not in hachimantai.text


async def test_start_pages_link_to_the_reports(client: AsyncTestClient, october: October) -> None:
    await sign_in(client, "morioka-admin")
    assert 'href="/reports"' in (await client.get("/app")).text
    await sign_in(client, "jimukyoku")
    assert 'href="/secretariat/reports"' in (await client.get("/app")).text
