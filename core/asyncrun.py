"""Running async services from Celery's synchronous tasks.

Celery's prefork workers are plain processes; each keeps ONE event loop for its
lifetime (created after the fork), so engines, HTTP sessions and the sealer's
aiohttp session can be reused across tasks instead of rebuilt per task.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_async"]

T = TypeVar("T")


class _ProcessLoop:
    """The event loop of the current process, replaced after a fork."""

    loop: asyncio.AbstractEventLoop | None = None
    pid: int | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        if cls.loop is None or cls.pid != os.getpid() or cls.loop.is_closed():
            cls.loop = asyncio.new_event_loop()
            cls.pid = os.getpid()
        return cls.loop


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this process's event loop and return its result."""
    return _ProcessLoop.get().run_until_complete(coro)
