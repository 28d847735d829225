"""Operator commands: maintenance refused inside the notice period, drafts, plans and issuing from the CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from core.dates import JST, today_jst
from core.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _kyodo(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _seed(admin_url: str) -> None:
    """A consortium with one member live all October, and one incident of 7 hours."""
    with psycopg.connect(admin_url) as conn:
        consortium = uuid.uuid4()
        conn.execute(
            "INSERT INTO consortium (id, name, slug, maintenance_notice_days, created_at, updated_at) "
            "VALUES (%s, '盛岡広域連携', 'morioka', 15, now(), now())",
            (consortium,),
        )
        conn.execute(
            "INSERT INTO member (id, consortium_id, lg_code, name, kind, status, joined_on, created_at, updated_at) "
            "VALUES (%s, %s, '032018', '盛岡市', 'municipality', 'live', '2026-04-01', now(), now())",
            (uuid.uuid4(), consortium),
        )
        # A successful probe every minute of the month: nothing unmeasured.
        conn.execute(
            "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) SELECT at, true, 80.0, 'ok' "
            "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') AS at",
            ("2026-10-01T00:00:30+09:00", "2026-10-31T23:59:30+09:00"),
        )
        conn.commit()


def test_operator_issues_a_report_after_writing_the_plan(fresh_database: Settings, tmp_path: Path) -> None:
    _seed(fresh_database.database.admin_url)
    refused = _kyodo(
        "maintenance", "schedule", "--consortium", "morioka", "--title", "OS更新",
        "--start", "2020-01-01T22:00", "--end", "2020-01-01T23:00",
        settings=fresh_database,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "15日前までに告知" in refused.stderr
    opened = _kyodo(
        "incident", "open", "--title", "全面停止", "--started", "2026-10-05T10:00",
        "--detected", "2026-10-05T10:10", "--notified", "2026-10-05T10:30", "--symptom", "つながらない",
        settings=fresh_database,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident_id = opened.stdout.split()[1]
    recovered = _kyodo(
        "incident", "recover", incident_id, "--at", "2026-10-05T17:00", "--cause", "電源", "--prevention", "冗長化",
        settings=fresh_database,
    )  # fmt: skip
    assert recovered.returncode == 0, recovered.stderr

    drafts = _kyodo("report", "generate", "--month", "2026-10", "--draft", str(tmp_path), settings=fresh_database)
    assert drafts.returncode == 0, drafts.stderr
    assert (tmp_path / "032018-2026-10.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "032018-2026-10.csv").read_bytes().startswith("\ufeff".encode())

    # 7 hours down: (44,640 − 420) / 44,640 = 99.059 %, and recovery took longer than 6 hours.
    first = _kyodo("report", "generate", "--month", "2026-10", settings=fresh_database)
    assert first.returncode == 1, "a report that was due and not issued is an exit code, not only a line"
    assert "032018 盛岡市: NOT issued" in first.stdout
    assert "稼働率、障害発生から復旧までの時間" in first.stdout
    for item in ("availability", "recovery"):
        plan = _kyodo(
            "report", "plan", "--month", "2026-10", "--member", "032018", "--item", item,
            "--reason", "電源装置の故障", "--plan", "電源の冗長化",
            settings=fresh_database,
        )  # fmt: skip
        assert plan.returncode == 0, plan.stderr
    issued = _kyodo("report", "generate", "--month", "2026-10", "--member", "032018", settings=fresh_database)
    assert "032018 盛岡市: issued, PDF sha256" in issued.stdout, issued.stdout + issued.stderr
    assert issued.returncode == 0
    late = _kyodo(
        "report", "plan", "--month", "2026-10", "--member", "032018", "--item", "availability",
        "--reason", "後から", "--plan", "後から",
        settings=fresh_database,
    )  # fmt: skip
    assert late.returncode == 1
    assert "Traceback" not in late.stderr
    assert "発行済み" in late.stderr, late.stderr
    # A month that has not ended gets no report, only the reason.
    current = today_jst().replace(day=1)
    early = _kyodo("report", "generate", "--month", f"{current:%Y-%m}", settings=fresh_database)
    assert early.returncode == 1
    assert "その月が終わってから" in early.stdout
    assert "issued, PDF" not in early.stdout
    with psycopg.connect(fresh_database.database.admin_url) as conn:
        row = conn.execute(
            "SELECT figures->>'availability_percent', figures->>'downtime_minutes' FROM monthly_report"
        ).fetchone()
    assert row == ("99.059", "420")


def test_an_operator_account_is_created_with_a_password_shown_once(fresh_database: Settings) -> None:
    created = _kyodo(
        "operator",
        "create",
        "--login-id",
        "unyo-sato",
        "--name",
        "佐藤 運用",
        "--email",
        "sato@kyodo.example.jp",
        settings=fresh_database,
    )
    assert created.returncode == 0, created.stderr
    password = created.stdout.strip()
    assert len(password) >= 12
    assert "shown only now" in created.stderr
    with psycopg.connect(fresh_database.database.admin_url) as conn:
        row = conn.execute(
            "SELECT name, email, password_hash FROM operator_account WHERE login_id = 'unyo-sato'"
        ).fetchone()
    assert row is not None
    assert row[:2] == ("佐藤 運用", "sato@kyodo.example.jp")
    assert password not in row[2]  # only the hash is kept
    again = _kyodo(
        "operator",
        "create",
        "--login-id",
        "unyo-sato",
        "--name",
        "別人",
        "--email",
        "x@kyodo.example.jp",
        settings=fresh_database,
    )
    assert again.returncode != 0
    assert "unyo-sato" in again.stderr


def test_the_notice_period_of_a_consortium_is_set_from_the_command_line(fresh_database: Settings) -> None:
    _seed(fresh_database.database.admin_url)
    too_short = _kyodo("maintenance", "notice-days", "--consortium", "morioka", "--days", "3", settings=fresh_database)
    assert too_short.returncode == 1
    assert "7" in too_short.stderr
    changed = _kyodo("maintenance", "notice-days", "--consortium", "morioka", "--days", "20", settings=fresh_database)
    assert changed.returncode == 0, changed.stderr
    soon = (dt.datetime.now(JST) + dt.timedelta(days=18)).replace(hour=22, minute=0, second=0, microsecond=0)
    refused = _kyodo(
        "maintenance", "schedule", "--consortium", "morioka", "--title", "OS更新",
        "--start", soon.strftime("%Y-%m-%dT%H:%M"), "--end", (soon + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        settings=fresh_database,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "20日前までに告知" in refused.stderr
