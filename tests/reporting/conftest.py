"""A month of known measurements (October 2026, Japan time) shared by the reporting tests.

Everything below is written as an operator would record it; every figure the
tests expect is worked out by hand next to the assertion that checks it.

* Members: 盛岡市 (A) and 八幡平市 (B), live all month; 雫石町 (C) went live on 16 October.
* Planned maintenance 10 Oct 01:00–03:00 (announced 1 Sept): 120 minutes, excluded.
* Incident 1, all members: 10 Oct 02:30–04:00 (30 minutes inside the maintenance).
* Incident 2, only A: 31 Oct 23:00 – 1 Nov 07:30 (crosses midnight at month end).
* Failed probes: 10 Oct 01:30 (inside maintenance), 20 Oct 12:00, 12:01, 12:02,
  31 Oct 23:10 (inside incident 2); a successful probe at 40 s past every
  minute from 1 Oct to 2 Nov besides (no minute unmeasured).
* Telemetry: A 100 requests on 5 Oct 10:00 (2 server errors), plus 1,000 slow
  requests at 1 Nov 00:00 (November, must not count); B 10 requests of ≤ 5 s.
* Security events of A: 3 wrong passwords, 1 lock-out, 2 refused networks in
  October, 1 wrong password on 1 Nov (not counted).
* Targets: 99.8 % / 6 h / 3 s from April 2026; 99.5 % from November (must not
  change October).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.models import MaintenanceWindow, ProbeResult, RequestMinute
from reporting.services import open_incident, record_recovery, set_targets
from reporting.telemetry import BIN_COUNT
from tenants.models import MemberStatus, SecurityEvent, SecurityEventKind
from tests import factories as f
from tests.conftest import TwoMembers
from tests.scope import system_access
from tests.signing.conftest import smtp_server  # noqa: F401 - a real SMTP server for the reporting mail tests

JST = ZoneInfo("Asia/Tokyo")
OCTOBER = dt.date(2026, 10, 1)


def jst(day: int, hour: int, minute: int = 0, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=JST)


def histogram(**bins: int) -> list[int]:
    """A histogram with counts at the given bin indexes: histogram(b5=50, b7=45)."""
    values = [0] * BIN_COUNT
    for name, count in bins.items():
        values[int(name[1:])] = count
    return values


@dataclasses.dataclass
class October:
    members: TwoMembers
    c: Any
    incident_all: Any
    incident_a: Any


@pytest.fixture
async def october(db_session: AsyncSession, two_members: TwoMembers) -> October:
    session = db_session
    await system_access(session)
    group = two_members.consortium
    c = await f.member(session, group, "033014", "雫石町", status=MemberStatus.LIVE)
    c.joined_on = dt.date(2026, 9, 1)
    c.go_live_on = dt.date(2026, 10, 16)
    await set_targets(
        session,
        group.id,
        effective_from=dt.date(2026, 4, 1),
        availability_percent=Decimal("99.8"),
        recovery_minutes=360,
        response_ms=3000,
    )
    await set_targets(
        session,
        group.id,
        effective_from=dt.date(2026, 11, 1),
        availability_percent=Decimal("99.5"),
        recovery_minutes=720,
        response_ms=3000,
    )
    session.add(
        MaintenanceWindow(
            consortium_id=group.id,
            title="データベース更新",
            starts_at=jst(10, 1),
            ends_at=jst(10, 3),
            announced_at=jst(1, 9, month=9),
        )
    )
    incident_all = await open_incident(
        session,
        title="全団体で画面が表示されない",
        started_at=jst(10, 2, 30),
        detected_at=jst(10, 2, 35),
        first_notified_at=jst(10, 2, 50),
        symptom="ログイン後の画面が表示されない",
    )
    await record_recovery(
        session, incident_all.id, recovered_at=jst(10, 4), cause="更新後の設定誤り", prevention="更新手順に確認を追加"
    )
    incident_a = await open_incident(
        session,
        title="盛岡市の契約一覧が開けない",
        started_at=jst(31, 23),
        detected_at=jst(31, 23, 5),
        first_notified_at=jst(31, 23, 20),
        symptom="契約一覧でエラー",
        members=[two_members.a.id],
    )
    await record_recovery(
        session, incident_a.id, recovered_at=jst(1, 7, 30, month=11), cause="索引の破損", prevention="索引の監視"
    )
    for at, ok in [
        (jst(10, 1, 30), False),
        (jst(20, 11, 59), True),
        (jst(20, 12, 0) + dt.timedelta(seconds=20), False),
        (jst(20, 12, 1) + dt.timedelta(seconds=20), False),
        (jst(20, 12, 2) + dt.timedelta(seconds=20), False),
        (jst(20, 12, 3) + dt.timedelta(seconds=20), True),
        (jst(31, 23, 10), False),
    ]:
        session.add(ProbeResult(checked_at=at, ok=ok, latency_ms=120.0, detail="ok" if ok else "/health/ready 503"))
    await fill_probes(session, jst(1, 0), jst(2, 0, month=11))
    session.add_all(
        [
            RequestMinute(
                member_id=two_members.a.id,
                minute=jst(5, 10),
                requests=100,
                server_errors=2,
                latency_ms_sum=30_000,
                histogram=histogram(b5=50, b7=45, b10=4, b12=1),
            ),
            RequestMinute(
                member_id=two_members.a.id,
                minute=jst(1, 0, month=11),
                requests=1000,
                server_errors=0,
                latency_ms_sum=20_000_000,
                histogram=histogram(b14=1000),
            ),
            RequestMinute(
                member_id=two_members.b.id,
                minute=jst(7, 14),
                requests=10,
                server_errors=0,
                latency_ms_sum=45_000,
                histogram=histogram(b12=10),
            ),
        ]
    )
    for kind, count, at in [
        (SecurityEventKind.LOGIN_FAILED, 3, jst(3, 9)),
        (SecurityEventKind.ACCOUNT_LOCKED, 1, jst(3, 9, 5)),
        (SecurityEventKind.IP_REFUSED, 2, jst(12, 15)),
        (SecurityEventKind.LOGIN_FAILED, 1, jst(1, 0, 0, month=11) + dt.timedelta(seconds=30)),
    ]:
        for _ in range(count):
            session.add(SecurityEvent(member_id=two_members.a.id, kind=kind, occurred_at=at, subject="morioka-admin"))
    await session.flush()
    return October(two_members, c, incident_all, incident_a)


async def fill_probes(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> None:
    """A successful probe at 40 s past every minute of ``[start, end)``, written as beat would (one statement)."""
    from sqlalchemy import text

    await session.execute(
        text(
            "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) "
            "SELECT at, true, 80.0, 'ok' FROM generate_series("
            "CAST(:start AS timestamptz), CAST(:end AS timestamptz) - interval '1 second', interval '1 minute') AS at"
        ),
        {"start": start + dt.timedelta(seconds=40), "end": end},
    )


async def deliver_queued_mail(session: AsyncSession, settings: Any, port: int) -> int:
    """Send every mail waiting in the outbox through the real SMTP server on ``port``, as the mail task does."""
    from sqlalchemy import select

    from core.outbox import OutboxMessage
    from core.settings import MailSettings
    from signing.mail import MAIL_TASK, deliver

    smtp = dataclasses.replace(settings, mail=MailSettings(smtp_host="127.0.0.1", smtp_port=port))
    rows = (
        await session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK, OutboxMessage.sent_at.is_(None))
        )
    ).all()
    for row in rows:
        deliver(smtp, **{k: v for k, v in row.kwargs.items() if k in ("to", "subject", "body", "sealed_link")})
        row.sent_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return len(rows)
