"""Issuing October's reports: plans required for missed targets, Japanese PDF, CSV, immutability."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.figures import compute_month
from reporting.models import MonthlyReport
from reporting.services import IssueRefusedError, issue_report, render, write_plan
from tests.reporting.conftest import JST, OCTOBER, October

NOW = dt.datetime(2026, 11, 1, 6, tzinfo=JST)


def pdf_text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


async def test_a_missed_target_needs_a_plan_before_issuing(db_session: AsyncSession, october: October) -> None:
    a = october.members.a
    with pytest.raises(IssueRefusedError, match="稼働率、障害発生から復旧までの時間"):
        await issue_report(db_session, a.id, OCTOBER, issued_by="運用担当", now=NOW)
    await write_plan(
        db_session, a.id, OCTOBER, item="availability", reason="設定誤りによる停止", plan="手順の二重確認", by="運用"
    )
    with pytest.raises(IssueRefusedError, match="障害発生から復旧までの時間"):
        await issue_report(db_session, a.id, OCTOBER, issued_by="運用担当", now=NOW)
    await write_plan(
        db_session, a.id, OCTOBER, item="recovery", reason="夜間の検知遅れ", plan="夜間の自動切替を導入", by="運用担当"
    )
    report = await issue_report(db_session, a.id, OCTOBER, issued_by="運用担当", now=NOW)
    assert report.pdf_sha256 == hashlib.sha256(report.pdf).hexdigest()
    assert report.csv_sha256 == hashlib.sha256(report.csv).hexdigest()
    assert report.figures["availability_percent"] == "99.723"
    assert report.figures["missed"] == ["availability", "recovery"]
    # Issuing again returns the same report; plans can no longer change.
    again = await issue_report(db_session, a.id, OCTOBER, issued_by="someone else", now=NOW)
    assert again.id == report.id
    with pytest.raises(IssueRefusedError):
        await write_plan(db_session, a.id, OCTOBER, item="recovery", reason="x", plan="y", by="z")

    text_of_pdf = pdf_text(report.pdf)
    for expected in (
        "盛岡市 月次サービス報告書",
        "令和8年10月",  # Japanese era by default
        "稼働率",
        "99.723 %",
        "99.8%以上",
        "未達成",
        "44640",  # minutes in the window
        "123",  # downtime minutes
        "データベース更新",
        "盛岡市の契約一覧が開けない",
        "8時間30分",  # time to recover incident 2
        "索引の破損",
        "0.3秒以下",  # p95
        "ログイン時のパスワード誤り",
        "設定誤りによる停止",
        "夜間の自動切替を導入",
        "日別稼働率",
    ):
        assert expected in text_of_pdf, expected


async def test_the_app_role_cannot_change_or_delete_an_issued_report(
    db_session: AsyncSession, october: October
) -> None:
    b = october.members.b
    await write_plan(db_session, b.id, OCTOBER, item="response", reason="帳票出力が遅い", plan="非同期化", by="運用")
    report = await issue_report(db_session, b.id, OCTOBER, issued_by="運用担当", now=NOW)
    for statement in (
        "UPDATE monthly_report SET issued_by = 'x' WHERE id = :id",
        "DELETE FROM monthly_report WHERE id = :id",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with db_session.begin_nested():
                await db_session.execute(text(statement), {"id": report.id})
    stored = await db_session.scalar(select(MonthlyReport.issued_by).where(MonthlyReport.id == report.id))
    assert stored == "運用担当"


async def test_csv_rows(db_session: AsyncSession, october: October) -> None:
    group = october.members.consortium.id
    (a,) = await compute_month(db_session, group, OCTOBER, member_ids=[october.members.a.id], now=NOW)
    rendered = render(a, era=False)
    assert rendered.csv.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(rendered.csv.decode("utf-8-sig"))))
    assert rows[0] == ["区分", "品質保証項目", "値", "保証値", "結果"]
    by_item = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_item[("サービス品質", "対象月")][0] == "2026年10月"
    assert by_item[("サービス品質", "稼働率")] == ["99.723 %", "99.8%以上", "未達成"]
    assert by_item[("サービス品質", "障害発生から復旧までの時間")] == ["8時間30分", "6時間0分以内", "未達成"]
    assert by_item[("サービス品質", "レスポンス時間（画面、95パーセンタイル）")] == ["0.3秒以下", "3秒以内", "達成"]
    assert by_item[("稼働率", "対象期間の分数")][0] == "44640"
    assert by_item[("稼働率", "除外：事前周知した保守作業")][0] == "120"
    assert by_item[("稼働率", "停止時間")][0] == "123"
    assert by_item[("保守作業", "データベース更新")] == ["120", "2026年10月10日 01:00 – 2026年10月10日 03:00", "除外"]
    assert by_item[("障害", "盛岡市の契約一覧が開けない")][0] == "8時間30分"
    assert by_item[("レスポンス時間", "リクエスト数")][0] == "100"
    assert by_item[("レスポンス時間", "サーバエラー数")][0] == "2"
    assert by_item[("レスポンス時間", "p99")][0] == "2秒以下"
    assert by_item[("セキュリティ", "アカウントのロック")][0] == "1"
    assert by_item[("日別", "2026-10-10")][0] == "95.454"
    assert by_item[("日別", "2026-10-31")][0] == "95.833"
    # Missed items without plans yet: the rows say so, with empty reason and plan.
    assert by_item[("改善策", "稼働率")] == ["", "", ""]


async def test_report_in_english(db_session: AsyncSession, october: October) -> None:
    (c,) = await compute_month(db_session, october.members.consortium.id, OCTOBER, member_ids=[october.c.id], now=NOW)
    rendered = render(c, locale="en", era=False)
    content = pdf_text(rendered.pdf)
    assert "雫石町 Monthly service report" in content
    assert "October 2026" in content
    assert "99.982 %" in content
    assert "Every target was met this month." in content


async def test_the_monthly_run_issues_what_it_can_and_waits_for_plans(
    db_session: AsyncSession, october: October
) -> None:
    from reporting.services import issue_month

    issued, waiting = await issue_month(db_session, october.members.consortium.id, OCTOBER, issued_by="月次処理")
    # 雫石町 met every target; 盛岡市 (availability, recovery) and 八幡平市 (response) wait for a plan.
    assert [r.member_id for r in issued] == [october.c.id]
    assert sorted((f.lg_code, tuple(f.missing_plans)) for f in waiting) == [
        ("032018", ("availability", "recovery")),
        ("032140", ("response",)),
    ]
    assert "雫石町 月次サービス報告書" in pdf_text(issued[0].pdf)
