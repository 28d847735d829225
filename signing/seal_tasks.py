"""Celery tasks of the sealing service: seal a concluded contract, renew timestamps.

A worker process keeps one :class:`~signing.seal_service.SealerPool` (parsed key,
TSA client, HTTP session) on its one event loop for its whole life.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from typing import Any

from celery import Task

from kyodo.celery_app import celery
from kyodo.db import session_scope
from kyodo.settings import get_settings
from kyodo.worker_runtime import run_async
from signing.errors import SealingUnavailable, SigningConfigurationError
from signing.seal_service import SealerPool, SealOutcome, renew_due, sandbox_signing_settings, seal_contract
from signing.services import SEAL_TASK
from signing.settings import SigningSettings

__all__ = ["RENEW_TASK", "renew_seals", "seal_contract_task"]

log = logging.getLogger(__name__)

RENEW_TASK = "signing.renew_seals"


class _Pool:
    pool: SealerPool | None = None
    pid: int | None = None

    @classmethod
    def get(cls) -> SealerPool:
        if cls.pool is None or cls.pid != os.getpid():
            provider = SigningSettings()
            provider.check()
            cls.pool = SealerPool(provider, sandbox_signing_settings(provider))
            cls.pid = os.getpid()
        return cls.pool


def backoff_seconds(retries: int) -> int:
    """30 s, 1 min, 2 min … capped at 30 min: a TSA outage is waited out, never bypassed."""
    return int(min(1800, 30 * 2**retries))


@celery.task(name=SEAL_TASK, bind=True, ignore_result=True, max_retries=None, acks_late=True)
def seal_contract_task(self: Task[Any, Any], *, contract_id: str) -> str:
    """Seal a contract whose parties all agreed (safe to run any number of times)."""
    settings = get_settings()

    async def _run() -> SealOutcome:
        async with session_scope(settings) as session:
            return await seal_contract(session, settings, _Pool.get(), uuid.UUID(contract_id))

    try:
        outcome = run_async(_run())
    except (SealingUnavailable, SigningConfigurationError) as exc:
        delay = backoff_seconds(self.request.retries)
        log.warning("contract %s stays 封緘待ち: %s; retrying in %s s", contract_id, exc, delay)
        raise self.retry(exc=exc, countdown=delay) from exc
    if outcome is SealOutcome.BUSY:
        raise self.retry(countdown=5)
    log.info("contract %s: %s", contract_id, outcome.value)
    return outcome.value


@celery.task(name=RENEW_TASK, bind=True, ignore_result=True, max_retries=None, acks_late=True)
def renew_seals(self: Task[Any, Any]) -> int:
    """Add fresh document timestamps before the newest one's TSA certificate expires (beat, daily)."""
    settings = get_settings()

    async def _run() -> int:
        async with session_scope(settings) as session:
            return await renew_due(
                session,
                settings,
                _Pool.get(),
                now=dt.datetime.now(dt.UTC),
                margin=dt.timedelta(days=settings.signing.renewal_margin_days),
            )

    try:
        return run_async(_run())
    except (SealingUnavailable, SigningConfigurationError) as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
