"""Background work of bulk sending: a batch of more than ``BACKGROUND_ROWS`` rows (:mod:`signing.services._bulk`).

The task takes the batch's id and sends every row still pending in PostgreSQL,
each in a transaction of its own, scoped to the member, that also records the
row's outcome. Safe to deliver again or to run twice at once: a row is locked
while it is sent, and a row done is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from celery import shared_task
from sqlalchemy.exc import OperationalError

from core.asyncrun import run_async
from core.db import session_scope
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
    return await run_batch(get_settings(), member_id=member_id, batch_id=batch_id, open_session=_member_session)


@shared_task(name=BULK_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def bulk_send(member_id: str, batch_id: str) -> str:
    """Send the rows of a bulk-sending batch, each row all or nothing."""
    return run_async(_run(uuid.UUID(member_id), batch_id))
