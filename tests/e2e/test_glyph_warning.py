"""The browser warns while a contractor types a character the seal cannot print (API-2, MOR-21(2)).

A phone-sized Chromium: typing 𠮷 shows, beside the field, the same Japanese
message the server gives on agreeing; correcting it to 吉 clears it; 髙 and 﨑
raise no warning and the agreement is recorded with them.
"""

from __future__ import annotations

from playwright.async_api import Browser, async_playwright, expect

from tests import factories as f
from tests.conftest import WorkerProcess
from tests.e2e.conftest import Live, mailed_link

CONTRACTOR = "yoshida@takasaki-sokuryo.example.jp"
ACCESS_PASSWORD = "tel-3381-ok"


async def _sent(live: Live) -> None:
    await live.contract(
        {
            "subject": "測量業務委託契約",
            "amount": "3300000",
            "transaction_date": "2026-04-01",
            "counterparty": "髙﨑測量株式会社",
        },
        ("測量業務委託契約書.pdf", f.pdf()),
        {
            "kind": "contractor",
            "company": "髙﨑測量株式会社",
            "name": "𠮷田 一郎",
            "email": CONTRACTOR,
            "password": ACCESS_PASSWORD,
        },
        {"page": 0, "x": 72, "y": 120, "width": 240, "height": 24, "label": "受注者 氏名"},
    )


async def test_the_form_warns_while_typing_a_character_the_seal_cannot_print(
    live_worker: WorkerProcess, live: Live, browser: Browser
) -> None:
    await _sent(live)
    link = await mailed_link(live, CONTRACTOR)
    async with async_playwright() as playwright:
        phone = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    context = await browser.new_context(**phone, locale="ja-JP")
    page = await context.new_page()
    await page.goto(link)
    await page.get_by_label("アクセスパスワード").fill(ACCESS_PASSWORD)
    await page.get_by_role("button", name="契約書を開く").tap()
    field = page.get_by_label("受注者 氏名")
    await expect(field).to_be_visible()

    await field.fill("𠮷田 一郎")
    warning = page.locator("p.field-error")
    await expect(warning).to_contain_text("「𠮷」(U+20BB7)は封緘に使うフォントにないため使えません")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await field.fill("吉田 一郎")
    await expect(warning).to_have_text("")
    await expect(field).not_to_have_attribute("aria-invalid", "true")

    async with page.expect_response(lambda r: r.url.endswith("/check")) as answer:
        await field.fill("髙﨑 一郎")
    assert await (await answer.value).json() == {"problems": {}}
    await expect(warning).to_have_text("")
    await page.get_by_role("button", name="この契約に同意する").tap()
    await page.get_by_role("button", name="同意する", exact=True).tap()
    await expect(page.get_by_role("status")).to_contain_text("同意を記録しました")
    await context.close()
