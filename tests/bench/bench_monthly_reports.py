"""Benchmark: monthly reports of 100 members from a month of telemetry for 10 million requests.

The per-minute buckets are generated directly (office hours 08:30–17:30 on the 22
weekdays of October 2026: 11,880 minutes × 100 members = 1,188,000 rows, 10,000,000
requests) and loaded with COPY. The measured part is what the 1st of the month
does: compute every member's figures, render PDF and CSV, store the issued
reports. Target on a 2-core machine: under 30 s. Run with ``make bench``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import func, select

from core.db import create_engine
from core.settings import Settings
from reporting.models import MonthlyReport
from reporting.services import issue_month
from reporting.telemetry import BIN_COUNT
from tests.scope import system_access

JST = ZoneInfo("Asia/Tokyo")
MEMBERS = 100
REQUESTS = 10_000_000
MONTH = dt.date(2026, 10, 1)


def _office_minutes() -> list[dt.datetime]:
    minutes = []
    day = MONTH
    while day.month == MONTH.month:
        if day.weekday() < 5:
            start = dt.datetime(day.year, day.month, day.day, 8, 30, tzinfo=JST)
            minutes += [start + dt.timedelta(minutes=m) for m in range(540)]
        day += dt.timedelta(days=1)
    return minutes


def _load(admin_url: str) -> tuple[uuid.UUID, int]:
    """Consortium, members, probes, incidents and the telemetry buckets, committed."""
    consortium_id = uuid.uuid4()
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    minutes = [m.isoformat() for m in _office_minutes()]
    rows = len(minutes) * MEMBERS
    base, extra = divmod(REQUESTS, rows)
    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "INSERT INTO consortium (id, name, slug, maintenance_notice_days, created_at, updated_at) "
            "VALUES (%s, 'ベンチ広域連携', 'bench', 15, now(), now())",
            (consortium_id,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO member (id, consortium_id, lg_code, name, kind, status, joined_on, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, 'municipality', 'live', '2026-04-01', now(), now())",
                [(m, consortium_id, f"{900000 + i:06d}", f"ベンチ町{i:03d}") for i, m in enumerate(members)],
            )
        conn.execute(
            "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) "
            "SELECT t, NOT (t >= '2026-10-20 12:00+09' AND t < '2026-10-20 12:03+09'), 80, 'ok' "
            "FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', interval '1 minute') t",
            (dt.datetime(2026, 10, 1, tzinfo=JST), dt.datetime(2026, 11, 1, tzinfo=JST)),
        )
        conn.execute(
            "INSERT INTO incident (id, title, started_at, detected_at, recovered_at, all_members, symptom, cause, "
            "prevention, created_at, updated_at) "
            "VALUES (%s, '遅延', %s, %s, %s, true, '画面が遅い', '負荷', '増強', now(), now())",
            (
                uuid.uuid4(),
                dt.datetime(2026, 10, 14, 10, tzinfo=JST),
                dt.datetime(2026, 10, 14, 10, 5, tzinfo=JST),
                dt.datetime(2026, 10, 14, 10, 40, tzinfo=JST),
            ),
        )
        index = 0
        with conn.cursor().copy(
            "COPY request_minute (member_id, minute, requests, server_errors, latency_ms_sum, histogram) FROM STDIN"
        ) as copy:
            for member in members:
                buffer = io.StringIO()
                for minute in minutes:
                    count = base + (1 if index < extra else 0)
                    index += 1
                    fast, medium = count * 6 // 10, count * 3 // 10
                    bins = [0] * BIN_COUNT
                    bins[5], bins[7], bins[10] = fast, medium, count - fast - medium
                    errors = 1 if index % 1000 == 0 else 0
                    histogram = "{" + ",".join(map(str, bins)) + "}"
                    buffer.write(f"{member}\t{minute}\t{count}\t{errors}\t{count * 250}\t{histogram}\n")
                copy.write(buffer.getvalue())
        conn.execute("ANALYZE request_minute")
        conn.commit()
    return consortium_id, rows


@pytest.mark.bench
def test_monthly_reports_for_100_members(fresh_database: Settings) -> None:
    started = time.perf_counter()
    consortium_id, rows = _load(fresh_database.database.admin_url)
    print(f"\nloaded {rows:,} per-minute buckets ({REQUESTS:,} requests) in {time.perf_counter() - started:.1f} s")

    async def run() -> tuple[int, int, float]:
        engine = create_engine(fresh_database, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                from sqlalchemy.ext.asyncio import AsyncSession

                session = AsyncSession(bind=conn, expire_on_commit=False)
                await system_access(session)
                began = time.perf_counter()
                issued, waiting = await issue_month(session, consortium_id, MONTH, issued_by="bench")
                await session.commit()
                elapsed = time.perf_counter() - began
                await system_access(session)
                total = await session.scalar(select(func.count()).select_from(MonthlyReport))
                assert total == len(issued)
                return len(issued), len(waiting), elapsed
        finally:
            await engine.dispose()

    issued, waiting, elapsed = asyncio.run(run())
    print(f"monthly reports: {issued} issued, {waiting} waiting for a plan, in {elapsed:.1f} s (target < 30 s)")
    assert issued + waiting == MEMBERS
    assert elapsed < 30
