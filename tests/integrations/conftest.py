"""Fixtures of the integration tests: a real HTTP receiver for webhooks, and one stack shared by the folder.

The stack is a migrated database of its own, a Redis database of its own, a real
SMTP server (aiosmtpd) and one real ``kyodo worker`` that posts webhooks and
sends mail, started once for the whole folder because a worker's start is the
slowest part.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import relay_pending
from core.settings import DatabaseSettings, IntegrationSettings, RedisSettings, Settings, to_psycopg_url
from tests.conftest import TEMPLATE_DB, _as_app_role, _create_database, _drop_database, start_worker, task_sender
from tests.signing.conftest import Mailbox, free_port


@dataclasses.dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server in a thread: records every POST and answers with the next planned status."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.plan: list[int] = []
        self.default = 200
        self.location = ""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.plan.pop(0) if receiver.plan else receiver.default
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location or "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to point a webhook."""
        return f"http://127.0.0.1:{self.port}/kyodo/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on a free port."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@dataclasses.dataclass
class Stack:
    """A database, Redis, SMTP server and worker of their own, shared by the folder's tests."""

    settings: Settings
    mailbox: Mailbox
    maker: Callable[[], AsyncSession]
    sender: Any

    async def pump(self) -> None:
        """Relay the outbox to the worker."""
        async with self.maker() as session:
            await relay_pending(session, app=self.sender)
            await session.commit()

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """Relay until ``check()`` returns something true; that value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.pump()
            found = check()
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="package")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Mailbox]]:
    admin_url = os.environ["KYODO_TEST__ADMIN_URL"]
    name = f"kyodo_integrations_{uuid.uuid4().hex[:10]}"
    url = _create_database(admin_url, name, TEMPLATE_DB)
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    own_redis = f"{os.environ['KYODO_REDIS_URL'].rpartition('/')[0]}/{40 + index}"
    redis.Redis.from_url(own_redis).flushdb()
    box = Mailbox()
    smtp_port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    log_dir = tmp_path_factory.mktemp("stack")
    settings = Settings(
        app=dataclasses.replace(Settings().app, data_dir=Path(os.environ["KYODO_DATA_DIR"]), debug=True),
        database=DatabaseSettings(url=_as_app_role(url), admin_url=url, pool_size=2),
        redis=RedisSettings(url=own_redis),
        integrations=IntegrationSettings(webhook_allow_private=True, webhook_timeout_seconds=5.0),
    )
    settings = dataclasses.replace(
        settings,
        mail=dataclasses.replace(settings.mail, smtp_host="127.0.0.1", smtp_port=smtp_port),
        worker=dataclasses.replace(settings.worker, heartbeat_seconds=1.0),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KYODO_SMTP_HOST", "127.0.0.1")
        patch.setenv("KYODO_SMTP_PORT", str(smtp_port))
        patch.setenv("KYODO_WEBHOOK_ALLOW_PRIVATE", "1")
        patch.setenv("KYODO_WEBHOOK_TIMEOUT_SECONDS", "5")
        worker = start_worker(settings, log_dir, name="integrations")
    try:
        yield settings, box
    finally:
        worker.stop()
        smtp.stop()
        _drop_database(admin_url, name)


@pytest.fixture
async def stack(stack_settings: tuple[Settings, Mailbox]) -> AsyncIterator[Stack]:
    settings, box = stack_settings
    box.messages.clear()
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        yield Stack(settings, box, maker, task_sender(settings))
    finally:
        await engine.dispose()
