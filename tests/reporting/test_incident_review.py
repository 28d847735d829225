"""Incident severity, progress entries (経緯) and the weekly review, through the real commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg

from core.settings import Settings
from tests.reporting.test_cli import _kyodo, _seed
from tests.reporting.test_issue import pdf_text


def test_an_incident_with_severity_and_progress_appears_in_the_weekly_review(
    fresh_database: Settings, tmp_path: Path
) -> None:
    _seed(fresh_database.database.admin_url)
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=9)))
    stamp = f"{started:%Y-%m-%dT%H:%M}"
    opened = _kyodo(
        "incident", "open", "--title", "封緘が止まった", "--started", stamp, "--detected", stamp,
        "--symptom", "封緘待ちが増える", "--member", "032018", "--severity", "critical",
        settings=fresh_database,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident_id = opened.stdout.split()[1]
    later = f"{started + dt.timedelta(minutes=20):%Y-%m-%dT%H:%M}"
    progress = _kyodo(
        "incident", "progress", incident_id, "--note", "TSA の応答なしを確認、切替を開始", "--at", later,
        "--by", "運用 太郎",
        settings=fresh_database,
    )  # fmt: skip
    assert progress.returncode == 0, progress.stderr
    with psycopg.connect(fresh_database.database.admin_url) as conn:
        row = conn.execute("SELECT severity FROM incident WHERE id = %s", (incident_id,)).fetchone()
        assert row == ("critical",)
        entries = conn.execute("SELECT note, written_by FROM incident_progress").fetchall()
    assert entries == [("TSA の応答なしを確認、切替を開始", "運用 太郎")]

    reviewed = _kyodo("incident", "review", settings=fresh_database)
    assert reviewed.returncode == 0, reviewed.stderr
    lines = reviewed.stdout.splitlines()
    assert lines[0] == "incidents of the last 7 days: 1"
    assert lines[1].startswith("[重大] ")
    assert "封緘が止まった — OPEN — 対象：盛岡市" in lines[1]
    assert any("TSA の応答なしを確認、切替を開始 (運用 太郎)" in line for line in lines)

    # The serious-incident report (重大障害報告書) as a PDF, with the progress.
    out = tmp_path / "report.pdf"
    written = _kyodo("incident", "report", incident_id, "--out", str(out), settings=fresh_database)
    assert written.returncode == 0, written.stderr
    text = pdf_text(out.read_bytes())
    for expected in (
        "重大障害報告書",
        "封緘が止まった",
        "重要度",
        "重大",
        "影響範囲",
        "盛岡市",
        "3. 経緯",
        "TSA の応答なしを確認",
    ):
        assert expected in text, expected
