"""Japanese-first text: gettext catalogs, the request's language, Japanese-era dates.

Catalogs are the ``.po`` files under ``core/locale`` (Babel reads and compiles
them in memory at start-up, so there is no build step to forget). Message ids are
English; the Japanese catalog must translate every one of them, which a test checks.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import io
import re
import unicodedata
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.dates import JST

__all__ = [
    "CALENDARS",
    "CALENDAR_COOKIE",
    "JST",
    "LOCALES",
    "LOCALE_COOKIE",
    "current_calendar",
    "current_locale",
    "era_by_default",
    "format_date",
    "format_local_time",
    "gettext",
    "input_local_time",
    "japanese_era",
    "load_catalogs",
    "ngettext",
    "parse_date",
    "pgettext",
    "translations",
]

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("ja", "en")
"""Languages the platform speaks, Japanese first."""
LOCALE_COOKIE = "kyodo_lang"
"""Cookie that keeps the language a user chose."""

current_locale: ContextVar[str] = ContextVar("kyodo_locale", default="ja")

CALENDAR_COOKIE = "kyodo_calendar"
CALENDARS = ("era", "western")
"""How years are written on screens: 和暦 (令和8年) or 西暦 (2026年)."""
current_calendar: ContextVar[str] = ContextVar("kyodo_calendar", default="")
"""The person's choice for this request; empty: the language's own (和暦 in Japanese, ISO dates in English)."""


def era_by_default() -> bool:
    """Whether dates are written with the Japanese era where a caller did not say (the person's choice)."""
    chosen = current_calendar.get()
    if chosen in CALENDARS:
        return chosen == "era"
    return current_locale.get() == "ja"


"""The language of the request (or mail, or report) being produced."""


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog for ``locale`` (English falls back to the message ids)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def load_catalogs() -> None:
    """Read every language's catalog now (a process's first page or mail would otherwise wait ~0.3 s for each)."""
    for locale in LOCALES:
        translations(locale)


def gettext(message: str) -> str:
    """Translate ``message`` into the current language."""
    return translations(current_locale.get()).gettext(message)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` as meant in ``context`` (one English word, two meanings: "Name" of a person or a team).

    Both must be literal strings where it is called, or the catalogs' extraction misses them.
    """
    return translations(current_locale.get()).pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with a plural form chosen by ``n``."""
    return translations(current_locale.get()).ngettext(singular, plural, n)


# Start dates of the modern eras (元号), newest first.
_ERAS: tuple[tuple[dt.date, str, str], ...] = (
    (dt.date(2019, 5, 1), "令和", "Reiwa"),
    (dt.date(1989, 1, 8), "平成", "Heisei"),
    (dt.date(1926, 12, 25), "昭和", "Showa"),
    (dt.date(1912, 7, 30), "大正", "Taisho"),
    (dt.date(1868, 10, 23), "明治", "Meiji"),
)


def japanese_era(day: dt.date) -> tuple[str, int]:
    """The era name and year for ``day``: 2025-04-01 -> ("令和", 7)."""
    for start, name, _romaji in _ERAS:
        if day >= start:
            return name, day.year - start.year + 1
    raise ValueError(f"{day} is before the Meiji era")


_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和", "T": "大正", "M": "明治"}
_WESTERN_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
_ERA_DATE = re.compile(
    r"(令和|平成|昭和|大正|明治|[RHSTM])(元|\d{1,2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", re.IGNORECASE
)


def parse_date(text: str) -> dt.date:
    """A date as people type it: 2026-04-01, 2026/4/1, 2026年4月1日, 令和8年4月1日, R8.4.1, H31.4.30, 令和元年5月1日.

    Full-width digits and letters are folded first (NFKC). A Japanese era date
    must lie inside its era (H32.1.1 or R1.4.30 do not exist).

    :raises ValueError: for anything else.
    """
    folded = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if m := _WESTERN_DATE.fullmatch(folded):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    if m := _ERA_DATE.fullmatch(folded):
        name = _ERA_LETTERS.get(m[1].upper(), m[1])
        index = next(i for i, (_start, era, _romaji) in enumerate(_ERAS) if era == name)
        start = _ERAS[index][0]
        year = 1 if m[2] == "元" else int(m[2])
        day = dt.date(start.year + year - 1, int(m[3]), int(m[4]))
        following = _ERAS[index - 1][0] if index > 0 else None
        if year < 1 or day < start or (following is not None and day >= following):
            raise ValueError(f"{text!r} is outside the {name} era")
        return day
    raise ValueError(f"{text!r} is not a date")


def format_date(day: dt.date | dt.datetime, *, era: bool | None = None, locale: str | None = None) -> str:
    """A date as people write it: 令和7年4月1日 (元年 for year 1) / 2025年4月1日 / 2025-04-01.

    ``era=None`` follows the person's choice (:func:`era_by_default`): 令和 on Japanese
    screens unless they chose 西暦.
    """
    if isinstance(day, dt.datetime):
        day = day.date()
    lang = locale or current_locale.get()
    if era is None:
        era = era_by_default() if locale is None else lang == "ja"
    if lang == "ja":
        if era:
            name, year = japanese_era(day)
            year_text = "元" if year == 1 else str(year)
            return f"{name}{year_text}年{day.month}月{day.day}日"
        return f"{day.year}年{day.month}月{day.day}日"
    if era:
        for start, _name, romaji in _ERAS:
            if day >= start:
                return f"{day.isoformat()} ({romaji} {day.year - start.year + 1})"
    return day.isoformat()


def format_local_time(moment: dt.datetime | None, *, era: bool | None = None) -> str:
    """A moment in Japan time as people write it: 2026年11月22日 09:30 (empty for None)."""
    if moment is None:
        return ""
    local = moment.astimezone(JST)
    return f"{format_date(local, era=era)} {local:%H:%M}"


def input_local_time(moment: dt.datetime | None) -> str:
    """A moment in Japan time for an ``<input type="datetime-local">`` (empty for None)."""
    return "" if moment is None else f"{moment.astimezone(JST):%Y-%m-%dT%H:%M}"
