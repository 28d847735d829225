"""Japanese-first text, an English switch and dates in the Japanese era."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient

from core.i18n import LOCALE_DIR, current_calendar, current_locale, format_date, japanese_era
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.helpers import tag_at, text_at


def test_every_message_has_a_japanese_translation() -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as fh:
        template_ids = {m.id for m in read_po(fh) if m.id}
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="ja")
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(i for i in template_ids if not translated.get(i))
    assert not missing, f"untranslated into Japanese: {missing}"
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy (unchecked) Japanese translations: {fuzzy}"


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}")


def _texts(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value or "")]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_translations_keep_every_placeholder(language: str) -> None:
    """A translation names exactly the ``{fields}`` of its message, or ``.format()`` breaks on the screen."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = _texts(message.id)
        fields = {field for text in ids for field in _FIELD.findall(text)}
        wrong += [(ids[0], text) for text in _texts(message.string) if text and set(_FIELD.findall(text)) - fields]
        singular = _texts(message.string)[0]
        if singular and set(_FIELD.findall(singular)) != set(_FIELD.findall(ids[0])):
            wrong.append((ids[0], singular))
    assert not wrong, wrong


def test_english_is_the_message_itself() -> None:
    """Messages are written in English, so an English "translation" other than the message is a wrong guess."""
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="en")
    guessed = [
        (_texts(m.id)[0], _texts(m.string)[0])
        for m in catalog
        if m.id and any(_texts(m.string)) and _texts(m.string) != _texts(m.id)
    ]
    assert not guessed, guessed


async def test_pages_are_japanese_by_default(client: AsyncTestClient) -> None:
    page = BeautifulSoup((await client.get("/")).text, "html.parser")
    assert page.html is not None
    assert page.html["lang"] == "ja"
    assert page.h1 is not None
    assert page.h1.get_text(strip=True) == "共同 電子契約サービス"


async def test_english_switch_is_remembered(client: AsyncTestClient) -> None:
    switched = await client.post(
        "/language",
        data={"lang": "en", "next": "/login", "_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login"
    page = BeautifulSoup((await client.get("/login")).text, "html.parser")
    assert page.html is not None
    assert page.html["lang"] == "en"
    assert page.h1 is not None
    assert page.h1.get_text(strip=True) == "Staff sign-in"
    await client.post("/language", data={"lang": "ja", "next": "/", "_csrf_token": await csrf_token(client)})
    page = BeautifulSoup((await client.get("/login")).text, "html.parser")
    assert page.h1 is not None
    assert page.h1.get_text(strip=True) == "職員ログイン"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
async def test_language_switch_never_redirects_off_site(client: AsyncTestClient, target: str) -> None:
    response = await client.post(
        "/language",
        data={"lang": "en", "next": target, "_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


async def test_unknown_language_is_ignored(client: AsyncTestClient) -> None:
    response = await client.post(
        "/language", data={"lang": "xx", "next": "/", "_csrf_token": await csrf_token(client)}, follow_redirects=False
    )
    assert "set-cookie" not in response.headers
    page = BeautifulSoup((await client.get("/")).text, "html.parser")
    assert page.html is not None
    assert page.html["lang"] == "ja"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 4, 1), "令和7年4月1日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
    ],
)
def test_japanese_era_dates(day: dt.date, expected: str) -> None:
    assert format_date(day, era=True, locale="ja") == expected


def test_western_dates_in_both_languages() -> None:
    assert format_date(dt.date(2025, 4, 1), era=False, locale="ja") == "2025年4月1日"
    assert format_date(dt.date(2025, 4, 1), locale="ja") == "令和7年4月1日", "Japanese is written with the era"
    assert format_date(dt.date(2025, 4, 1), locale="en") == "2025-04-01"
    assert format_date(dt.date(2025, 4, 1), era=True, locale="en") == "2025-04-01 (Reiwa 7)"


def test_era_follows_the_current_language() -> None:
    token = current_locale.set("en")
    try:
        assert format_date(dt.datetime(2026, 1, 5, 9, 0)) == "2026-01-05"
    finally:
        current_locale.reset(token)
    assert japanese_era(dt.date(2026, 1, 5)) == ("令和", 8)


async def test_screens_write_the_era_unless_the_person_chose_western_years(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    assert format_date(dt.date(2026, 12, 2)) == "令和8年12月2日"
    chosen = current_calendar.set("western")
    try:
        assert format_date(dt.date(2026, 12, 2)) == "2026年12月2日"
    finally:
        current_calendar.reset(chosen)
    await sign_in(client, "morioka-admin")  # the sign-in is the operation log's first line, dated
    token = await csrf_token(client)
    assert "令和" in text_at((await client.get("/admin/operations")).text, "table")
    await client.post("/calendar", data={"calendar": "western", "next": "/admin/operations", "_csrf_token": token})
    page = await client.get("/admin/operations")
    assert tag_at(page.text, "#calendar-switch button[value=western][aria-current=true]")
    assert "令和" not in text_at(page.text, "table")
    assert re.search(r"20\d\d年\d{1,2}月\d{1,2}日", text_at(page.text, "table"))
    await client.post("/calendar", data={"calendar": "era", "next": "/", "_csrf_token": token})
    again = await client.get("/admin/operations")
    assert tag_at(again.text, "#calendar-switch button[value=era][aria-current=true]")
