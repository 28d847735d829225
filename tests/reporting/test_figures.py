"""Every figure of October's reports, against values worked out by hand (see conftest.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from reporting.figures import compute_month
from reporting.telemetry import percentile
from reporting.usage import concluded_contracts
from signing.models import AuditEvent, AuditKind, Contract, ContractStatus
from tests import factories as f
from tests.reporting.conftest import JST, OCTOBER, October, histogram, jst

NOW = dt.datetime(2026, 11, 1, 6, tzinfo=JST)


async def _figures(session: AsyncSession, october: October, month: dt.date = OCTOBER):
    found = await compute_month(session, october.members.consortium.id, month, now=NOW)
    return {fig.lg_code: fig for fig in found}


async def test_availability_of_a_member_live_all_month(db_session: AsyncSession, october: October) -> None:
    a = (await _figures(db_session, october))["032018"]
    # October has 31 days: 31 × 1440 = 44,640 minutes.
    assert a.window_minutes == 44_640
    # Maintenance 01:00–03:00 = 120 minutes excluded.
    assert a.maintenance_minutes == 120
    # Incident 1: 02:30–04:00 minus the 30 minutes inside maintenance = 60.
    # Incident 2: 31 Oct 23:00–24:00 = 60 (the rest is November).
    # Failed probes: 20 Oct 12:00, 12:01, 12:02 = 3 (01:30 is maintenance, 23:10 is inside incident 2).
    assert a.downtime_minutes == 60 + 60 + 3
    assert a.probe_failed_minutes == 4  # 12:00, 12:01, 12:02 and 23:10 (counted once in the downtime)
    # (44,640 − 120 − 123) / (44,640 − 120) = 44,397 / 44,520 = 99.7237…% → 99.723 %
    assert a.availability_percent == Decimal("99.723")
    assert a.targets.availability_percent == Decimal("99.8")  # November's 99.5 % does not reach back
    assert not a.availability_met
    assert [i.title for i in a.incidents] == ["全団体で画面が表示されない", "盛岡市の契約一覧が開けない"]
    first, second = a.incidents
    assert (first.recovery_minutes, first.downtime_minutes, first.met) == (90, 60, True)
    # 31 Oct 23:00 → 1 Nov 07:30 = 8 h 30 min = 510 minutes > 6 h.
    assert (second.recovery_minutes, second.downtime_minutes, second.met) == (510, 60, False)
    assert not a.recovery_met
    assert [(m.title, m.minutes, m.emergency) for m in a.maintenance] == [("データベース更新", 120, False)]
    assert a.missed == ["availability", "recovery"]


async def test_daily_availability_and_latency(db_session: AsyncSession, october: October) -> None:
    a = (await _figures(db_session, october))["032018"]
    days = {d.day: d for d in a.days}
    assert len(days) == 31
    # 10 Oct: (1,440 − 120 − 60) / (1,440 − 120) = 1,260 / 1,320 = 95.4545…% → 95.454
    assert days[dt.date(2026, 10, 10)].availability_percent == 95.454
    # 20 Oct: (1,440 − 3) / 1,440 = 99.7916…% → 99.791
    assert days[dt.date(2026, 10, 20)].availability_percent == 99.791
    # 31 Oct: (1,440 − 60) / 1,440 = 95.8333…% → 95.833
    assert days[dt.date(2026, 10, 31)].availability_percent == 95.833
    assert days[dt.date(2026, 10, 1)].availability_percent == 100.0
    assert days[dt.date(2026, 10, 5)].p95_ms == 300.0
    assert days[dt.date(2026, 10, 5)].requests == 100
    assert days[dt.date(2026, 10, 6)].p95_ms is None


async def test_response_time_from_summed_histograms(db_session: AsyncSession, october: October) -> None:
    figures = await _figures(db_session, october)
    a, b = figures["032018"], figures["032140"]
    # 1 Nov 00:00 JST belongs to November: only the 100 requests of 5 Oct count.
    assert (a.requests, a.server_errors) == (100, 2)
    # Bins: 50 at ≤100 ms, 45 at ≤300 ms, 4 at ≤2 s, 1 at ≤5 s.
    # p50 = 50th request → ≤100 ms; p95 = 95th → ≤300 ms; p99 = 99th → ≤2 s.
    assert (a.p50_ms, a.p95_ms, a.p99_ms) == (100.0, 300.0, 2000.0)
    assert a.response_met is True
    # B: 10 requests all ≤ 5 s: p95 = 5 s > 3 s.
    assert (b.requests, b.p95_ms, b.response_met) == (10, 5000.0, False)
    assert b.missed == ["response"]


async def test_an_incident_of_another_member_is_not_counted(db_session: AsyncSession, october: October) -> None:
    b = (await _figures(db_session, october))["032140"]
    # B: incident 1 (60) + failed probes 20 Oct (3) + 31 Oct 23:10 (1, not an incident of B) = 64.
    assert b.downtime_minutes == 64
    # (44,520 − 64) / 44,520 = 99.8562…% → 99.856
    assert b.availability_percent == Decimal("99.856")
    assert b.availability_met
    assert [i.title for i in b.incidents] == ["全団体で画面が表示されない"]
    assert b.recovery_met


async def test_member_that_went_live_mid_month(db_session: AsyncSession, october: October) -> None:
    c = (await _figures(db_session, october))["033014"]
    # Live from 16 Oct 00:00: 16 days × 1,440 = 23,040 minutes.
    assert c.window_start == jst(16, 0)
    assert c.window_minutes == 23_040
    # Maintenance and incident 1 happened before go-live; incident 2 was only A's.
    assert c.maintenance_minutes == 0
    assert c.maintenance == []
    assert c.incidents == []
    # Failed probes 20 Oct (3) + 31 Oct 23:10 (1) = 4: (23,040 − 4) / 23,040 = 99.9826…% → 99.982
    assert c.downtime_minutes == 4
    assert c.availability_percent == Decimal("99.982")
    assert len(c.days) == 16
    assert c.days[0].day == dt.date(2026, 10, 16)
    assert c.response_met is None  # no requests measured: not judged
    assert c.missed == []


async def test_security_events_of_the_month(db_session: AsyncSession, october: October) -> None:
    a = (await _figures(db_session, october))["032018"]
    assert a.security["login_failed"] == 3  # the one on 1 Nov is November's
    assert a.security["account_locked"] == 1
    assert a.security["ip_refused"] == 2
    assert a.security["api_key_refused"] == 0


async def test_targets_change_with_an_effective_date(db_session: AsyncSession, october: October) -> None:
    november = (await _figures(db_session, october, dt.date(2026, 11, 1)))["032018"]
    assert november.targets.availability_percent == Decimal("99.5")
    assert november.targets.recovery_minutes == 720
    # Incident 2 lasted into November: 00:00–07:30 = 450 minutes of November downtime.
    assert november.incidents[0].downtime_minutes == 450
    assert november.requests == 1000


async def test_contracts_and_downloads_of_the_month_are_counted(db_session: AsyncSession, october: October) -> None:
    session = db_session
    a, b = october.members.a, october.members.b
    keiyaku = await f.department(session, a, "KEIYAKU", "契約課")
    mayor = await f.title(session, a, "MAYOR", "市長", "盛岡市長 内舘 茂")
    kyoiku = await f.title(session, a, "EDU", "教育長", "盛岡市教育委員会教育長")
    b_mayor = await f.title(session, b, "MAYOR", "市長", "八幡平市長")

    def contract(member: object, title: object, status: ContractStatus, concluded: dt.datetime | None, **kw: object):
        row = Contract(
            member_id=member.id,  # type: ignore[attr-defined]
            title_id=title.id,  # type: ignore[attr-defined]
            subject="工事請負契約",
            status=status,
            concluded_at=concluded,
            **kw,
        )
        session.add(row)
        return row

    # 盛岡市 in October: 2 by 契約課 under 市長, 1 without department under 教育長.
    contract(a, mayor, ContractStatus.CONCLUDED, jst(1, 0), department_id=keiyaku.id)
    contract(a, mayor, ContractStatus.CONCLUDED, jst(31, 23, 59), department_id=keiyaku.id)
    contract(a, kyoiku, ContractStatus.CONCLUDED, jst(15, 10))
    # Not counted: concluded at midnight 1 November, still circulating, and 八幡平市's.
    contract(a, mayor, ContractStatus.CONCLUDED, jst(1, 0, month=11), department_id=keiyaku.id)
    contract(a, mayor, ContractStatus.CIRCULATING, None, department_id=keiyaku.id)
    contract(b, b_mayor, ContractStatus.CONCLUDED, jst(10, 9))
    await session.flush()

    def event(member: object, kind: AuditKind, actor: str, at: dt.datetime) -> None:
        session.add(
            AuditEvent(
                member_id=member.id,  # type: ignore[attr-defined]
                kind=kind.value,
                occurred_at=at,
                actor=actor,
                prev_hash="0" * 64,
                hash="0" * 64,
            )
        )

    # Downloads of 盛岡市 in October: staff 2, contractors 3, API 1.
    for at in (jst(2, 9), jst(3, 9)):
        event(a, AuditKind.DOWNLOADED, "staff:1 契約 花子", at)
    for at in (jst(4, 9), jst(5, 9), jst(31, 23, 59)):
        event(a, AuditKind.DOWNLOADED, "party:2 盛岡建設株式会社", at)
    event(a, AuditKind.DOWNLOADED, "apikey:3 文書管理システム", jst(6, 9))
    # Not counted: November, another kind of event, and 八幡平市's download.
    event(a, AuditKind.DOWNLOADED, "staff:1 契約 花子", jst(1, 0, month=11))
    event(a, AuditKind.OPENED, "party:2 盛岡建設株式会社", jst(7, 9))
    event(b, AuditKind.DOWNLOADED, "staff:4 八幡平 次郎", jst(8, 9))
    await session.flush()

    counts = await concluded_contracts(session, a.id, (jst(1, 0), jst(1, 0, month=11)))
    assert counts.by_department == [("契約課", 2), ("", 1)]
    assert counts.by_title == [("市長", 2), ("教育長", 1)]
    assert counts.total == 3
    figures = await _figures(session, october)
    assert figures["032018"].contracts_total == 3
    assert figures["032018"].downloads == {"staff": 2, "contractor": 3, "api": 1}
    assert figures["032140"].contracts_total == 1
    assert figures["032140"].downloads == {"staff": 1, "contractor": 0, "api": 0}
    # 雫石町 went live on 16 October: nothing of its own, and nothing of the others.
    assert figures["033014"].downloads == {"staff": 0, "contractor": 0, "api": 0}


def test_percentiles_from_a_histogram() -> None:
    assert percentile(histogram(), 0.5) is None
    assert percentile(histogram(b0=1), 0.99) == 5.0
    # 3 requests beyond 60 s: the top bin has no upper bound.
    assert percentile(histogram(b17=3), 0.5) == float("inf")


async def test_minutes_without_any_probe_result_are_down(db_session: AsyncSession, october: October) -> None:
    """Beat or the database down records nothing: those minutes are unmeasured and never available."""
    from sqlalchemy import delete

    from reporting.models import ProbeResult

    for start, end in [
        (jst(15, 9), jst(15, 9, 30)),  # half an hour with no probe at all
        (jst(10, 1, 10), jst(10, 1, 20)),  # inside the announced maintenance: excluded
        (jst(31, 23, 30), jst(1, 2, month=11)),  # the month ends without a probe (A's incident 2 is open)
    ]:
        await db_session.execute(
            delete(ProbeResult).where(ProbeResult.checked_at >= start, ProbeResult.checked_at < end)
        )
    figures = await _figures(db_session, october)
    a, b = figures["032018"], figures["032140"]
    # 15 Oct: last result 08:59:40, next 09:30:40: 09:00 … 09:29 unmeasured = 30 minutes.
    # 31 Oct: last result 23:29:40, none until the month ends: 23:30 … 23:59 = 30 minutes.
    assert (a.unmeasured_minutes, b.unmeasured_minutes) == (60, 60)
    # A: 123 as before + 30 (15 Oct); 31 Oct 23:30–24:00 already lies in incident 2.
    assert a.downtime_minutes == 153
    # (44,520 − 153) / 44,520 = 99.6563…% → 99.656
    assert a.availability_percent == Decimal("99.656")
    # B: 64 as before + 30 + 30.  (44,520 − 124) / 44,520 = 99.7214…% → 99.721
    assert b.downtime_minutes == 124
    assert b.availability_percent == Decimal("99.721")
    assert not b.availability_met
    assert {d.day: d.availability_percent for d in b.days}[dt.date(2026, 10, 15)] == 97.916  # (1,440 − 30) / 1,440


async def test_a_month_without_any_probe_is_not_available(db_session: AsyncSession, october: October) -> None:
    from sqlalchemy import delete

    from reporting.models import ProbeResult

    await db_session.execute(delete(ProbeResult))
    c = (await _figures(db_session, october))["033014"]
    # Nothing measured from 16 Oct on: every minute of C's window is down.
    assert c.unmeasured_minutes == c.window_minutes == 23_040
    assert c.availability_percent == Decimal("0.000")
