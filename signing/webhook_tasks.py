"""Tasks of webhooks: one attempt of one notice, and the pass that hands out retries that are due.

Both take plain values, re-fetch, and are safe to run twice (an attempt names
its number; a notice already delivered is left alone).
"""

from __future__ import annotations

import uuid

from celery import shared_task

from core.asyncrun import run_async
from core.db import system_session
from core.settings import get_settings
from signing.webhook_delivery import attempt_delivery, queue_due
from signing.webhooks import DELIVER_TASK, RETRY_TASK

__all__ = ["deliver_webhook", "retry_webhooks"]


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver_webhook(*, delivery_id: str, attempt: int | None = None) -> None:
    """Post one notice (attempt ``attempt``, or the next one); a failure is scheduled again by its delivery row."""

    async def _run() -> None:
        async with system_session() as session:
            await attempt_delivery(session, get_settings(), uuid.UUID(delivery_id), attempt=attempt)

    run_async(_run())


@shared_task(name=RETRY_TASK, ignore_result=True)
def retry_webhooks() -> int:
    """Hand out the retries that are due (beat runs this every minute)."""

    async def _run() -> int:
        async with system_session() as session:
            return await queue_due(session)

    return run_async(_run())
