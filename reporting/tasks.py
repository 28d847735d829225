"""Reporting tasks: the probe, moving telemetry to PostgreSQL, monthly reports, maintenance mail.

Each takes ids, opens a session of its own (:func:`reporting.repository.system_session`
where it works across members), calls a service, and is safe to run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from celery import shared_task
from redis.asyncio import Redis

from core.asyncrun import run_async
from core.db import session_scope, system_session
from core.runtime import redis_url
from core.settings import get_settings
from reporting.figures import JST
from reporting.probe import probe, record_probe
from reporting.repository import ReportingRepository
from reporting.telemetry import move_completed_minutes

# Reports and mail need fpdf2 and fontTools, which take seconds to import: the
# tasks that use them import them when they run, so workers start quickly.

__all__ = [
    "issue_monthly_reports",
    "move_telemetry",
    "previous_month",
    "run_probe",
    "send_maintenance_cancelled",
    "send_maintenance_notice",
]

log = logging.getLogger(__name__)

ISSUER = "kyodo (monthly run)"


@shared_task(name="reporting.probe", ignore_result=True)
def run_probe() -> bool:
    """Check the platform over HTTP and keep the result."""

    async def _run() -> bool:
        outcome = await probe(get_settings().server.base_url())
        async with session_scope() as session:
            await record_probe(session, outcome)
        return outcome.ok

    return run_async(_run())


@shared_task(name="reporting.move_telemetry", ignore_result=True)
def move_telemetry() -> int:
    """Move finished minutes of request telemetry from Redis to PostgreSQL."""

    async def _run() -> int:
        client = Redis.from_url(redis_url(get_settings()), socket_connect_timeout=2, socket_timeout=5)
        try:
            async with system_session() as session:
                return await move_completed_minutes(session, client)
        finally:
            await client.aclose()

    return run_async(_run())


def previous_month(today: dt.date) -> dt.date:
    """First day of the month before ``today``'s."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1)


async def issue_for_month(month: dt.date) -> tuple[int, list[str]]:
    """Issue every member's report of ``month`` that can be; returns (issued, members waiting for a plan).

    Operators are mailed the list of reports that wait for an improvement plan.
    """
    from reporting.notify import notify_operators_of_waiting_reports
    from reporting.render import ITEM_LABELS, report_language
    from reporting.services import issue_month

    issued, waiting = 0, []
    async with system_session() as session:
        for consortium_id in await ReportingRepository(session, None).consortium_ids():
            done, pending = await issue_month(session, consortium_id, month, issued_by=ISSUER)
            issued += len(done)
            with report_language("ja"):
                waiting += [
                    f"{f.lg_code} {f.member_name}: {'、'.join(ITEM_LABELS[item]() for item in f.missing_plans)}"
                    for f in pending
                ]
        await notify_operators_of_waiting_reports(session, get_settings(), month, waiting)
    return issued, waiting


@shared_task(name="reporting.monthly_reports", ignore_result=True)
def issue_monthly_reports() -> int:
    """On the 1st (Japan time): issue last month's reports; those with a missed target wait for a plan."""
    month = previous_month(dt.datetime.now(JST).date())
    issued, waiting = run_async(issue_for_month(month))
    for line in waiting:
        log.warning("report of %s waits for an improvement plan: %s", month.isoformat()[:7], line)
    return issued


@shared_task(name="reporting.notify_maintenance", ignore_result=True)
def send_maintenance_notice(window_id: str) -> int:
    """Outbox task: mail the announcement of a maintenance window (once)."""

    from reporting.notify import notify_maintenance

    async def _run() -> int:
        async with session_scope() as session:
            return await notify_maintenance(session, get_settings(), uuid.UUID(window_id))

    return run_async(_run())


@shared_task(name="reporting.notify_maintenance_cancelled", ignore_result=True)
def send_maintenance_cancelled(window_id: str) -> int:
    """Outbox task: mail that an announced maintenance window will not take place."""

    from reporting.notify import notify_maintenance_cancelled

    async def _run() -> int:
        async with session_scope() as session:
            window = await ReportingRepository(session, None).maintenance_window(uuid.UUID(window_id), for_update=True)
            if window is None or not window.cancelled:
                return 0
            return await notify_maintenance_cancelled(session, get_settings(), window)

    return run_async(_run())
