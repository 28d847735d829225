"""Japan time and calendar months: the platform's days, months and business hours are Japanese (Asia/Tokyo)."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["JST", "month_end", "month_is_over", "month_period", "parse_month", "today_jst"]

JST = ZoneInfo("Asia/Tokyo")


def today_jst() -> dt.date:
    """Today in Japan."""
    return dt.datetime.now(JST).date()


def parse_month(text: str) -> dt.date:
    """``"2026-10"`` → 2026-10-01; ValueError otherwise."""
    year, _, month = text.strip().partition("-")
    return dt.date(int(year), int(month), 1)


def month_end(first: dt.date) -> dt.date:
    """The last day of ``first``'s month."""
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_period(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (exclusive) of a calendar month in Japan time."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=JST)
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, dt.datetime(following.year, following.month, 1, tzinfo=JST)


def month_is_over(first: dt.date, today: dt.date | None = None) -> bool:
    """True once ``first``'s month has ended in Japan (its last day is before ``today``)."""
    return month_end(first) < (today or today_jst())
