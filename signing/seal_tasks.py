"""Celery tasks of the sealing service: seal a concluded contract, renew timestamps.

A worker process keeps one :class:`~signing.seal_service.SealerPool` (parsed key,
TSA client, HTTP session) on its one event loop for its whole life.

Every seal attempt holds a lease in Redis (``kyodo:seal:lease:<contract>``) for
``KYODO_SEAL_LEASE_SECONDS``, renewed past each retry's countdown and dropped when
the contract is sealed. A worker killed mid-seal stops renewing it; beat's
:func:`requeue_waiting_seals` then finds a contract still 封緘待ち with no lease and
sends its seal task again, instead of waiting for the broker's visibility timeout
(one hour) to hand the unacknowledged task to another worker. Sending twice is
harmless: sealing is exactly-once (advisory lock, status check, unique constraint).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from typing import Any

import redis
from celery import Task, current_app, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from core.asyncrun import run_async
from core.db import session_scope
from core.runtime import redis_url
from core.scope import elevated
from core.settings import Settings, SigningSettings, get_settings
from signing.conclusion import internal_failure, record_seal_failure
from signing.errors import SealingUnavailable, SigningConfigurationError
from signing.models import ContractStatus
from signing.repositories.seals import SealRepository
from signing.seal_service import SealerPool, SealOutcome, renew_due, sandbox_signing_settings, seal_contract
from signing.sealing import check_settings
from signing.services import SEAL_TASK

__all__ = ["RENEW_TASK", "REQUEUE_TASK", "lease_key", "renew_seals", "requeue_waiting_seals", "seal_contract_task"]

log = logging.getLogger(__name__)

RENEW_TASK = "signing.renew_seals"
REQUEUE_TASK = "signing.requeue_waiting_seals"
REQUEUE_GRACE = dt.timedelta(minutes=1)
"""A contract that just reached 封緘待ち has its first task on the way: leave it alone this long."""


def lease_key(contract_id: str) -> str:
    """The Redis key of a contract's seal lease."""
    return f"kyodo:seal:lease:{contract_id}"


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(redis_url(settings), socket_connect_timeout=2, socket_timeout=5)


def _hold_lease(settings: Settings, contract_id: str, seconds: int) -> None:
    # Best effort: without Redis the task could not have been delivered either,
    # and a missing lease only means beat may send one more (harmless) task.
    try:
        with _redis(settings) as client:
            client.set(lease_key(contract_id), "1", ex=max(1, seconds))
    except redis.RedisError as exc:
        log.warning("seal lease of %s not renewed: %s", contract_id, exc)


def _drop_lease(settings: Settings, contract_id: str) -> None:
    try:
        with _redis(settings) as client:
            client.delete(lease_key(contract_id))
    except redis.RedisError as exc:
        log.warning("seal lease of %s not dropped: %s", contract_id, exc)


class _Pool:
    pool: SealerPool | None = None
    pid: int | None = None

    @classmethod
    def get(cls) -> SealerPool:
        if cls.pool is None or cls.pid != os.getpid():
            provider = SigningSettings()
            check_settings(provider)
            cls.pool = SealerPool(provider, sandbox_signing_settings(provider))
            cls.pid = os.getpid()
        return cls.pool


def prepare_sealers() -> None:
    """Load this process's sealing key now (at worker start), if the sealing settings are complete."""
    try:
        _Pool.get()
    except SigningConfigurationError as e:
        log.info("no sealer prepared at start: %s", e)


def backoff_seconds(retries: int) -> int:
    """30 s, 1 min, 2 min … capped at 30 min: a TSA outage is waited out, never bypassed."""
    return int(min(1800, 30 * 2**retries))


@shared_task(name=SEAL_TASK, bind=True, ignore_result=True, max_retries=None, acks_late=True)
def seal_contract_task(self: Task[Any, Any], *, contract_id: str) -> str:
    """Seal a contract whose parties all agreed (safe to run any number of times)."""
    settings = get_settings()
    lease = settings.worker.seal_lease_seconds
    _hold_lease(settings, contract_id, lease)

    async def _run() -> SealOutcome:
        async with session_scope(settings) as session:
            return await seal_contract(session, settings, _Pool.get(), uuid.UUID(contract_id))

    try:
        outcome = run_async(_run())
    except (SealingUnavailable, SigningConfigurationError, OperationalError, InterfaceError, OSError) as exc:
        # Trust services, the provider key's configuration, the database or the
        # blob store: none of them is the document's fault; wait and try again.
        delay = backoff_seconds(self.request.retries)
        log.warning("contract %s stays 封緘待ち: %s; retrying in %s s", contract_id, exc, delay)
        _hold_lease(settings, contract_id, delay + lease)
        raise self.retry(exc=exc, countdown=delay) from exc
    except Exception as exc:
        # Neither the file nor a value explains it (those are recorded by
        # seal_contract itself): a defect. Retrying blindly would hide it, so
        # the contract shows 封緘できませんでした and the operators are alerted.
        log.exception("contract %s: unexpected error while sealing", contract_id)
        run_async(_record_internal_failure(settings, uuid.UUID(contract_id), exc))
        _drop_lease(settings, contract_id)
        return SealOutcome.FAILED.value
    if outcome is SealOutcome.BUSY:
        # Another worker holds the contract (and renews the lease itself).
        raise self.retry(countdown=5)
    _drop_lease(settings, contract_id)
    log.info("contract %s: %s", contract_id, outcome.value)
    return outcome.value


async def _record_internal_failure(settings: Settings, contract_id: uuid.UUID, exc: BaseException) -> None:
    async with session_scope(settings) as session, elevated(session):
        contract = await SealRepository(session, None).contract_for_update(contract_id)
        if contract is None or contract.status is not ContractStatus.SEALING:
            return
        await session.refresh(contract, ["documents", "parties"])
        await record_seal_failure(session, settings, contract, internal_failure(exc))
        await session.flush()  # within the elevated scope; the commit follows it


@shared_task(name=REQUEUE_TASK, ignore_result=True)
def requeue_waiting_seals() -> int:
    """Send the seal task again for contracts 封緘待ち whose attempt went silent (beat, every minute)."""
    settings = get_settings()
    lease = settings.worker.seal_lease_seconds

    async def _waiting() -> list[str]:
        async with session_scope(settings) as session, elevated(session):
            before = dt.datetime.now(dt.UTC) - REQUEUE_GRACE
            return [
                str(contract_id) for contract_id in await SealRepository(session, None).contracts_waiting_since(before)
            ]

    sent = 0
    with _redis(settings) as client:
        for contract_id in run_async(_waiting()):
            # SET NX: only one beat run (or none, while a live attempt holds the lease) sends it.
            if client.set(lease_key(contract_id), "1", ex=lease, nx=True):
                current_app.send_task(SEAL_TASK, kwargs={"contract_id": contract_id})
                log.warning("contract %s: seal attempt went silent; sent again", contract_id)
                sent += 1
    return sent


@shared_task(name=RENEW_TASK, bind=True, ignore_result=True, max_retries=None, acks_late=True)
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
