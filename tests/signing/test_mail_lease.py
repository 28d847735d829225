"""A worker killed mid-mail: beat hands the silent mail to another worker, and it arrives once.

Each attempt claims the mail's outbox row with a lease in PostgreSQL; the mail is
not left to the broker's visibility timeout (an hour). A mail whose attempt is
still alive (its lease has not run out) is not sent again by anyone.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage, relay_pending
from core.settings import Settings, to_psycopg_url
from kyodo.celery_config import beat_schedule
from signing.mail import MAIL_TASK, queue_mail
from signing.tasks import MAIL_REQUEUE_TASK
from tests.conftest import WorkerProcess, start_worker, task_sender
from tests.signing.conftest import Mailbox

ADDRESS = "taro@example.co.jp"


class _StallingSmtp:
    """An SMTP server that accepts the connection and never finishes its greeting: a hung mail server.

    It sends a continuation line ("220-") every second, so the client keeps
    waiting for the greeting's last line and never times out.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.clients: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                client, _ = self.sock.accept()
                self.clients.append(client)
                threading.Thread(target=self._stall, args=(client,), daemon=True).start()
        except OSError:
            pass

    def _stall(self, client: socket.socket) -> None:
        while not self.closed.is_set():
            try:
                client.sendall(b"220-kyodo.test still getting ready\r\n")
            except OSError:
                return
            self.closed.wait(1)

    def close(self) -> None:
        self.closed.set()
        for client in self.clients:
            client.close()
        self.sock.close()


@dataclass
class _Row:
    attempts: int
    lapses: int
    holder: str | None
    lease_left: float | None
    finished: bool
    outcome: str | None


def _row(settings: Settings, row_id: int) -> _Row:
    with psycopg.connect(settings.database.admin_url) as conn:
        found = conn.execute(
            "SELECT attempts, lapses, lease_holder, extract(epoch FROM lease_until - clock_timestamp()),"
            " finished_at IS NOT NULL, outcome FROM outbox_message WHERE id = %s",
            (row_id,),
        ).fetchone()
    assert found is not None
    attempts, lapses, holder, left, finished, outcome = found
    return _Row(attempts, lapses, holder, None if left is None else float(left), finished, outcome)


async def _queue_and_relay(settings: Settings) -> int:
    """One mail written to the outbox and handed to the workers, as after a contract is sent."""
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            queue_mail(session, settings, to=ADDRESS, subject="【依頼】備品購入契約", body="ご確認ください。")
            await session.commit()
        async with maker() as session:
            assert await relay_pending(session, app=task_sender(settings)) == 1
            await session.commit()
        async with maker() as session:
            return int((await session.scalars(select(OutboxMessage.id))).one())
    finally:
        await engine.dispose()


def _smtp_env(port: int, lease: int) -> dict[str, str]:
    return {
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(port),
        "KYODO_MAIL_LEASE_SECONDS": str(lease),
    }


def _kill(worker: WorkerProcess) -> None:
    assert worker.popen is not None
    if worker.popen.poll() is None:
        os.killpg(worker.popen.pid, 9)
        worker.popen.wait(10)


@pytest.fixture
def stalling() -> Iterator[_StallingSmtp]:
    server = _StallingSmtp()
    try:
        yield server
    finally:
        server.close()


def _wait_claimed(settings: Settings, row_id: int, stalling: _StallingSmtp, worker: WorkerProcess) -> _Row:
    deadline = time.monotonic() + 60
    while True:
        row = _row(settings, row_id)
        if stalling.clients and row.holder is not None:
            return row
        assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
        time.sleep(0.2)


def _wait_done(worker: WorkerProcess, task: str, count: int = 1, timeout: float = 60) -> None:
    """Wait until the worker logged ``count`` runs of ``task`` (a name, or ``name[id]``) as succeeded."""
    deadline = time.monotonic() + timeout
    while (
        sum(f"Task {task}" in line and "succeeded" in line for line in worker.log_path.read_text().splitlines()) < count
    ):
        assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
        time.sleep(0.2)


