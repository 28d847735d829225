"""Staff place a text box by dragging on the page preview of a draft, in a real browser (WF-3)."""

from __future__ import annotations

from typing import Any

import psycopg
from playwright.async_api import Browser, Locator, Page, expect

from tests import factories as f
from tests.e2e.conftest import DRAFTER, Live, accessibility_problems

A4 = (595.28, 841.89)
TOLERANCE_PT = 2.0
"""Rounding of the preview's pixel size and of the drag to whole pixels; a box 2 pt off is invisible on paper."""


async def _draft(live: Live) -> tuple[str, str, str]:
    """A draft with a two-page PDF and a contractor, made by another system through the API."""
    async with live.api() as api:
        created = await api.post(
            "/api/v1/contracts/",
            data={"subject": "市道3号線舗装補修工事", "title_id": live.title_id, "contract_number": "R8-道-017"},
            files=[("files", ("工事請負契約書.pdf", f.pdf(2), "application/pdf"))],
        )
        assert created.status_code == 201, created.text
        contract = created.json()
        party = await api.post(
            f"/api/v1/contracts/{contract['id']}/parties",
            json={
                "order_no": 1,
                "kind": "contractor",
                "company": "岩手舗装株式会社",
                "name": "岩手 一郎",
                "email": "ichiro@iwate-hoso.example.jp",
                "password": "tel-2026-ok",
            },
        )
        assert party.status_code == 201, party.text
    return contract["id"], contract["documents"][0]["id"], party.json()["id"]


async def _sign_in(page: Page, live: Live) -> None:
    await page.goto(f"{live.url}/login")
    assert await accessibility_problems(page) == []
    await page.get_by_label("ログインID").fill(DRAFTER)
    await page.get_by_label("パスワード").fill(f.PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page.get_by_role("button", name="ログアウト")).to_be_visible()


def _boxes(live: Live, contract_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(live.settings.database.admin_url.replace("+psycopg", "")) as conn:
        return list(
            conn.execute(
                "SELECT document_id::text, party_id::text, page, x, y, width, height, label, required "
                "FROM contract_text_box WHERE contract_id = %s",
                (contract_id,),
            ).fetchall()
        )


async def test_staff_place_a_text_box_by_dragging_on_the_preview(live: Live, browser: Browser) -> None:
    contract_id, document_id, party_id = await _draft(live)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await _sign_in(page, live)
    await page.goto(f"{live.url}/contracts/{contract_id}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("市道3号線舗装補修工事")
    assert await accessibility_problems(page) == []

    # Page 2 of the PDF: press at 20 % / 70 % of the picture and let go past its right
    # edge at 75 % height; the box stops at the edge of the page.
    picture = page.locator('figure.page-preview[data-page="2"] img')
    await picture.evaluate("img => img.scrollIntoView({block: 'center'})")
    await expect(picture).to_have_js_property("complete", True)
    assert await picture.evaluate("img => img.naturalWidth") > 0
    shown = await picture.bounding_box()
    assert shown is not None
    start = (shown["x"] + 0.2 * shown["width"], shown["y"] + 0.7 * shown["height"])
    end = (shown["x"] + 1.1 * shown["width"], shown["y"] + 0.75 * shown["height"])
    # All inside the window, as a person drags.
    assert 0 < start[1] < end[1] < 900, shown
    assert end[0] < 1280, shown
    await page.mouse.move(*start)
    await page.mouse.down()
    await page.mouse.move(start[0] + 100, start[1] - 60, steps=4)  # wandering on the way
    await page.mouse.move(*end, steps=6)
    await page.mouse.up()

    # The drag filled the position; the person fills what only they know.
    form = page.locator("#box-form")
    await expect(form.get_by_label("ページ", exact=True)).to_have_value("2")
    await expect(form.get_by_label("ラベル")).to_be_focused()
    await form.get_by_label("ラベル").fill("請負者 住所・氏名")
    await form.get_by_label("入力する当事者").select_option(party_id)
    await form.get_by_label("必須").check()
    await form.get_by_role("button", name="追加").click()
    await page.wait_for_url(f"**/contracts/{contract_id}#boxes")

    [box] = _boxes(live, contract_id)
    doc, party, page_index, x, y, width, height, label, required = box
    assert (doc, party, page_index, label, required) == (document_id, party_id, 1, "請負者 住所・氏名", True)
    points_per_px = A4[0] / shown["width"]
    expected = {
        "x": 0.2 * shown["width"] * points_per_px,
        "y": A4[1] - 0.75 * shown["height"] * points_per_px,
        "width": 0.8 * shown["width"] * points_per_px,
        "height": 0.05 * shown["height"] * points_per_px,
    }
    saved = {"x": x, "y": y, "width": width, "height": height}
    for key, value in expected.items():
        assert abs(saved[key] - value) <= TOLERANCE_PT, (key, saved, expected)

    # After a reload the box is listed and drawn where it was dragged.
    await page.reload()
    await _drawn_where_dragged(page, picture, relative_to_picture=(0.2, 0.7, 0.8, 0.05))
    assert await accessibility_problems(page) == []

    # A click without a drag places nothing and leaves the fields as they were.
    await page.locator("#b-x").fill("")
    first = page.locator('figure.page-preview[data-page="1"] img')
    await first.scroll_into_view_if_needed()
    await first.click()
    await expect(page.locator("#b-x")).to_have_value("")
    await context.close()


async def _drawn_where_dragged(page: Page, picture: Locator, relative_to_picture: tuple[float, ...]) -> None:
    await expect(page.locator("#boxes + ul")).to_contain_text("請負者 住所・氏名")
    overlay = page.locator('figure.page-preview[data-page="2"] .box-overlay')
    await expect(overlay).to_have_text("請負者 住所・氏名")
    await overlay.scroll_into_view_if_needed()
    drawn, shown = await overlay.bounding_box(), await picture.bounding_box()
    assert drawn is not None
    assert shown is not None
    relative = (
        (drawn["x"] - shown["x"]) / shown["width"],
        (drawn["y"] - shown["y"]) / shown["height"],
        drawn["width"] / shown["width"],
        drawn["height"] / shown["height"],
    )
    for got, want in zip(relative, relative_to_picture, strict=True):
        assert abs(got - want) < 0.01, relative
