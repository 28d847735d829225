"""Beat on every node: exactly one schedules, and another takes over when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from core.settings import Settings

LOCK_SECONDS = 6


def _beat(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        KYODO_BEAT_LOCK_SECONDS=str(LOCK_SECONDS),
        KYODO_OUTBOX_RELAY_SECONDS="1",
        KYODO_LOG_LEVEL="INFO",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kyodo", "beat"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _sent(log: Path) -> int:
    """How many due tasks this beat has sent."""
    return log.read_text(errors="replace").count("Sending due task relay-outbox")


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.25)
    return False


def test_two_beats_schedule_once_and_the_survivor_takes_over(fresh_database: Settings, tmp_path: Path) -> None:
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    beats = [_beat(fresh_database, logs[0])]
    client = redis.Redis.from_url(fresh_database.redis.url)
    try:
        assert _wait(lambda: _sent(logs[0]) >= 2, 90), logs[0].read_text(errors="replace")[-3000:]
        beats.append(_beat(fresh_database, logs[1]))
        # The second beat starts, finds the lock taken and waits: for several of the first
        # one's ticks it sends nothing, so each due task goes out once.
        time.sleep(LOCK_SECONDS + 4)
        first_before = _sent(logs[0])
        assert _sent(logs[1]) == 0, logs[1].read_text(errors="replace")[-3000:]
        assert client.exists("kyodo:beat:lock")
        time.sleep(3)
        assert _sent(logs[0]) > first_before, "the lock holder keeps scheduling"
        assert _sent(logs[1]) == 0

        # The scheduling node dies without a chance to release its lock.
        os.killpg(beats[0].pid, signal.SIGKILL)
        beats[0].wait(10)
        died = time.monotonic()
        assert _wait(lambda: _sent(logs[1]) >= 1, 60), logs[1].read_text(errors="replace")[-3000:]
        assert time.monotonic() - died < 60, "another beat takes over within a minute"
    finally:
        for beat in beats:
            if beat.poll() is None:
                os.killpg(beat.pid, signal.SIGTERM)
                try:
                    beat.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(beat.pid, signal.SIGKILL)
        client.close()