async def test_a_mail_of_a_killed_worker_is_sent_again_and_arrives_once(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], stalling: _StallingSmtp
) -> None:
    assert any(entry["task"] == MAIL_REQUEUE_TASK for entry in beat_schedule.values())
    box, port = smtp_server
    stuck = start_worker(fresh_database, tmp_path, name="stuck", extra_env=_smtp_env(stalling.port, 3))
    try:
        row_id = await _queue_and_relay(fresh_database)
        # The attempt claimed the mail and hangs in the SMTP greeting.
        claimed = _wait_claimed(fresh_database, row_id, stalling, stuck)
        assert (claimed.attempts, claimed.lapses, claimed.finished) == (1, 0, False)
        assert claimed.lease_left is not None
        assert 0 < claimed.lease_left <= 3
    finally:
        _kill(stuck)

    # Nobody holds the lease of a dead worker: it runs out (in seconds, not the broker's hour).
    deadline = time.monotonic() + 30
    while (_row(fresh_database, row_id).lease_left or 0) > 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert box.to(ADDRESS) == []

    healthy = start_worker(fresh_database, tmp_path, name="healthy", extra_env=_smtp_env(port, 3))
    try:
        sender = task_sender(fresh_database)
        # What beat sends every 30 seconds; twice, as two beat ticks would.
        sender.send_task(MAIL_REQUEUE_TASK)
        sender.send_task(MAIL_REQUEUE_TASK)
        deadline = time.monotonic() + 60
        while not box.to(ADDRESS):
            assert time.monotonic() < deadline, healthy.log_path.read_text()[-3000:]
            time.sleep(0.2)
        _wait_done(healthy, MAIL_REQUEUE_TASK, count=2)
        # The killed worker's task, as the broker hands it out after its visibility timeout.
        stale = f"outbox-{row_id}-1"
        sender.send_task(MAIL_TASK, kwargs={"to": ADDRESS, "subject": "x", "body": "x"}, task_id=stale)
        _wait_done(healthy, f"{MAIL_TASK}[{stale}]")
        time.sleep(1)  # a duplicate, if any was sent, has arrived by now
    finally:
        healthy.stop()

    mails = box.to(ADDRESS)
    assert len(mails) == 1
    assert mails[0]["Subject"] == "【依頼】備品購入契約"
    assert str(mails[0]["Message-ID"]).startswith(f"<mail-{row_id}.")
    done = _row(fresh_database, row_id)
    assert (done.finished, done.outcome, done.holder) == (True, "sent", None)
    assert (done.attempts, done.lapses) == (2, 1)  # the relay's hand-over and beat's one
    assert "attempt went silent; sent again" in healthy.log_path.read_text()


async def test_a_mail_whose_attempt_is_alive_is_not_sent_again(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], stalling: _StallingSmtp
) -> None:
    box, port = smtp_server
    # A worker that hangs in the SMTP greeting while its lease (5 minutes) is alive.
    stuck = start_worker(fresh_database, tmp_path, name="slow", extra_env=_smtp_env(stalling.port, 300))
    try:
        row_id = await _queue_and_relay(fresh_database)
        claimed = _wait_claimed(fresh_database, row_id, stalling, stuck)
        # Busy with that one task (one process, one task prefetched), it takes no other: the next worker does.
        healthy = start_worker(fresh_database, tmp_path, name="other", extra_env=_smtp_env(port, 300))
        try:
            sender = task_sender(fresh_database)
            sender.send_task(MAIL_REQUEUE_TASK)
            sender.send_task(MAIL_REQUEUE_TASK)
            # The same hand-over delivered twice (a relay that died before its commit sends it again).
            duplicate = f"outbox-{row_id}-1"
            sender.send_task(MAIL_TASK, kwargs={"to": ADDRESS, "subject": "x", "body": "x"}, task_id=duplicate)
            _wait_done(healthy, MAIL_REQUEUE_TASK, count=2)
            _wait_done(healthy, f"{MAIL_TASK}[{duplicate}]")
            time.sleep(1)
        finally:
            healthy.stop()
        assert box.to(ADDRESS) == []
        still = _row(fresh_database, row_id)
        assert (still.attempts, still.lapses, still.finished) == (1, 0, False)
        assert still.holder == claimed.holder  # the hung attempt still holds it
        assert "sent again" not in healthy.log_path.read_text()
    finally:
        _kill(stuck)
