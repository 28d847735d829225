"""The operator's screens, through HTTP: plans and issuing, incidents, maintenance, targets, and who may enter."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.services import create_operator
from core.outbox import OutboxMessage
from core.scope import elevated
from core.settings import SecuritySettings, Settings
from reporting.models import Incident, MaintenanceWindow, MonthlyReport, SlaTarget
from reporting.notify import notify_maintenance, notify_maintenance_cancelled
from reporting.services import NOTIFY_MAINTENANCE_CANCELLED_TASK, NOTIFY_MAINTENANCE_TASK, issue_report
from tenants.auth import LoginFailure, login
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.helpers import replace_given_password
from tests.reporting.conftest import JST, October, deliver_queued_mail
from tests.reporting.test_issue import pdf_text
from tests.scope import system_access
from tests.signing.conftest import Mailbox


async def _post(client: AsyncTestClient, url: str, data: dict[str, str | list[str]]) -> httpx.Response:
    token = await csrf_token(client)
    return await client.post(url, data={**data, "_csrf_token": token}, follow_redirects=False)


async def _as_operator(client: AsyncTestClient, db_session: AsyncSession) -> None:
    await f.operator(db_session)
    await sign_in(client, "kyodo-unyo")


def _local(moment: dt.datetime) -> str:
    return f"{moment.astimezone(JST):%Y-%m-%dT%H:%M}"


async def _queued(db_session: AsyncSession, task: str) -> list[OutboxMessage]:
    await system_access(db_session)
    return list((await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == task))).all())


async def test_an_operator_created_by_the_command_signs_in_and_sees_operator_work_only(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await system_access(db_session)
    _, password = await create_operator(
        db_session, login_id="unyo-suzuki", name="鈴木 運用", email="suzuki@kyodo.example.jp"
    )
    await sign_in(client, "unyo-suzuki", password)
    await replace_given_password(client, password, "unyo-suzuki-own-2026")
    start = await client.get("/app")
    assert "運用事業者" in start.text
    for link in ("/operator/reports/", "/operator/incidents/", "/operator/maintenance/", "/operator/targets/"):
        assert f'href="{link}"' in start.text
    # Figures and operations, never contracts, staff or the secretariat's screens.
    for path in ("/contracts", "/admin/staff", "/secretariat/members", "/reports", "/api/v1/contracts"):
        assert (await client.get(path)).status_code in (401, 403), path


async def test_staff_and_the_secretariat_cannot_open_operator_screens(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    for login_id in ("morioka-admin", "jimukyoku"):
        await sign_in(client, login_id)
        for path in ("/operator/reports/", "/operator/incidents/", "/operator/maintenance/", "/operator/targets/"):
            assert (await client.get(path)).status_code == 403, (login_id, path)
        refused = await _post(
            client, "/operator/incidents/", {"title": "x", "started_at": "2026-11-01T10:00", "scope": "all"}
        )
        assert refused.status_code == 403
    assert (await db_session.scalars(select(Incident))).first() is None


async def test_operators_may_be_held_to_their_own_networks(db_session: AsyncSession, two_members: TwoMembers) -> None:
    await f.operator(db_session)
    office = SecuritySettings(operator_networks=("10.20.0.0/16",))
    outside = await login(db_session, "kyodo-unyo", f.PASSWORD, ip="192.0.2.7", user_agent="t", security=office)
    assert outside.failure is LoginFailure.IP_REFUSED
    inside = await login(db_session, "kyodo-unyo", f.PASSWORD, ip="10.20.3.4", user_agent="t", security=office)
    assert inside.failure is None
    assert inside.session_data is not None
    assert inside.session_data["kind"] == "operator"


async def test_reports_are_issued_from_the_screen_only_after_the_plans_are_written(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _as_operator(client, db_session)
    page = await client.get("/operator/reports/?month=2026-10")
    assert page.status_code == 200
    # 盛岡市 missed availability and recovery, 八幡平市 response; 雫石町 met every target.
    section = page.text[page.text.index('id="m-032018"') : page.text.index('id="m-032140"')]
    assert "目標未達成: 稼働率" in section
    assert "目標未達成: 障害発生から復旧までの時間" in section

    refused = await _post(client, "/operator/reports/032018/2026-10/issue", {})
    assert refused.status_code == 400
    assert "理由と改善計画が記入されていません" in refused.text
    empty = await _post(client, "/operator/reports/032018/2026-10/plans/availability", {"reason": "", "plan": ""})
    assert empty.status_code == 400
    assert "理由と改善計画の両方を記入してください" in empty.text

    for item, reason, plan in (
        ("availability", "10月20日の設定誤りによる停止", "設定変更の二重確認"),
        ("recovery", "夜間の検知遅れ（障害2）", "夜間の自動切替を導入"),
    ):
        saved = await _post(client, f"/operator/reports/032018/2026-10/plans/{item}", {"reason": reason, "plan": plan})
        assert saved.status_code == 303
    issued = await _post(client, "/operator/reports/032018/2026-10/issue", {})
    assert issued.status_code == 303

    await system_access(db_session)
    report = await db_session.scalar(select(MonthlyReport).where(MonthlyReport.member_id == october.members.a.id))
    assert report is not None
    assert report.issued_by == "運用 太郎"
    pdf = await client.get("/operator/reports/032018/2026-10/report.pdf")
    assert pdf.content == report.pdf
    text = pdf_text(pdf.content)
    assert "設定変更の二重確認" in text
    assert "夜間の自動切替を導入" in text
    # Issued means final: the plan can no longer change.
    late = await _post(
        client, "/operator/reports/032018/2026-10/plans/availability", {"reason": "別の理由", "plan": "別の計画"}
    )
    assert late.status_code == 400
    assert "すでに発行済み" in late.text

    # "Issue every report that is ready": 雫石町 is, 八幡平市 still waits for its plan.
    many = await _post(client, "/operator/reports/issue", {"month": "2026-10"})
    assert many.status_code == 200
    assert "1件の報告書を発行しました" in many.text
    assert "改善計画の記入待ち：八幡平市" in many.text
    # The request's session shares the test's transaction; its scope ended with the request.
    async with elevated(db_session):
        codes = {
            m.member_id
            for m in await db_session.scalars(select(MonthlyReport).where(MonthlyReport.month == dt.date(2026, 10, 1)))
        }
    assert codes == {october.members.a.id, october.c.id}


async def test_an_incident_is_recorded_and_only_the_affected_members_are_told(
    client: AsyncTestClient,
    db_session: AsyncSession,
    two_members: TwoMembers,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    await _as_operator(client, db_session)
    started = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    form: dict[str, str | list[str]] = {
        "title": "契約一覧が表示されない",
        "started_at": _local(started),
        "detected_at": _local(started - dt.timedelta(minutes=5)),
        "expected_recovery_at": _local(started + dt.timedelta(hours=2)),
        "symptom": "一覧画面でエラー",
        "scope": "some",
        "members": ["032018"],
        "notify": "1",
    }
    wrong = await _post(client, "/operator/incidents/", form)
    assert wrong.status_code == 400
    assert "検知日時が発生日時より前になっています" in wrong.text
    assert 'value="契約一覧が表示されない"' in wrong.text  # what was typed stays

    form["detected_at"] = _local(started + dt.timedelta(minutes=5))
    recorded = await _post(client, "/operator/incidents/", form)
    assert recorded.status_code == 303
    await system_access(db_session)
    incident = await db_session.scalar(select(Incident))
    assert incident is not None
    assert incident.all_members is False
    assert incident.first_notified_at is not None
    assert incident.expected_recovery_at == started + dt.timedelta(hours=2)

    assert await deliver_queued_mail(db_session, settings, port) == 1
    assert [m["To"] for m in box.messages] == ["morioka-admin@example.lg.jp"]  # not 八幡平市
    assert box.messages[0]["Subject"] == "【共同】障害発生のお知らせ：契約一覧が表示されない"
    assert "一覧画面でエラー" in box.messages[0].get_content()
    assert box.messages[0].get_content().startswith("対象：盛岡市\n")  # the scope, and only 盛岡市

    # The members' status pages: 盛岡市 sees it with the expected recovery, 八幡平市 does not.
    member_client = client
    await sign_in(member_client, "morioka-admin")
    status = await member_client.get("/status")
    assert "契約一覧が表示されない" in status.text
    assert "復旧見込み" in status.text
    await sign_in(member_client, "hachimantai-admin")
    assert "契約一覧が表示されない" not in (await member_client.get("/status")).text

    await sign_in(client, "kyodo-unyo")
    early = await _post(
        client,
        f"/operator/incidents/{incident.id}/recovery",
        {"recovered_at": _local(started - dt.timedelta(hours=1)), "cause": "索引の破損", "prevention": "監視の追加"},
    )
    assert early.status_code == 400
    assert "復旧日時が障害の発生日時より前" in early.text
    assert "索引の破損" in early.text
    recovered = await _post(
        client,
        f"/operator/incidents/{incident.id}/recovery",
        {
            "recovered_at": _local(started + dt.timedelta(minutes=20)),
            "cause": "索引の破損",
            "prevention": "監視の追加",
            "notify": "1",
        },
    )
    assert recovered.status_code == 303
    assert await deliver_queued_mail(db_session, settings, port) == 1
    assert box.messages[-1]["Subject"] == "【共同】障害復旧のお知らせ：契約一覧が表示されない"
    assert "監視の追加" in box.messages[-1].get_content()
    assert "対象：盛岡市" in box.messages[-1].get_content()
    detail = await client.get(f"/operator/incidents/{incident.id}")
    assert "索引の破損" in detail.text


async def test_maintenance_is_announced_with_the_notice_period_and_can_be_called_off(
    client: AsyncTestClient,
    db_session: AsyncSession,
    two_members: TwoMembers,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    await _as_operator(client, db_session)
    soon = (dt.datetime.now(JST) + dt.timedelta(days=3)).replace(hour=22, minute=0, second=0, microsecond=0)
    too_soon = await _post(
        client,
        "/operator/maintenance/",
        {"title": "OS更新", "starts_at": _local(soon), "ends_at": _local(soon + dt.timedelta(hours=2))},
    )
    assert too_soon.status_code == 400
    assert "15日前までに告知する必要があります" in too_soon.text
    assert 'value="OS更新"' in too_soon.text

    later = soon + dt.timedelta(days=20)
    announced = await _post(
        client,
        "/operator/maintenance/",
        {
            "title": "OS更新",
            "starts_at": _local(later),
            "ends_at": _local(later + dt.timedelta(hours=2)),
            "description": "夜間に実施します。",
        },
    )
    assert announced.status_code == 303
    await system_access(db_session)
    window = await db_session.scalar(select(MaintenanceWindow))
    assert window is not None
    assert window.starts_at == later
    assert [m.kwargs["window_id"] for m in await _queued(db_session, NOTIFY_MAINTENANCE_TASK)] == [str(window.id)]
    assert "OS更新" in (await client.get("/status/banner")).text

    # The outbox task runs: staff of both members are told.
    assert await notify_maintenance(db_session, settings, window.id) == 2
    assert await deliver_queued_mail(db_session, settings, port) == 2

    cancelled = await _post(client, f"/operator/maintenance/{window.id}/cancel", {})
    assert cancelled.status_code == 303
    await db_session.refresh(window)
    assert window.cancelled is True
    assert [m.kwargs["window_id"] for m in await _queued(db_session, NOTIFY_MAINTENANCE_CANCELLED_TASK)] == [
        str(window.id)
    ]
    assert await notify_maintenance_cancelled(db_session, settings, window) == 2
    assert await notify_maintenance_cancelled(db_session, settings, window) == 0  # safe to run twice
    assert await deliver_queued_mail(db_session, settings, port) == 2
    subjects = sorted({m["Subject"] for m in box.messages})
    assert subjects == ["【共同】保守作業のお知らせ：OS更新", "【共同】保守作業中止のお知らせ：OS更新"]
    again = await _post(client, f"/operator/maintenance/{window.id}/cancel", {})
    assert again.status_code == 400
    assert "すでに中止されています" in again.text
    assert "OS更新" not in (await client.get("/status/banner")).text


async def test_targets_change_from_a_month_without_issued_reports(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await _as_operator(client, db_session)
    page = await client.get("/operator/targets/")
    assert page.status_code == 200
    bad = await _post(
        client,
        "/operator/targets/",
        {"effective_from": "2027-01", "availability": "120", "recovery_minutes": "360", "response_ms": "3000"},
    )
    assert bad.status_code == 400
    assert "90〜100％" in bad.text
    saved = await _post(
        client,
        "/operator/targets/",
        {"effective_from": "2027-01", "availability": "99.9", "recovery_minutes": "240", "response_ms": "2000"},
    )
    assert saved.status_code == 303
    await system_access(db_session)
    row = await db_session.scalar(select(SlaTarget).where(SlaTarget.effective_from == dt.date(2027, 1, 1)))
    assert row is not None
    assert (str(row.availability_percent), row.recovery_minutes, row.response_ms) == ("99.900", 240, 2000)

    # Once October is issued, October's targets are history.
    await issue_report(db_session, october.c.id, dt.date(2026, 10, 1), issued_by="運用")
    late = await _post(
        client,
        "/operator/targets/",
        {"effective_from": "2026-10", "availability": "99.0", "recovery_minutes": "600", "response_ms": "3000"},
    )
    assert late.status_code == 400
    assert re.search(r"2026-10以降の報告書はすでに発行済み", late.text)


async def test_operator_screens_label_every_field_and_have_one_heading(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    from bs4 import BeautifulSoup

    await _as_operator(client, db_session)
    incident = await db_session.scalar(select(Incident))
    assert incident is not None
    paths = [
        "/operator/reports/?month=2026-10",
        "/operator/incidents/",
        f"/operator/incidents/{incident.id}",
        "/operator/maintenance/",
        "/operator/targets/",
    ]
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, path
        page = BeautifulSoup(response.text, "html.parser")
        assert page.html is not None
        assert page.html.get("lang") == "ja"
        assert len(page.find_all("h1")) == 1, path
        fields = [x for x in page.find_all(["input", "select", "textarea"]) if x.get("type") != "hidden"]
        assert fields, path
        for field in fields:
            assert field.get("id"), (path, field)
            assert page.find("label", attrs={"for": field["id"]}) is not None, (path, field)


async def test_office_hours_skip_public_holidays_and_the_new_year_and_past_work_mails_nobody(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _as_operator(client, db_session)
    # Emergency work recorded two days after it happened: on the list, but announced to nobody.
    gone = (dt.datetime.now(JST) - dt.timedelta(days=2)).replace(hour=3, minute=0, second=0, microsecond=0)
    recorded = await _post(
        client,
        "/operator/maintenance/",
        {
            "title": "緊急再起動",
            "starts_at": _local(gone),
            "ends_at": _local(gone + dt.timedelta(hours=1)),
            "emergency": "1",
        },
    )
    assert recorded.status_code == 303
    assert await _queued(db_session, NOTIFY_MAINTENANCE_TASK) == []
    # 10:00–11:00 on 成人の日 (14 Jan 2030), on 30 Dec 2030 (年末年始) and on an ordinary Tuesday.
    for title, day in (("祝日作業", 14), ("平日作業", 15)):
        start = dt.datetime(2030, 1, day, 10, tzinfo=JST)
        posted = await _post(
            client,
            "/operator/maintenance/",
            {"title": title, "starts_at": _local(start), "ends_at": _local(start + dt.timedelta(hours=1))},
        )
        assert posted.status_code == 303, posted.text
    year_end = dt.datetime(2030, 12, 30, 10, tzinfo=JST)
    posted = await _post(
        client,
        "/operator/maintenance/",
        {"title": "年末作業", "starts_at": _local(year_end), "ends_at": _local(year_end + dt.timedelta(hours=1))},
    )
    assert posted.status_code == 303
    page = (await client.get("/operator/maintenance/")).text
    rows = {title: page.split(title, 1)[1].split("</th>", 1)[0] for title in ("祝日作業", "平日作業", "年末作業")}
    assert "開庁時間内" in rows["平日作業"]
    assert "開庁時間内" not in rows["祝日作業"]
    assert "開庁時間内" not in rows["年末作業"]
    assert len(await _queued(db_session, NOTIFY_MAINTENANCE_TASK)) == 3  # the three to come are announced
