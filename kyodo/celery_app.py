"""The Celery application: `kyodo worker` and `kyodo beat` run it.

Each worker reports a heartbeat to Redis (``kyodo:worker:<hostname>`` with a
time-to-live), which ``/health/ready`` reads to know that at least one worker is
alive. Domain packages register their tasks through :data:`TASK_MODULES`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any

import redis
from celery import Celery, bootsteps
from celery.signals import worker_process_init
from celery.worker import WorkController

import kyodo.models  # noqa: F401 - every domain's tables, before anything walks the metadata
from core.outbox import set_relay_kick
from core.runtime import redis_url
from core.settings import Settings, get_settings

__all__ = ["HEARTBEAT_PREFIX", "RELAY_TASK", "TASK_MODULES", "WorkerHeartbeat", "celery", "publishing_app"]

log = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "kyodo:worker:"
"""Redis key prefix of worker heartbeats."""

TASK_MODULES = [
    "kyodo.tasks",
    "kyodo.invitation_tasks",
    "onboarding.tasks",
    "reporting.tasks",
    "signing.tasks",
    "signing.seal_tasks",
    "signing.webhook_tasks",
    "signing.bulk_tasks",
]
"""Modules whose tasks every worker loads."""


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes ``kyodo:worker:<hostname>`` every few seconds while the worker runs."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: WorkController, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.interval = get_settings().worker.heartbeat_seconds
        self.tref: Any = None
        self.client: redis.Redis | None = None
        self.key = ""

    def start(self, parent: WorkController) -> None:
        # celery-types does not declare WorkController.hostname; Celery sets it in __init__.
        self.key = HEARTBEAT_PREFIX + parent.hostname  # type: ignore[attr-defined]
        self.client = redis.Redis.from_url(redis_url(get_settings()), socket_connect_timeout=1, socket_timeout=1)
        self.beat(parent)
        assert parent.timer is not None, "the Timer step runs before this one"
        # kombu's Timer has call_repeatedly; celery-types declares a narrower class.
        self.tref = parent.timer.call_repeatedly(  # type: ignore[attr-defined]
            self.interval, self.beat, (parent,), priority=10
        )

    def stop(self, parent: WorkController) -> None:
        if self.tref is not None:
            self.tref.cancel()
        if self.client is not None:
            with contextlib.suppress(redis.RedisError):
                self.client.delete(self.key)
            self.client.close()

    def beat(self, parent: WorkController) -> None:
        """Record that this worker is alive; Redis being down is logged, not fatal."""
        if self.client is None:
            return
        payload = json.dumps({"key": self.key, "pid": os.getpid(), "at": time.time()})
        try:
            self.client.set(self.key, payload, ex=max(2, int(self.interval * 3)))
        except redis.RedisError as exc:
            log.warning("worker heartbeat not recorded: %s", exc)


@worker_process_init.connect
def _listen_for_policy_changes(**_: Any) -> None:
    # Each pool process keeps its own policy cache; it must hear about changes too.
    from policy.engine import PolicyListener  # noqa: PLC0415 - only worker processes need it

    PolicyListener(redis_url(get_settings())).start()


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    # What every process would otherwise do at its first task, with a contract waiting:
    # read the catalogs, parse the Japanese font, load the sealing key.
    from core.fonts import load_japanese_font  # noqa: PLC0415
    from core.i18n import load_catalogs  # noqa: PLC0415
    from signing.fonts import japanese_font_path  # noqa: PLC0415
    from signing.seal_tasks import prepare_sealers  # noqa: PLC0415

    for step in (load_catalogs, lambda: load_japanese_font(japanese_font_path()), prepare_sealers):
        try:
            step()
        except Exception:  # a head start only: whatever fails here fails again, and is reported, at its task
            log.warning("worker warm-up step failed", exc_info=True)


celery = Celery("kyodo", include=TASK_MODULES, set_as_current=True)
celery.set_default()
celery.config_from_object("kyodo.celery_config")
celery.steps["worker"].add(WorkerHeartbeat)

RELAY_TASK = "kyodo.relay_outbox"


def _kick_relay() -> None:
    try:
        celery.send_task(RELAY_TASK, ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - broker errors vary; beat relays the rows anyway
        log.warning("outbox relay not kicked (beat will relay): %s", exc)


set_relay_kick(_kick_relay)


def publishing_app(settings: Settings) -> Celery:
    """A Celery client for ``settings``' broker with the platform's routes (mail on its own queue …).

    A web process publishes through it when it relays the outbox itself, so the tasks
    go where its own settings say, whatever the process environment.
    """
    app = Celery("kyodo-publisher", set_as_current=False)
    app.config_from_object("kyodo.celery_config")
    url = redis_url(settings)
    app.conf.update(broker_url=url, result_backend=url)
    return app
