"""Celery configuration, imported lazily the first time Celery reads its settings.

Being a module read on first use (``config_from_object("kyodo.celery_config")``)
means importing task modules never needs a running Redis or a run file.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

from core.runtime import redis_url
from core.settings import get_settings

_settings = get_settings()

broker_url = redis_url(_settings)
result_backend = broker_url
broker_connection_retry_on_startup = True
# Redis hands an unacknowledged task to another worker after this long. It stays an
# hour: it must be longer than the longest task and the longest countdown of a retry
# (the seal's backoff waits up to 30 min; renewals and reports run for minutes), or a
# task still waiting or running would be handed out twice. Mail and seals do not
# wait for it: each attempt holds a lease (KYODO_MAIL_LEASE_SECONDS,
# KYODO_SEAL_LEASE_SECONDS) and beat hands a silent one to another worker.
broker_transport_options = {"visibility_timeout": 3600}
# A task is acknowledged only when it finished, and put back if its worker died:
# with idempotent tasks this turns "a worker killed mid-task" into a retry.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_expires = 24 * 3600
timezone = "Asia/Tokyo"
enable_utc = True
worker_hijack_root_logger = False
# Mail and the outbox relay have queues of their own, so that a seal never waits
# behind a burst of mail and mail never waits behind a queue of seals. `kyodo worker`
# consumes all of them unless told otherwise (``-Q``), see :data:`QUEUES`.
task_default_queue = "celery"
task_routes = {
    "signing.send_mail": {"queue": "mail"},
    "kyodo.relay_outbox": {"queue": "relay"},
}
QUEUES = ("relay", "celery", "mail")
"""Every queue a worker consumes by default: the relay first (it is quick and feeds the others)."""
beat_schedule = {
    "relay-outbox": {
        "task": "kyodo.relay_outbox",
        "schedule": timedelta(seconds=_settings.worker.outbox_relay_seconds),
        "options": {"expires": _settings.worker.outbox_relay_seconds * 2},
    },
    # Invoices for the previous month, on the 1st at 06:00 Japan time.
    "issue-invoices": {
        "task": "onboarding.issue_previous_month",
        "schedule": crontab(minute="0", hour="6", day_of_month="1"),
    },
    "contract-reminders": {
        "task": "signing.send_reminders",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "requeue-waiting-seals": {
        "task": "signing.requeue_waiting_seals",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    # Mail whose attempt went silent (its worker died): sent again once its lease ran out.
    "requeue-silent-mail": {
        "task": "signing.requeue_silent_mail",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # Webhook notices whose retry is due (the first attempt goes straight from the outbox).
    "retry-webhooks": {
        "task": "signing.retry_webhooks",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 50},
    },
    "renew-seals": {
        "task": "signing.renew_seals",
        "schedule": timedelta(days=1),
        "options": {"expires": 3600},
    },
    "purge-operation-logs": {
        "task": "signing.purge_operation_logs",
        "schedule": timedelta(days=1),
        "options": {"expires": 3600},
    },
    "synthetic-probe": {
        "task": "reporting.probe",
        "schedule": timedelta(seconds=_settings.reporting.probe_seconds),
        "options": {"expires": _settings.reporting.probe_seconds},
    },
    "move-request-telemetry": {
        "task": "reporting.move_telemetry",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # On the 1st, Japan time (the app's timezone), for the month before.
    "monthly-reports": {"task": "reporting.monthly_reports", "schedule": crontab(minute=0, hour=6, day_of_month=1)},
}

if _settings.backup.directory is not None:
    # Daily, at KYODO_BACKUP_HOUR Japan time; acks early: a backup cut short is not re-run twice at once.
    beat_schedule["daily-backup"] = {
        "task": "kyodo.daily_backup",
        "schedule": crontab(minute=0, hour=_settings.backup.hour),
        "options": {"expires": 3 * 3600},
    }

# One scheduler among many nodes: `kyodo beat` may run on every node; each takes
# a Redis lock (celery-redbeat) before it schedules anything, so exactly one sends
# due tasks. The holder extends the lock on every tick (at most every
# beat_max_loop_interval seconds); when it dies the lock expires after
# redbeat_lock_timeout seconds and a waiting beat takes over.
beat_scheduler = "redbeat.RedBeatScheduler"
redbeat_redis_url = broker_url
redbeat_key_prefix = "kyodo:beat"
beat_max_loop_interval = 5
redbeat_lock_timeout = _settings.worker.beat_lock_seconds
