"""`kyodo demo`: every part of the platform on one machine, stopped together by Ctrl-C.

Order of start: embedded PostgreSQL and Redis (unless external URLs are set),
migrations, demo data, then the web server, a Celery worker (and one for mail alone),
the alert watcher and Celery beat as child processes. Order of stop: web, beat, the
watcher, the workers, then Redis and PostgreSQL, so
that nothing is cut off mid-transaction. A child that dies unexpectedly stops the
whole set, with the name of its log file, rather than leaving a half-working
platform.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.runtime import clear_services_file, write_services_file
from core.settings import Settings
from kyodo.devmail import DevMailbox
from kyodo.embedded import EmbeddedPostgres, EmbeddedRedis
from kyodo.processes import ChildProcess, spawn

__all__ = ["EmbeddedServices", "Supervisor", "embedded_services"]


@dataclass
class EmbeddedServices:
    """URLs of the database and Redis in use, and the embedded servers to stop."""

    database_url: str
    database_admin_url: str
    redis_url: str
    servers: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list)


@contextlib.contextmanager
def embedded_services(settings: Settings) -> Iterator[EmbeddedServices]:
    """Start what is not configured externally; stop it on exit."""
    data_dir = settings.app.data_dir
    servers: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if settings.database.url:
            db_url = settings.database.url
            admin_url = settings.database.admin_url or db_url
        else:
            pg = EmbeddedPostgres(data_dir)
            servers.append(pg)
            admin_url = pg.start()
            db_url = pg.app_url()
        if settings.redis.url:
            redis_url = settings.redis.url
        else:
            rd = EmbeddedRedis(data_dir)
            servers.append(rd)
            redis_url = rd.start()
        write_services_file(settings, database_url=db_url, database_admin_url=admin_url, redis_url=redis_url)
        yield EmbeddedServices(db_url, admin_url, redis_url, servers)
    finally:
        clear_services_file(settings)
        for server in reversed(servers):
            server.stop()


TEST_PKI_PORT = 18765
"""Loopback port of the demo's test TSA/OCSP/CRL (written into its certificates)."""


@contextlib.contextmanager
def embedded_pki(settings: Settings) -> Iterator[dict[str, str]]:
    """The offline test PKI and its TSA/OCSP/CRL server, unless a real one is configured.

    Yields the environment that points the sealer of every child at it (empty when
    ``KYODO_SIGNING_TSA_URL`` is set: production settings are used as they are).
    """
    if settings.seal_key.tsa_url:
        yield {}
        return
    from testpki import TestPKI, existing_port, settings_environment  # noqa: PLC0415 - demo only

    directory = settings.app.data_dir / "pki"
    port = existing_port(directory, TEST_PKI_PORT)
    pki = TestPKI.ensure(directory, port=port)
    server = spawn(
        "pki",
        [sys.executable, "-m", "testpki", str(directory), str(port)],
        log_path=settings.app.data_dir / "logs" / "pki.log",
    )
    try:
        _wait_port(port, server)
        env = settings_environment(pki.signing_settings("provider"))
        env.update(settings_environment(pki.signing_settings("sandbox"), prefix="KYODO_SIGNING_SANDBOX_"))
        yield env
    finally:
        server.stop()


def _wait_port(port: int, child: ChildProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the test PKI server stopped; see its log (port {port} in use?)")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the test PKI server did not answer on port {port}")


class _Stop(Exception):
    pass


def _answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Supervisor:
    """Runs the web server, worker and beat and stops them in order."""

    def __init__(self, settings: Settings, services: EmbeddedServices, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.services = services
        self.extra_env = extra_env or {}
        self.children: list[ChildProcess] = []
        self.logs = settings.app.data_dir / "logs"
        self.mailbox: DevMailbox | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KYODO_DATABASE_URL"] = self.services.database_url
        env["KYODO_DATABASE_ADMIN_URL"] = self.services.database_admin_url
        env["KYODO_REDIS_URL"] = self.services.redis_url
        env["KYODO_DATA_DIR"] = str(self.settings.app.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        if self.mailbox is not None:
            env["KYODO_DEV_MAILBOX"] = "true"
            env["KYODO_DEV_MAILBOX_PORT"] = str(self.mailbox.port)
            # Alerts of the demo land in the development mailbox too.
            env.setdefault("KYODO_ALERT_EMAILS", "alerts@demo.kyodo.invalid")
        env.update(self.extra_env)
        return env

    def _kyodo(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kyodo", *args]

    def start(self) -> None:
        """Start the development mailbox (when no SMTP server is set), worker, the alert watcher, beat and web."""
        if not self.settings.mail.smtp_host:
            self.mailbox = DevMailbox(self.settings).start()
        env = self._env()
        beat_file = self.settings.app.data_dir / "run" / "celerybeat-schedule"
        beat_file.parent.mkdir(parents=True, exist_ok=True)
        self.children = [
            spawn("worker", self._kyodo("worker"), env=env, log_path=self.logs / "worker.log"),
            # Mail has a process of its own as well, so a mail never waits for a seal to finish
            # (the main worker takes mail too, should this one be down).
            spawn(
                "mail",
                self._kyodo("worker", "--concurrency", "1", "-Q", "mail", "-n", "mail@%h"),
                env=env,
                log_path=self.logs / "mail.log",
            ),
            spawn("watch", self._kyodo("watch"), env=env, log_path=self.logs / "watch.log"),
            spawn(
                "beat",
                self._kyodo("beat", "--schedule", str(beat_file)),
                env=env,
                log_path=self.logs / "beat.log",
            ),
            spawn("web", self._kyodo("serve"), env=env, log_path=self.logs / "web.log"),
        ]

    def run(self, ready_url: str, on_ready: Callable[[bool], None]) -> int:
        """Start web, worker and beat; block until Ctrl-C / SIGTERM or a child dies.

        Signal handlers are installed before the first child starts, so a Ctrl-C
        at any moment (even while waiting for readiness) stops everything in order.
        """

        def _raise(signum: int, _frame: object) -> None:
            raise _Stop(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            self.start()
            announced = False
            deadline = time.monotonic() + 90
            while True:
                for child in self.children:
                    if not child.alive():
                        sys.stderr.write(
                            f"[kyodo] {child.name} stopped unexpectedly (exit {child.popen.returncode}); "
                            f"see {self.logs / (child.name + '.log')}. Stopping everything.\n"
                        )
                        return 1
                if not announced:
                    if _answers_200(ready_url):
                        announced = True
                        on_ready(True)
                    elif time.monotonic() > deadline:
                        announced = True
                        on_ready(False)
                time.sleep(0.5)
        except _Stop:
            return 0
        finally:
            # Ignore further Ctrl-C while stopping so the orderly stop completes.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Web first, then beat and the watcher, then the workers (which finish their current task)."""
        for name in ("web", "beat", "watch", "mail", "worker"):
            for child in self.children:
                if child.name == name:
                    child.stop(timeout=20 if name in ("worker", "mail") else 10)
        self.children = []
        if self.mailbox is not None:
            self.mailbox.stop()
            self.mailbox = None


def log_dir(settings: Settings) -> Path:
    """Where the children's logs are."""
    return settings.app.data_dir / "logs"
