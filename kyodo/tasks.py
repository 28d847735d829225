"""Platform tasks: the outbox relay and a round-trip ping used by checks and tests."""

from __future__ import annotations

from celery import shared_task

from core.asyncrun import run_async
from core.db import session_scope
from core.outbox import relay_pending

__all__ = ["ping", "relay_outbox"]


@shared_task(name="kyodo.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Send outbox rows that are still unsent (beat runs this every few seconds)."""

    async def _relay() -> int:
        async with session_scope() as session:
            return await relay_pending(session)

    return run_async(_relay())


@shared_task(name="kyodo.ping")
def ping(value: str = "pong") -> str:
    """Answer with ``value``: proves a worker takes tasks from the broker."""
    return value
