"""The monthly run as beat starts it: a real worker issues last month's reports and tells operators what waits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
import uuid
from pathlib import Path

import psycopg
import redis
from celery import Celery
from celery.schedules import crontab

from core.settings import RedisSettings, Settings
from kyodo.celery_config import beat_schedule
from reporting.figures import JST
from reporting.tasks import previous_month
from signing.mail import MAIL_TASK
from tests.conftest import start_worker


def _seed(admin_url: str, month: dt.date) -> None:
    """盛岡市 and 八幡平市 live since April; 盛岡市 had a 7-hour incident in ``month``; one operator."""
    start = dt.datetime.combine(month + dt.timedelta(days=9), dt.time(1), JST)
    first = dt.datetime.combine(month, dt.time(), JST)
    last = dt.datetime.now(dt.UTC)
    with psycopg.connect(admin_url) as conn:
        consortium = uuid.uuid4()
        conn.execute(
            "INSERT INTO consortium (id, name, slug, maintenance_notice_days, created_at, updated_at) "
            "VALUES (%s, '盛岡広域連携', 'morioka', 15, now(), now())",
            (consortium,),
        )
        morioka = uuid.uuid4()
        for member_id, code, name in ((morioka, "032018", "盛岡市"), (uuid.uuid4(), "032140", "八幡平市")):
            conn.execute(
                "INSERT INTO member (id, consortium_id, lg_code, name, kind, status, joined_on, created_at, "
                "updated_at) VALUES (%s, %s, %s, %s, 'municipality', 'live', '2026-04-01', now(), now())",
                (member_id, consortium, code, name),
            )
        incident = uuid.uuid4()
        conn.execute(
            "INSERT INTO incident (id, title, started_at, detected_at, recovered_at, all_members, symptom, cause, "
            "prevention, created_at, updated_at) VALUES (%s, 'DB停止', %s, %s, %s, false, '', '', '', now(), now())",
            (incident, start, start, start + dt.timedelta(hours=7)),
        )
        conn.execute("INSERT INTO incident_member (incident_id, member_id) VALUES (%s, %s)", (incident, morioka))
        conn.execute(
            "INSERT INTO operator_account (id, login_id, name, email, password_hash, active, failed_logins, "
            "created_at, updated_at) VALUES (%s, 'unyo', '運用 太郎', 'unyo@kyodo.example.jp', 'x', true, 0, "
            "now(), now())",
            (uuid.uuid4(),),
        )
        # A successful probe every minute of the month up to now: nothing unmeasured.
        conn.execute(
            "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) SELECT at, true, 80.0, 'ok' "
            "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') AS at",
            (first + dt.timedelta(seconds=30), last),
        )
        conn.commit()


def test_the_scheduled_monthly_run_issues_what_it_can_in_a_worker(fresh_database: Settings, tmp_path: Path) -> None:
    entry = next(e for e in beat_schedule.values() if e["task"] == "reporting.monthly_reports")
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert "<crontab: 0 6 1 * *" in repr(schedule)  # the 1st at 06:00, Japan time

    # A Redis database of its own: workers of other tests must not take this task.
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = fresh_database.redis.url.rpartition("/")[0]
    own = dataclasses.replace(fresh_database, redis=RedisSettings(url=f"{base}/{30 + index}"))
    redis.Redis.from_url(own.redis.url).flushdb()
    month = previous_month(dt.datetime.now(JST).date())
    _seed(own.database.admin_url, month)

    worker = start_worker(own, tmp_path, name="monthly")
    try:
        sender = Celery("monthly-test", broker=own.redis.url, backend=own.redis.url)
        sender.send_task("reporting.monthly_reports")
        deadline = time.monotonic() + 120
        issued: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            with psycopg.connect(own.database.admin_url) as conn:
                issued = conn.execute(
                    "SELECT m.lg_code, r.issued_by FROM monthly_report r JOIN member m ON m.id = r.member_id "
                    "WHERE r.month = %s",
                    (month,),
                ).fetchall()
                mail = conn.execute("SELECT kwargs FROM outbox_message WHERE task_name = %s", (MAIL_TASK,)).fetchall()
            if issued and mail:
                break
            time.sleep(0.5)
    finally:
        worker.stop()
    # 八幡平市 met every target and is issued; 盛岡市 (7 hours down) waits for the operator's plan.
    assert issued == [("032140", "kyodo (monthly run)")]
    assert [m[0]["to"] for m in mail] == ["unyo@kyodo.example.jp"]
    body = mail[0][0]["body"]
    assert "032018 盛岡市: 稼働率、障害発生から復旧までの時間" in body
    assert f"/operator/reports?month={month:%Y-%m}" in body
