"""Tasks of the circulation: sending mail, reminders, purging old operation logs.

Each task takes plain values, re-fetches what it needs and is safe to run twice:
a mail is sent once per outbox row (each attempt claims the row with a lease in
PostgreSQL, see :func:`send_mail`), reminders pick only parties that are due, the
purge deletes only what is old.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import smtplib
import time
import uuid
from typing import Any

import psycopg
from celery import Task, current_app, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from core import outbox
from core.asyncrun import run_async
from core.db import session_scope, system_session
from core.outbox import row_of_task
from core.runtime import database_admin_url, database_url
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

__all__ = [
    "MAIL_REQUEUE_TASK",
    "MAX_MAIL_LAPSES",
    "delete_leaving_member",
    "mail_message_id",
    "purge_operation_logs",
    "requeue_silent_mail",
    "send_mail",
    "send_reminders",
]

log = logging.getLogger(__name__)

MAIL_REQUEUE_TASK = "signing.requeue_silent_mail"
MAX_MAIL_LAPSES = 5
"""A mail whose worker stopped while sending it this many times is given up (recorded as failed)."""

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


def _backoff(retries: int) -> int:
    return int(min(600, 5 * 2**retries))


async def _claim(settings: Settings, row: tuple[int, int], holder: str) -> bool:
    async with session_scope(settings) as session:
        return await outbox.claim(session, row[0], row[1], holder, settings.worker.mail_lease_seconds)


async def _release(settings: Settings, row_id: int, holder: str, seconds: float) -> None:
    async with session_scope(settings) as session:
        await outbox.release(session, row_id, holder, seconds)


async def _finish(settings: Settings, row_id: int, outcome: str, error: str | None = None) -> None:
    async with session_scope(settings) as session:
        await outbox.finish(session, row_id, outcome, error)


def _record_result(settings: Settings, row_id: int, outcome: str, error: str | None = None) -> None:
    """Record a mail's result on its outbox row, trying a little while if the database blinks.

    Once the SMTP server took the mail nothing can take it back: if the row cannot be
    marked, its lease runs out and beat sends the mail a second time (see :func:`send_mail`).
    """
    for attempt in range(4):
        try:
            run_async(_finish(settings, row_id, outcome, error))
            return
        except (OperationalError, InterfaceError, OSError) as exc:
            log.warning("mail of outbox row %s: %s not recorded (%s)", row_id, outcome, exc)
            time.sleep(2**attempt)
    log.error("mail of outbox row %s: %s not recorded; it will be sent again when its lease runs out", row_id, outcome)


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

    Each attempt first claims the mail's outbox row for ``KYODO_MAIL_LEASE_SECONDS``
    (one ``UPDATE``, :func:`core.outbox.claim`); an attempt that finds the row
    claimed by a live attempt, or already finished, sends nothing. Then it sends,
    then it marks the row ``sent``. A worker killed (or hung) before the mark stops
    holding the row; when the lease has run out, beat's :func:`requeue_silent_mail`
    hands the mail to another worker, which claims it and sends it. The order
    claim → send → mark means a mail recorded as sent is never sent again, but a
    worker that dies after the SMTP server accepted the mail and before the mark
    leaves a mail that is sent once more. Both copies carry the same Message-ID
    (:func:`mail_message_id`), by which mail systems and clients that de-duplicate
    show it once.
    """
    settings = get_settings()
    row = row_of_task(str(self.request.id or ""))
    holder = uuid.uuid4().hex
    if row is not None:
        try:
            claimed = run_async(_claim(settings, row, holder))
        except (OperationalError, InterfaceError) as exc:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
        if not claimed:
            log.info("mail of outbox row %s is sent, or being sent by another attempt: skipped", row[0])
            return
    try:
        deliver(
            settings,
            to=to,
            subject=subject,
            body=body,
            sealed_link=sealed_link,
            sender=sender_of_mail(contract_id),
            message_id=mail_message_id(settings, row[0]) if row is not None else None,
        )
    except _REFUSED as exc:
        log.warning("mail to %s refused: %s", to, exc)
        _undeliverable(settings, row, "refused", exc, to=to, contract_id=contract_id, member_id=member_id)
        return
    except (OSError, ConnectionError) as exc:
        if self.request.retries >= (self.max_retries or 0):
            _undeliverable(settings, row, "failed", exc, to=to, contract_id=contract_id, member_id=member_id)
            raise
        delay = _backoff(self.request.retries)
        if row is not None:
            # The retry claims the row again; the lease covers its countdown, then the usual silence.
            try:
                run_async(_release(settings, row[0], holder, delay + settings.worker.mail_lease_seconds))
            except (OperationalError, InterfaceError) as db_exc:
                log.warning("mail of outbox row %s not released for its retry: %s", row[0], db_exc)
        raise self.retry(exc=exc, countdown=delay) from exc
    if row is not None:
        _record_result(settings, row[0], "sent")


def _undeliverable(
    settings: Settings,
    row: tuple[int, int] | None,
    outcome: str,
    exc: BaseException,
    *,
    to: str,
    contract_id: str,
    member_id: str,
) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    if contract_id and member_id:
        _record_failure(contract_id, member_id, to, reason)
    if row is not None:
        _record_result(settings, row[0], outcome, reason)


def mail_message_id(settings: Settings, row_id: int) -> str:
    """The Message-ID of the mail of outbox row ``row_id``: the same on every attempt, unique per database."""
    database = hashlib.sha256(database_url(settings).encode()).hexdigest()[:12]
    return f"<mail-{row_id}.{database}@kyodo>"


@shared_task(name=MAIL_REQUEUE_TASK, ignore_result=True)
def requeue_silent_mail() -> int:
    """Hand mail whose attempt went silent (lease run out, no result) to a worker again (beat, every 30 s).

    A mail whose lease ran out more than :data:`MAX_MAIL_LAPSES` times (each time a
    worker stopped while sending it) is given up: recorded as failed on its row and on
    its contract's trail, so that staff see it instead of workers dying on it for ever.
    """
    settings = get_settings()
    lease = settings.worker.mail_lease_seconds

    async def _take() -> list[outbox.LeasedRow]:
        async with session_scope(settings) as session:
            rows = await outbox.take_lapsed(session, MAIL_TASK, lease)
            for row in rows:
                if row.lapses > MAX_MAIL_LAPSES:
                    await outbox.finish(session, row.id, "abandoned", _abandoned(row))
            return rows

    sent = 0
    for row in run_async(_take()):
        if row.lapses > MAX_MAIL_LAPSES:
            log.error("mail of outbox row %s given up: %s", row.id, _abandoned(row))
            if row.kwargs.get("contract_id") and row.kwargs.get("member_id"):
                kwargs = row.kwargs
                _record_failure(kwargs["contract_id"], kwargs["member_id"], str(kwargs["to"]), _abandoned(row))
            continue
        current_app.send_task(MAIL_TASK, kwargs=row.kwargs, task_id=row.task_id)
        log.warning("mail of outbox row %s: attempt went silent; sent again as %s", row.id, row.task_id)
        sent += 1
    return sent


def _abandoned(row: outbox.LeasedRow) -> str:
    return f"no result after {row.lapses} attempts (each time the worker sending it stopped)"


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
