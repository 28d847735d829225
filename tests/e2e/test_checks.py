"""The page checks of the browser tests find what they look for (so a passing page means something)."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.e2e.conftest import accessibility_problems, horizontal_overflow, small_targets

FLAWED = """<!doctype html><html lang="en"><head><title> </title></head><body>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<input name="unnamed"><select name="choice"></select><button name="icon"></button>
<div style="width: 2000px">wide</div>
</body></html>"""

SOUND = """<!doctype html><html lang="ja"><head><title>確認</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>input, button { min-height: 44px; min-width: 44px; font-size: 16px; }</style></head><body>
<h1>確認</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<label for="a">氏名</label><input id="a" name="a">
<label><input type="checkbox" name="b" style="width: 44px; height: 44px"> 必須</label>
<input name="c" aria-label="検索語"><button type="submit">送信</button>
</body></html>"""


async def test_the_checks_report_flaws_and_pass_sound_pages(browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.set_content(FLAWED)
    problems = await accessibility_problems(page)
    assert '<html lang="en">' in problems
    assert "the page has no title" in problems
    assert "the page has no h1" in problems
    assert any(p.startswith("image without alt") for p in problems)
    for control in ("input name=unnamed", "select name=choice", "button name=icon"):
        assert f"{control} has no accessible name" in problems
    assert await horizontal_overflow(page) is not None
    assert len(await small_targets(page)) == 3

    await page.set_content(SOUND)
    assert await accessibility_problems(page) == []
    assert await horizontal_overflow(page) is None
    assert await small_targets(page) == []
    await context.close()
