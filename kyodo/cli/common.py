"""What the command modules share: running a coroutine, reading a time, turning a refusal into a message."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import session_scope
from core.scope import elevated
from core.settings import Settings

__all__ = ["JAPAN", "elevated_session", "japan_time", "run"]

T = TypeVar("T")

JAPAN = ZoneInfo("Asia/Tokyo")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine of a command to its end (each command opens and closes its own sessions)."""
    return asyncio.run(coro)


def japan_time(text: str) -> dt.datetime:
    """An ISO date-time; without an offset it is Japan time."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=JAPAN)


@asynccontextmanager
async def elevated_session(settings: Settings | None = None) -> AsyncIterator[AsyncSession]:
    """A session of the command's own that sees every member's rows; committed while it still does.

    The commit comes before :func:`core.scope.elevated` gives the scope back, so
    rows written by the command are checked by row-level security as the
    operator's, not as nobody's. An error rolls everything back.
    """
    async with session_scope(settings) as session, elevated(session):
        yield session
        await session.commit()
