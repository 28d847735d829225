"""Background work of bulk sending: a batch of more than ``BACKGROUND_ROWS`` rows (:mod:`signing.services._bulk`).

The task takes the batch's id, reads the checked rows and the encrypted access
passwords from Redis, and sends every row in a transaction of its own, scoped to
the member. Safe to run twice: rows already recorded are skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from celery import shared_task
from redis.asyncio import Redis

from core.asyncrun import run_async
from core.db import session_scope
from core.runtime import redis_url
from core.scope import for_member
from core.settings import get_settings
from signing.services._bulk import BULK_TASK, run_batch

__all__ = ["bulk_send"]


@asynccontextmanager
async def _member_session(member_id: uuid.UUID) -> AsyncIterator[object]:
    async with session_scope() as session:
        await for_member(session, member_id)
        yield session


async def _run(member_id: uuid.UUID, batch_id: str) -> str:
    settings = get_settings()
    client = Redis.from_url(redis_url(settings))
    try:
        return await run_batch(client, settings, member_id=member_id, batch_id=batch_id, open_session=_member_session)
    finally:
        await client.aclose()


@shared_task(name=BULK_TASK, autoretry_for=(redis.RedisError,), retry_backoff=True, max_retries=5)
def bulk_send(member_id: str, batch_id: str) -> str:
    """Send the rows of a bulk-sending batch, each row all or nothing."""
    return run_async(_run(uuid.UUID(member_id), batch_id))
