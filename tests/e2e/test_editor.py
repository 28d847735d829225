"""The contract editor in steps in a real browser: a clerk creates and sends a contract with the keyboard only,
moves a text field with the arrow keys and with the mouse, deletes one, and must confirm the review (WF-14, WF-15)."""

from __future__ import annotations

from typing import Any

import psycopg
from playwright.async_api import Browser, FilePayload, Page, expect

from tests import factories as f
from tests.e2e.conftest import DRAFTER, Live, accessibility_problems

PT_PER_MM = 72 / 25.4


def _rows(live: Live, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(live.settings.database.admin_url.replace("+psycopg", "")) as conn:
        return list(conn.execute(sql, args).fetchall())


async def _type_into(page: Page, selector: str, text: str) -> None:
    """Focus a field as Tab would and type, replacing what is there (Ctrl+A, then the keys)."""
    await page.locator(selector).focus()
    await page.keyboard.press("Control+A")
    await page.keyboard.type(text)


async def _enter(page: Page) -> None:
    """Press Enter where it submits a form or follows a link, and wait for the next page."""
    async with page.expect_navigation(timeout=60_000):
        await page.keyboard.press("Enter")


async def _checked(page: Page) -> None:
    assert await accessibility_problems(page) == [], page.url


async def _details(page: Page, live: Live) -> None:
    # 1 基本情報: a wrong amount comes back beside its field with the subject kept.
    await page.goto(f"{live.url}/contracts/drafts/new")
    await expect(page.locator(".editor-steps [aria-current=step]")).to_have_text("1. 基本情報")
    await _type_into(page, "#subject", "市道3号線舗装補修工事")
    await _type_into(page, "#amount", "約200万")
    save = page.get_by_role("button", name="保存してファイルへ進む")
    await save.focus()
    await _enter(page)
    await expect(page.locator("#err-details-amount")).to_contain_text("金額")
    await expect(page.locator("#subject")).to_have_value("市道3号線舗装補修工事")
    await _type_into(page, "#amount", "1,980,000")
    await _type_into(page, "#cp", "岩手舗装株式会社")
    # The date picker's own keys differ by locale; its value is set as the picker would set it.
    await page.locator("#tdate").fill("2026-12-10")
    await save.focus()
    await _enter(page)


async def _files(page: Page) -> None:
    # 2 ファイル (the file itself comes from the system's file dialog).
    await expect(page.locator(".editor-steps [aria-current=step]")).to_have_text("2. ファイル")
    await _checked(page)
    await page.locator("#files").set_input_files(
        files=[FilePayload(name="工事請負契約書.pdf", mimeType="application/pdf", buffer=f.pdf(2))]
    )
    await page.get_by_role("button", name="アップロード").focus()
    await _enter(page)
    await expect(page.locator(".editor-file")).to_contain_text("工事請負契約書.pdf")
    await page.get_by_role("link", name="当事者へ進む").focus()
    await _enter(page)


async def _parties(page: Page) -> None:
    # 3 当事者と順番: a contractor (the suggested password kept).
    await expect(page.locator(".editor-steps [aria-current=step]")).to_have_text("3. 当事者と順番")
    await _type_into(page, "#p-company", "岩手舗装株式会社")
    await _type_into(page, "#p-name", "岩手 一郎")
    await _type_into(page, "#p-email", "ichiro@iwate-hoso.example.jp")
    await _enter(page)
    await expect(page.locator(".order-step")).to_have_count(1)
    await _checked(page)
    await page.get_by_role("link", name="入力欄へ進む").focus()
    await _enter(page)


async def _place_and_move(page: Page, live: Live) -> None:
    # 4 入力欄: a field typed in millimetres, then moved with the arrow keys and saved with Enter.
    await expect(page.locator(".editor-steps [aria-current=step]")).to_have_text("4. 入力欄")
    await _type_into(page, "#n-left", "20")
    await _type_into(page, "#n-top", "30")
    await _type_into(page, "#n-label", "請負者 住所")
    await _enter(page)
    selected = page.locator("#selected-box")
    await expect(selected).to_be_focused()
    await _checked(page)
    for key in ("ArrowRight",) * 5 + ("ArrowDown",) * 3 + ("Shift+ArrowRight",) * 2:
        await page.keyboard.press(key)
    await expect(page.locator("#e-left")).to_have_value("25.0")
    await _enter(page)
    await page.reload()
    await expect(page.locator("#e-left")).to_have_value("25.0")
    await expect(page.locator("#e-top")).to_have_value("33.0")
    await expect(page.locator("#e-width")).to_have_value("62.0")
    [(x, width)] = _rows(live, "SELECT x, width FROM contract_text_box WHERE label = %s", "請負者 住所")
    assert abs(x - 25 * PT_PER_MM) < 0.1
    assert abs(width - 62 * PT_PER_MM) < 0.1


async def _delete_one(page: Page, live: Live) -> None:
    # A second field, deleted with its button.
    await page.get_by_role("link", name="選択をやめて、別の入力欄を追加する").focus()
    await _enter(page)
    await _type_into(page, "#n-top", "60")
    await _type_into(page, "#n-label", "削除する欄")
    await _enter(page)
    await expect(page.locator("#selected-box")).to_contain_text("削除する欄")
    await page.get_by_role("button", name="入力欄を削除する").focus()
    await _enter(page)
    await expect(page.locator(".box-list")).not_to_contain_text("削除する欄")
    assert _rows(live, "SELECT count(*) FROM contract_text_box WHERE label = %s", "削除する欄") == [(0,)]
    await page.get_by_role("link", name="確認へ進む").focus()
    await _enter(page)


async def _review(page: Page) -> None:
    # 5 確認して送信: who is asked is listed; sending unconfirmed is refused beside the checkbox.
    await expect(page.locator(".review-order")).to_contain_text("岩手舗装株式会社 岩手 一郎")
    await expect(page.locator(".review-order")).to_contain_text("請負者 住所")
    await _checked(page)
    send = page.locator("#send-form").get_by_role("button", name="送信する")
    await send.focus()
    await _enter(page)
    await expect(page.locator("#err-send-confirm")).to_contain_text("確認")
    await page.locator("#confirm-send").focus()
    await page.keyboard.press("Space")
    await send.focus()
    await _enter(page)
    await expect(page.locator("#contract-status")).to_have_text("回覧中")


async def test_a_clerk_creates_and_sends_a_contract_with_the_keyboard(live: Live, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await page.goto(f"{live.url}/login")
    await _type_into(page, "#login-id", DRAFTER)
    await _type_into(page, "#login-password", f.PASSWORD)
    await _enter(page)
    await expect(page.get_by_role("button", name="ログアウト")).to_be_visible()

    await _details(page, live)
    await _files(page)
    await _parties(page)
    await _place_and_move(page, live)
    await _delete_one(page, live)
    await _review(page)
    await context.close()


async def test_a_field_is_moved_with_the_mouse(live: Live, browser: Browser) -> None:
    async with live.api() as api:
        created = await api.post(
            "/api/v1/contracts/",
            data={"subject": "街路灯保守点検業務委託", "title_id": live.title_id, "amount": "880000"},
            files=[("files", ("委託契約書.pdf", f.pdf(1), "application/pdf"))],
        )
        contract = created.json()
        party = await api.post(
            f"/api/v1/contracts/{contract['id']}/parties",
            json={
                "order_no": 1,
                "kind": "contractor",
                "name": "岩手 一郎",
                "email": "i@iwate.example.jp",
                "password": "tel-2026-ok",
            },
        )
        box = await api.post(
            f"/api/v1/contracts/{contract['id']}/text-boxes",
            json={
                "document_id": contract["documents"][0]["id"],
                "party_id": party.json()["id"],
                "page": 0,
                "x": 100,
                "y": 500,
                "width": 150,
                "height": 24,
                "label": "受託者名",
            },
        )
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await page.goto(f"{live.url}/login")
    await page.locator("#login-id").fill(DRAFTER)
    await page.locator("#login-password").fill(f.PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="ログイン").click()
    await page.goto(f"{live.url}/contracts/{contract['id']}/edit/boxes?box={box.json()['id']}")
    selected = page.locator("#selected-box")
    before = await page.locator("#e-left").input_value()
    frame = await page.locator(".ed-frame").bounding_box()
    shown = await selected.bounding_box()
    assert frame is not None
    assert shown is not None
    mm_per_px = 210.0 / frame["width"]  # f.pdf() pages are A4
    start = (shown["x"] + shown["width"] / 2, shown["y"] + shown["height"] / 2)
    await page.mouse.move(*start)
    await page.mouse.down()
    await page.mouse.move(start[0] + 100, start[1] + 50, steps=5)
    async with page.expect_navigation():  # letting go saves the field
        await page.mouse.up()
    await page.reload()
    moved = float(await page.locator("#e-left").input_value())
    assert abs(moved - (float(before) + 100 * mm_per_px)) < 1.0, (before, moved)
    await context.close()
