"""Planned maintenance: notice period, announcement mail to members and contractors, banner (SLA-5)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings
from reporting.notify import notify_maintenance
from reporting.services import NOTIFY_MAINTENANCE_TASK, MaintenanceNoticeError, schedule_maintenance
from tenants.models import ContractorCompany, ContractorContact
from tests.conftest import TwoMembers
from tests.reporting.conftest import JST, deliver_queued_mail
from tests.signing.conftest import Mailbox

NOW = dt.datetime(2026, 11, 1, 9, tzinfo=JST)


async def test_planned_maintenance_needs_the_consortium_notice(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    group = two_members.consortium  # 15 days' notice
    starts = NOW + dt.timedelta(days=14, hours=12)
    with pytest.raises(MaintenanceNoticeError, match="15日前"):
        await schedule_maintenance(
            db_session, group.id, title="OS更新", starts_at=starts, ends_at=starts + dt.timedelta(hours=2), now=NOW
        )
    urgent = await schedule_maintenance(
        db_session,
        group.id,
        title="緊急パッチ",
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=1),
        emergency=True,
        now=NOW,
    )
    planned = await schedule_maintenance(
        db_session,
        group.id,
        title="OS更新",
        starts_at=NOW + dt.timedelta(days=15),
        ends_at=NOW + dt.timedelta(days=15, hours=2),
        now=NOW,
    )
    assert (urgent.emergency, planned.emergency) == (True, False)
    queued = (
        await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == NOTIFY_MAINTENANCE_TASK))
    ).all()
    assert sorted(m.kwargs["window_id"] for m in queued) == sorted([str(urgent.id), str(planned.id)])


async def test_announcement_mail_reaches_staff_and_contractors_once(
    db_session: AsyncSession, two_members: TwoMembers, settings: Settings, smtp_server: tuple[Mailbox, int]
) -> None:
    box, port = smtp_server
    company = ContractorCompany(consortium_id=two_members.consortium.id, name="岩手建設株式会社")
    db_session.add(company)
    await db_session.flush()
    db_session.add(ContractorContact(company_id=company.id, name="岩手 太郎", email="taro@iwate-kensetsu.example.jp"))
    window = await schedule_maintenance(
        db_session,
        two_members.consortium.id,
        title="データベース更新",
        starts_at=NOW + dt.timedelta(days=20),
        ends_at=NOW + dt.timedelta(days=20, hours=3),
        description="閉庁日の夜間に実施します。",
        now=NOW,
    )
    # The announcement is queued in the outbox like every other mail of the platform.
    assert await notify_maintenance(db_session, settings, window.id) == 3
    assert await notify_maintenance(db_session, settings, window.id) == 0  # safe to run twice
    assert await deliver_queued_mail(db_session, settings, port) == 3
    assert sorted(m["To"] for m in box.messages) == [
        "hachimantai-admin@example.lg.jp",
        "morioka-admin@example.lg.jp",
        "taro@iwate-kensetsu.example.jp",
    ]
    message = box.messages[0]
    assert message["Subject"] == "【共同】保守作業のお知らせ：データベース更新"
    body = message.get_content()
    assert "令和8年11月21日 09:00" in body
    assert "閉庁日の夜間に実施します。" in body


async def test_banner_shows_announced_maintenance(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    assert "maintenance-banner" in (await client.get("/login")).text  # every page loads the banner
    empty = await client.get("/status/banner")
    assert empty.status_code == 200
    assert "<p>" not in empty.text
    # Truly empty, so the strip's style (.maintenance-banner:not(:empty)) does not draw an empty yellow bar.
    assert re.search(r'<div id="maintenance-banner" class="maintenance-banner"></div>', empty.text), empty.text
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=16)
    await schedule_maintenance(
        db_session,
        two_members.consortium.id,
        title="ネットワーク機器更新",
        starts_at=soon,
        ends_at=soon + dt.timedelta(hours=2),
    )
    banner = await client.get("/status/banner")
    assert "計画保守" in banner.text
    assert "ネットワーク機器更新" in banner.text
    status = await client.get("/status")
    assert "ネットワーク機器更新" in status.text


def test_office_days_follow_the_japanese_calendar() -> None:
    from reporting.services import is_office_day

    assert is_office_day(dt.date(2026, 11, 4))  # an ordinary Wednesday
    assert not is_office_day(dt.date(2026, 11, 3))  # 文化の日
    assert not is_office_day(dt.date(2026, 5, 6))  # 振替休日 for 憲法記念日 on a Sunday
    assert not is_office_day(dt.date(2026, 11, 7))  # Saturday
    assert [is_office_day(dt.date(2026, 12, d)) for d in (28, 29, 30, 31)] == [True, False, False, False]
    assert [is_office_day(dt.date(2027, 1, d)) for d in (1, 2, 3, 4)] == [False, False, False, True]
