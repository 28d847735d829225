"""What the command modules share: running a coroutine, reading a time, turning a refusal into a message."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from typing import Any, TypeVar

from core.dates import JST

__all__ = ["JAPAN", "japan_time", "run"]

T = TypeVar("T")

JAPAN = JST


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine of a command to its end (each command opens and closes its own sessions)."""
    return asyncio.run(coro)


def japan_time(text: str) -> dt.datetime:
    """An ISO date-time; without an offset it is Japan time."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=JAPAN)
