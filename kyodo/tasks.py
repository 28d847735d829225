"""Platform tasks: the outbox relay, the daily backup and a round-trip ping used by checks and tests."""

from __future__ import annotations

import logging

from celery import shared_task

from core.asyncrun import run_async
from core.db import session_scope
from core.outbox import relay_pending
from core.settings import get_settings
from kyodo.backup import scheduled_backup

__all__ = ["daily_backup", "ping", "relay_outbox"]

log = logging.getLogger(__name__)


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


@shared_task(name="kyodo.daily_backup", acks_late=False)
def daily_backup() -> str:
    """Back up into KYODO_BACKUP_DIR, copy off the machine, prune old generations (beat runs it daily).

    A failure raises (the worker logs it with its traceback) and prunes nothing, so
    the older generations stay until a backup succeeds again.
    """
    run = scheduled_backup(get_settings())
    log.info("backup %s written (copy: %s); pruned %d", run.folder, run.copy, len(run.pruned))
    return str(run.folder)
