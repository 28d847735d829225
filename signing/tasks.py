"""Tasks of the circulation: sending mail, reminders, purging old operation logs.

Each task takes plain values, re-fetches what it needs and is safe to run twice:
a mail is sent at most once per outbox row (a Redis marker keyed by the row),
reminders pick only parties that are due, the purge deletes only what is old.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import smtplib
import uuid
from typing import Any

import psycopg
import redis
from celery import Task, shared_task
from sqlalchemy.exc import OperationalError

from core.asyncrun import run_async
from core.db import session_scope, system_session
from core.runtime import database_admin_url, database_url, redis_url
from core.scope import elevated
from core.settings import Settings, get_settings
from onboarding.leaving import DELETION_TASK
from signing.audit import Actor, append_event
from signing.errors import SigningError
from signing.exit import give_up_deletion, run_deletion_request
from signing.mail import MAIL_TASK, deliver, sender_of_mail
from signing.models import AuditKind
from signing.services import drop_expired_bulk_passwords, remind
from tenants import oplog
from tenants.idempotency import KEEP as IDEMPOTENCY_KEEP
from tenants.repositories.idempotency import purge_keys

__all__ = ["delete_leaving_member", "purge_operation_logs", "send_mail", "send_reminders"]

log = logging.getLogger(__name__)

MAIL_ACTOR = Actor(actor="メール送信（共同）")
"""How the mail service appears in a contract's trail."""


_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError, ValueError)
"""Answers that no retry changes: the server refused the address, or the message cannot be built."""


def _record_failure(contract_id: str, member_id: str, to: str, reason: str) -> None:
    async def _record() -> None:
        async with system_session() as session:
            await append_event(
                session,
                member_id=uuid.UUID(member_id),
                contract_id=uuid.UUID(contract_id),
                kind=AuditKind.MAIL_FAILED,
                who=MAIL_ACTOR,
                detail={"to": to, "reason": reason[:300]},
            )

    run_async(_record())


@shared_task(name=DELETION_TASK, bind=True, ignore_result=True, max_retries=6)
def delete_leaving_member(self: Task[Any, Any], request_id: str) -> str:
    """Delete a leaving member's data and seal the report, as the secretariat confirmed (DAT-3).

    Safe to run twice (the request row is locked and a finished one is left
    alone). While the TSA or the database is unreachable nothing is deleted and
    the task retries with backoff; after the last retry the request is marked
    failed, so the secretariat's screen says so instead of waiting for ever.
    """
    settings = get_settings()
    try:
        return run_async(run_deletion_request(settings, uuid.UUID(request_id)))
    except (SigningError, OperationalError, psycopg.OperationalError) as exc:
        if self.request.retries >= (self.max_retries or 0):
            run_async(give_up_deletion(settings, uuid.UUID(request_id)))
            return "failed"
        raise self.retry(exc=exc, countdown=min(600, 30 * 2**self.request.retries)) from exc


@shared_task(name=MAIL_TASK, bind=True, ignore_result=True, max_retries=10)
def send_mail(
    self: Task[Any, Any],
    *,
    to: str,
    subject: str,
    body: str,
    sealed_link: str = "",
    contract_id: str = "",
    member_id: str = "",
) -> None:
    """Send one mail from the outbox (retried with backoff while the SMTP server is unreachable).

    A mail the server refuses, or one still not sent after every retry, is
    recorded on its contract's trail (メールを届けられませんでした) so that staff see it.
    """
    settings = get_settings()
    task_id = str(self.request.id or "")
    # outbox-<row>-<attempt>: a second relay of the same row is recognised and
    # skipped. Row ids are per database, so the marker names the database too.
    database = hashlib.sha256(database_url(settings).encode()).hexdigest()[:12]
    marker = f"kyodo:mail:{database}:{task_id.rsplit('-', 1)[0]}" if task_id.startswith("outbox-") else ""
    client = redis.Redis.from_url(redis_url(settings))
    if marker and client.get(marker):
        return
    try:
        deliver(
            settings, to=to, subject=subject, body=body, sealed_link=sealed_link, sender=sender_of_mail(contract_id)
        )
    except _REFUSED as exc:
        log.warning("mail to %s refused: %s", to, exc)
        if contract_id and member_id:
            _record_failure(contract_id, member_id, to, f"{type(exc).__name__}: {exc}")
        if marker:
            client.set(marker, "failed", ex=14 * 24 * 3600)
        return
    except (OSError, ConnectionError) as exc:
        if self.request.retries >= (self.max_retries or 0):
            if contract_id and member_id:
                _record_failure(contract_id, member_id, to, f"{type(exc).__name__}: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc
    if marker:
        client.set(marker, "1", ex=14 * 24 * 3600)


@shared_task(name="signing.send_reminders", ignore_result=True)
def send_reminders() -> int:
    """Remind parties that have not answered (beat runs this every hour)."""

    async def _run() -> int:
        async with session_scope() as session, elevated(session):
            reminded = await remind(session, get_settings())
            await session.flush()  # within the elevated scope; the commit follows it
            return reminded

    return run_async(_run())


@shared_task(name="signing.purge_operation_logs", ignore_result=True)
def purge_operation_logs() -> int:
    """Delete staff operation logs older than KYODO_OPERATION_LOG_YEARS.

    Only rows that concern no contract (searches, exports) go, with the
    contractors' portal sign-ins of that age; the trail of a contract is kept as
    long as the contract. The staff operation log of
    :mod:`tenants.oplog` is purged too, leaving a checkpoint in each chain.
    Both tables are append-only for the application role, so this runs as the
    schema owner. The JSON API's idempotency keys older than 24 hours go too, and
    the access passwords of bulk-sending batches older than seven days, seen or not.
    """
    settings = get_settings()
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=365 * settings.contracts.operation_log_years)
    url = database_admin_url(settings).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute("DELETE FROM contract_audit_event WHERE contract_id IS NULL AND occurred_at < %s", (cutoff,))
        deleted = cur.rowcount
        # The contractors' portal sign-ins are its access log (who asked, from where, when used): kept as long.
        deleted += conn.execute("DELETE FROM portal_sign_in WHERE created_at < %s", (cutoff,)).rowcount
    log.info("purged %s operation log and portal sign-in rows older than %s", deleted, cutoff.date())
    # The staff operation log (sign-ins, administration, imports) keeps its chains verifiable.
    deleted += oplog.purge_expired(settings)
    purge_idempotency_keys(settings)
    dropped = drop_expired_bulk_passwords(settings)
    log.info("dropped the access passwords of %s bulk-sending batches older than seven days", dropped)
    return deleted


def purge_idempotency_keys(settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete the JSON API's idempotency keys older than 24 hours (run with the daily purge)."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - IDEMPOTENCY_KEEP
    purged = purge_keys(settings, cutoff)
    log.info("purged %s idempotency keys older than %s", purged, cutoff)
    return purged
