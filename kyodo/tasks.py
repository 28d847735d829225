"""Platform tasks: the outbox relay and a round-trip ping used by checks and tests."""

from __future__ import annotations

from kyodo.celery_app import celery
from kyodo.db import session_scope
from kyodo.outbox import relay_pending
from kyodo.worker_runtime import run_async

__all__ = ["ping", "relay_outbox"]


@celery.task(name="kyodo.relay_outbox", ignore_result=True)
def relay_outbox() -> int:
    """Send outbox rows that are still unsent (beat runs this every few seconds)."""

    async def _relay() -> int:
        async with session_scope() as session:
            return await relay_pending(session)

    return run_async(_relay())


@celery.task(name="kyodo.ping")
def ping(value: str = "pong") -> str:
    """Answer with ``value``: proves a worker takes tasks from the broker."""
    return value
