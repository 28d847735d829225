"""A contractor answers on a phone: mailed link, password gate, the pages, own text box, agreement (WF-6…WF-8).

Chromium emulates a Pixel 7 (412×839 CSS px, touch, mobile viewport). What is
checked is what a person on a phone notices: nothing scrolls sideways, every
control is big enough to hit with a thumb (44×44 CSS px), messages are in
Japanese and screen readers find a name for every control.
"""

from __future__ import annotations

import psycopg
from playwright.async_api import Browser, Page, async_playwright, expect

from tests import factories as f
from tests.conftest import WorkerProcess
from tests.e2e.conftest import (
    Live,
    accessibility_problems,
    horizontal_overflow,
    mailed_link,
    small_targets,
)

CONTRACTOR = "hanako@morioka-kensetsu.example.jp"
ACCESS_PASSWORD = "tel-7749-ok"
"""What staff told the contractor on the phone."""


async def _sent_contract(live: Live) -> tuple[str, str]:
    return await live.contract(
        {
            "subject": "学校給食調理業務委託契約",
            "amount": "12800000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        ("業務委託契約書.pdf", f.pdf(2)),
        {
            "kind": "contractor",
            "company": "盛岡建設株式会社",
            "name": "盛岡 花子",
            "email": CONTRACTOR,
            "password": ACCESS_PASSWORD,
        },
        {"page": 1, "x": 300, "y": 120, "width": 240, "height": 28, "label": "受託者 住所"},
    )


async def _fits_a_phone(page: Page) -> None:
    assert await horizontal_overflow(page) is None, await horizontal_overflow(page)
    assert await small_targets(page) == []
    assert await accessibility_problems(page) == []


async def test_a_contractor_answers_on_a_phone(live_worker: WorkerProcess, live: Live, browser: Browser) -> None:
    contract_id, party_id = await _sent_contract(live)
    link = await mailed_link(live, CONTRACTOR)

    async with async_playwright() as playwright:
        phone = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    context = await browser.new_context(**phone, locale="ja-JP")
    page = await context.new_page()
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("学校給食調理業務委託契約")
    assert page.viewport_size == {"width": 412, "height": 839}
    await _fits_a_phone(page)

    # A wrong password first: a plain Japanese message, read out as an alert.
    await page.get_by_label("アクセスパスワード").fill("tel-7794-ok")
    await page.get_by_role("button", name="契約書を開く").tap()
    await expect(page.get_by_role("alert")).to_contain_text("パスワードが正しくありません")
    await expect(page.get_by_label("アクセスパスワード")).to_have_attribute("aria-invalid", "true")
    await _fits_a_phone(page)

    await page.get_by_label("アクセスパスワード").fill(ACCESS_PASSWORD)
    await page.get_by_role("button", name="契約書を開く").tap()
    await expect(page.get_by_role("button", name="この契約に同意する")).to_be_visible()
    pages = page.locator("figure.page-preview img")
    await expect(pages).to_have_count(2)
    for index in range(2):
        picture = pages.nth(index)
        await picture.scroll_into_view_if_needed()
        await expect(picture).to_have_js_property("complete", True)
        assert await picture.evaluate("img => img.naturalWidth") > 0
    # The contractor's own box is shown on its page, and a swipe over a page scrolls (no drag-to-draw here).
    await expect(page.locator('figure[data-page="2"] .box-overlay')).to_have_text("受託者 住所")
    assert await pages.first.evaluate("img => getComputedStyle(img).touchAction") == "auto"
    await _fits_a_phone(page)

    await page.get_by_label("受託者 住所").fill("岩手県盛岡市内丸12番2号 盛岡建設株式会社")
    await page.get_by_role("button", name="この契約に同意する").tap()
    # Asked once more, with what was typed; going back keeps it.
    await expect(page.get_by_role("heading", level=1)).to_have_text("この契約に同意しますか")
    await expect(page.locator("#confirm-entries")).to_contain_text("岩手県盛岡市内丸12番2号 盛岡建設株式会社")
    await _fits_a_phone(page)
    await page.get_by_role("button", name="入力画面に戻る").tap()
    await expect(page.get_by_label("受託者 住所")).to_have_value("岩手県盛岡市内丸12番2号 盛岡建設株式会社")
    await page.get_by_role("button", name="この契約に同意する").tap()
    await page.get_by_role("button", name="同意する", exact=True).tap()
    await expect(page.get_by_role("status")).to_contain_text("同意を記録しました")
    await _fits_a_phone(page)
    await context.close()

    async with live.api() as api:
        status = (await api.get(f"/api/v1/contracts/{contract_id}/status")).json()
    # The only party agreed: the contract waits for its seal.
    assert status["status"] == "sealing"
    assert [(p["id"], p["status"]) for p in status["parties"]] == [(party_id, "agreed")]
    with psycopg.connect(live.settings.database.admin_url.replace("+psycopg", "")) as conn:
        filled = conn.execute("SELECT value FROM contract_text_box WHERE contract_id = %s", (contract_id,)).fetchall()
        kinds = [
            row[0]
            for row in conn.execute(
                "SELECT kind FROM contract_audit_event WHERE contract_id = %s ORDER BY id", (contract_id,)
            )
        ]
    assert filled == [("岩手県盛岡市内丸12番2号 盛岡建設株式会社",)]
    assert kinds.index("password_failed") < kinds.index("opened") < kinds.index("agreed")
