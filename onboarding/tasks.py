"""Background work of onboarding: large staff imports and the monthly invoices.

Tasks take ids, re-fetch, and are safe to run twice (an import already done and a
month already invoiced are left alone).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import redis
from celery import shared_task
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from core.asyncrun import run_async
from core.dates import today_jst
from core.db import session_scope, system_session
from core.runtime import redis_url
from core.scope import elevated, for_member
from core.settings import get_settings
from onboarding.billing import issue_month
from onboarding.models import ImportStatus
from onboarding.repository import OnboardingRepository
from onboarding.staff_import import PROGRESS_PREFIX, ImportRejected, apply_import, login_id_conflict, progress_key
from tenants.models import Consortium, Member

__all__ = ["PROGRESS_PREFIX", "apply_staff_import", "issue_previous_month", "progress_key"]

log = logging.getLogger(__name__)


async def _apply(job_id: uuid.UUID, client: redis.Redis) -> str:
    async with session_scope() as session:
        async with elevated(session):  # which member's import this is, before acting as that member
            job = await OnboardingRepository(session, None).staff_import(job_id)
        if job is None:
            return "missing"
        if job.status is ImportStatus.DONE:
            return "done"
        member = await session.get(Member, job.member_id)
        assert member is not None
        await for_member(session, member.id)
        total = len(job.rows)

        def progress(processed: int) -> None:
            client.set(progress_key(job_id), json.dumps({"processed": processed, "total": total}), ex=3600)

        progress(0)
        try:
            await apply_import(session, job, member, progress=progress)
        except ImportRejected as exc:
            await session.rollback()
            await _mark_failed(job_id, exc.message)
            return "failed"
        except IntegrityError:
            await session.rollback()
            await _mark_failed(job_id, login_id_conflict())
            return "failed"
    return "done"


async def _mark_failed(job_id: uuid.UUID, message: str) -> None:
    async with system_session() as session:
        job = await OnboardingRepository(session, None).staff_import(job_id)
        if job is not None:
            job.status = ImportStatus.FAILED
            job.error = message
            job.finished_at = dt.datetime.now(dt.UTC)


@shared_task(
    name="onboarding.apply_staff_import",
    autoretry_for=(OperationalError, redis.RedisError),
    retry_backoff=True,
    max_retries=5,
)
def apply_staff_import(job_id: str) -> str:
    """Apply a previewed staff import in one transaction (all rows or none)."""
    client = redis.Redis.from_url(redis_url(get_settings()))
    try:
        return run_async(_apply(uuid.UUID(job_id), client))
    finally:
        client.close()


def _previous_month(today: dt.date) -> dt.date:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


async def _issue_all(month: dt.date) -> int:
    count = 0
    async with session_scope() as session:
        ids = (await session.scalars(select(Consortium.id))).all()
    for consortium_id in ids:
        async with session_scope() as session:
            count += len(await issue_month(session, consortium_id, month, by="system:beat"))
    return count


@shared_task(name="onboarding.issue_previous_month")
def issue_previous_month(month: str = "") -> int:
    """Issue every consortium's invoices for ``month`` (YYYY-MM; default: last month in Japan)."""
    target = dt.date.fromisoformat(f"{month}-01") if month else _previous_month(today_jst())
    issued = run_async(_issue_all(target))
    log.info("issued %d invoices for %s", issued, f"{target:%Y-%m}")
    return issued
