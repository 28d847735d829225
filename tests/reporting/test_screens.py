"""Reporting screens and who may see what: members see their own, the secretariat sees figures of its members."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.figures import compute_month
from reporting.services import issue_report, open_incident, record_recovery, write_plan
from tests import factories as f
from tests.conftest import sign_in
from tests.reporting.conftest import JST, OCTOBER, October, jst
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
    assert "下書き" not in pdf_text(pdf.content)  # the issued report carries no draft mark
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
    assert "下書き（未発行・数値は変わることがあります）" in pdf_text(draft.content)  # on every page
    assert pdf_text(draft.content).count("下書き（未発行") == pdf_text(draft.content).count("\f")


async def test_an_issued_report_is_shown_as_issued_even_when_later_records_would_compute_otherwise(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _issue_a(db_session, october)
    # An incident of October recorded after the report was issued: recomputed, 盛岡市's availability would drop.
    late = await open_incident(
        db_session,
        title="後から記録された障害",
        started_at=jst(25, 10),
        detected_at=jst(25, 10, 5),
        first_notified_at=jst(25, 10, 10),
        symptom="画面が遅い",
        members=[october.members.a.id],
    )
    await record_recovery(db_session, late.id, recovered_at=jst(25, 13), cause="負荷", prevention="増設")
    assert (await compute_month(db_session, october.members.consortium.id, OCTOBER))[0].availability_percent != Decimal(
        "99.723"
    )

    await sign_in(client, "jimukyoku")
    rollup = await client.get("/secretariat/reports", params={"month": "2026-10"})
    assert "99.723 %" in rollup.text, "the secretariat reads the issued figure"
    assert "99.856 %" in rollup.text  # 八幡平市, not issued: as computed

    await f.operator(db_session)
    await sign_in(client, "kyodo-unyo")
    screen = await client.get("/operator/reports/", params={"month": "2026-10"})
    section = screen.text[screen.text.index('id="m-032018"') : screen.text.index('id="m-032140"')]
    assert "発行済み" in section
    assert "99.723 %" in section, "the operator reads what the member received"


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


async def _usage_of_a(db_session: AsyncSession, october: October) -> None:
    """盛岡市: two contracts concluded by 契約課 on 5 and 20 October; downloads by staff (1) and a contractor (2)."""
    from signing.models import AuditEvent, AuditKind, Contract, ContractStatus

    a = october.members.a
    keiyaku = await f.department(db_session, a, "KEIYAKU", "契約課")
    mayor = await f.title(db_session, a, "MAYOR", "市長", "盛岡市長")
    for day in (5, 20):
        db_session.add(
            Contract(
                member_id=a.id,
                title_id=mayor.id,
                department_id=keiyaku.id,
                subject="物品購入契約",
                status=ContractStatus.CONCLUDED,
                concluded_at=jst(day, 10),
            )
        )
    for actor, day in (("staff:1 契約 花子", 6), ("party:2 盛岡建設株式会社", 7), ("party:2 盛岡建設株式会社", 21)):
        db_session.add(
            AuditEvent(
                member_id=a.id,
                kind=AuditKind.DOWNLOADED.value,
                occurred_at=jst(day, 9),
                actor=actor,
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )
    await db_session.flush()


async def test_secretariat_sees_usage_for_any_period_with_csv(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _usage_of_a(db_session, october)
    await sign_in(client, "jimukyoku")
    rollup = await client.get("/secretariat/reports", params={"month": "2026-10"})
    assert "ダウンロード" in rollup.text
    # 1 to 10 October: one contract (5 Oct), one download each by staff and contractor.
    page = await client.get("/secretariat/reports/usage", params={"from": "2026-10-01", "to": "2026-10-10"})
    assert page.status_code == 200
    row = page.text[page.text.index("盛岡市 (032018)") :]
    assert re.match(r"盛岡市 \(032018\)</th><td>1</td>\s*<td>1</td><td>1</td><td>0</td>", row), row[:200]
    csv_response = await client.get(
        "/secretariat/reports/usage", params={"from": "2026-10-01", "to": "2026-10-31", "format": "csv"}
    )
    assert csv_response.content.startswith("\ufeff".encode())
    lines = csv_response.content.decode("utf-8-sig").splitlines()
    assert "032018,盛岡市,契約課,2" in lines
    assert "032018,盛岡市,1,2,0" in lines  # staff, contractors, API
    assert "032140,八幡平市,0,0,0" in lines
    wrong = await client.get("/secretariat/reports/usage", params={"from": "2026-10-31", "to": "2026-10-01"})
    assert wrong.status_code == 400
    assert "期間の終わりが始まりより前" in wrong.text


async def test_member_staff_cannot_read_consortium_usage(client: AsyncTestClient, october: October) -> None:
    await sign_in(client, "morioka-admin")
    assert (await client.get("/secretariat/reports/usage", follow_redirects=False)).status_code == 403


async def test_another_consortiums_secretariat_sees_none_of_this_usage(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _usage_of_a(db_session, october)
    other = await f.consortium(db_session, name="二戸地区広域", slug="ninohe")
    await f.secretariat(db_session, other, "ninohe-jimukyoku")
    await sign_in(client, "ninohe-jimukyoku")
    page = await client.get("/secretariat/reports/usage", params={"from": "2026-10-01", "to": "2026-10-31"})
    assert page.status_code == 200
    assert "盛岡市" not in page.text
    csv_response = await client.get(
        "/secretariat/reports/usage", params={"from": "2026-10-01", "to": "2026-10-31", "format": "csv"}
    )
    assert "盛岡市" not in csv_response.content.decode("utf-8-sig")
