"""Releases and changes (NII-9(3)) and security measures (SAP-10(1)) of monthly reports, through the screens."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.models import ReportRelease
from tests import factories as f
from tests.conftest import sign_in
from tests.reporting.conftest import October
from tests.reporting.test_issue import pdf_text
from tests.reporting.test_operator_screens import _post
from tests.scope import system_access

BASE = "/operator/reports/032018/2026-10"


def _flat(text: str) -> str:
    """PDF text without the spaces and line breaks the layout puts inside table cells."""
    return re.sub(r"\s+", "", text)


async def test_operators_write_releases_and_security_measures_that_the_report_prints_and_then_keeps(
    client: AsyncTestClient, db_session: AsyncSession, october: October
) -> None:
    await f.operator(db_session)
    await sign_in(client, "kyodo-unyo")

    # Nothing written: both sections are printed and say so.
    empty = _flat(pdf_text((await client.get("/operator/reports/032140/2026-10/draft.pdf")).content))
    assert "9.リリース・変更該当なし" in empty
    assert "10.セキュリティ対策該当なし" in empty

    outside = await _post(
        client,
        f"{BASE}/releases",
        {"released_on": "2026-11-02", "change": "検証画面の改善", "impact": "操作の変更なし"},
    )
    assert outside.status_code == 400
    assert "報告対象の月（2026-10）" in outside.text
    assert "検証画面の改善" in outside.text  # what was typed stays
    assert 'value="2026-11-02"' in outside.text
    for day, change, impact in (
        ("2026-10-15", "署名検証画面の表示を改善", "操作方法の変更なし"),
        ("2026-10-03", "誤って登録した変更", ""),
    ):
        added = await _post(client, f"{BASE}/releases", {"released_on": day, "change": change, "impact": impact})
        assert added.status_code == 303
    await system_access(db_session)
    mistake = await db_session.scalar(select(ReportRelease).where(ReportRelease.change == "誤って登録した変更"))
    assert mistake is not None
    assert (await _post(client, f"{BASE}/releases/{mistake.id}/delete", {})).status_code == 303
    saved = await _post(
        client,
        f"{BASE}/security",
        {"detected": "海外からのログイン試行の増加", "done": "接続元制限を強化", "planned": "多要素認証の導入"},
    )
    assert saved.status_code == 303
    page = await client.get("/operator/reports/?month=2026-10")
    assert "署名検証画面の表示を改善" in page.text
    assert "多要素認証の導入" in page.text

    draft = _flat(pdf_text((await client.get(f"{BASE}/draft.pdf")).content))
    assert "令和8年10月15日" in draft
    for text in ("署名検証画面の表示を改善", "操作方法の変更なし", "海外からのログイン試行の増加", "接続元制限を強化"):
        assert text in draft, text
    assert "誤って登録した変更" not in draft

    for item in ("availability", "recovery"):
        assert (await _post(client, f"{BASE}/plans/{item}", {"reason": "理由", "plan": "計画"})).status_code == 303
    assert (await _post(client, f"{BASE}/issue", {})).status_code == 303
    issued = _flat(pdf_text((await client.get(f"{BASE}/report.pdf")).content))
    assert "署名検証画面の表示を改善" in issued
    assert "多要素認証の導入" in issued

    # Issued means final: neither section can change any more.
    late = await _post(client, f"{BASE}/releases", {"released_on": "2026-10-20", "change": "後から追加"})
    assert late.status_code == 400
    assert "すでに発行済み" in late.text
    assert (await _post(client, f"{BASE}/security", {"detected": "別の内容"})).status_code == 400
    await system_access(db_session)
    kept = await db_session.scalar(select(ReportRelease).where(ReportRelease.change == "署名検証画面の表示を改善"))
    assert kept is not None
    assert (await _post(client, f"{BASE}/releases/{kept.id}/delete", {})).status_code == 400
    page = await client.get("/operator/reports/?month=2026-10")
    section = page.text[page.text.index('id="m-032018"') : page.text.index('id="m-032140"')]
    assert 'action="/operator/reports/032018/2026-10/security"' not in section
    assert "多要素認証の導入" in section
