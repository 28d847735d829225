"""Staff screens of contracts in a real browser: basic accessibility checks on each (WCAG 2.1 AA basics)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests import factories as f
from tests.e2e.conftest import ADMIN, Live, accessibility_problems
from tests.e2e.test_staff_boxes import _draft


async def test_contract_screens_pass_basic_accessibility_checks(live: Live, browser: Browser) -> None:
    contract_id, _document_id, party_id = await _draft(live)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await page.goto(f"{live.url}/login")
    await page.get_by_label("ログインID").fill(ADMIN)
    await page.get_by_label("パスワード").fill(f.PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page.get_by_role("button", name="ログアウト")).to_be_visible()
    visited = {}
    for path in (
        "/contracts",
        "/contracts/new",
        f"/contracts/{contract_id}",
        f"/contracts/{contract_id}/parties/{party_id}/password",
        "/contracts/audit",
        f"/contracts/audit?contract={contract_id}",
    ):
        response = await page.goto(f"{live.url}{path}")
        assert response is not None
        assert response.status == 200, path
        visited[path] = await accessibility_problems(page)
    assert visited == {path: [] for path in visited}

    # The audit log reached from the contract page shows this contract's trail.
    await page.goto(f"{live.url}/contracts/{contract_id}")
    await page.get_by_role("link", name="この契約の監査ログ").click()
    await expect(page.locator("#chain-status")).to_contain_text("ハッシュチェーンを検証しました")
    await expect(page.locator("#audit-events tbody tr")).to_have_count(3)  # created, uploaded, party added
    await context.close()
