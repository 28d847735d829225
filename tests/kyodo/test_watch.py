"""Alerts reach the operators: once when something breaks, once more when it is over, through real SMTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.settings import AlertSettings, MailSettings, Settings
from kyodo.devmail import DevMailbox, read_mailbox
from kyodo.watch import Watcher
from tests.conftest import start_worker

OPERATOR = "unyou@kyodo.example.jp"


@pytest.fixture
def watched(fresh_database: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = dataclasses.replace(
        fresh_database,
        app=dataclasses.replace(fresh_database.app, data_dir=tmp_path / "data"),
        mail=MailSettings(smtp_host="", dev_mailbox=True, dev_mailbox_port=0),
        alerts=AlertSettings(emails=(OPERATOR,), outbox_minutes=10, seal_minutes=30, cert_days=30),
    )
    mailbox = DevMailbox(settings).start()
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, dev_mailbox_port=mailbox.port))
    try:
        yield settings
    finally:
        mailbox.stop()


def _subjects(settings: Settings) -> list[str]:
    return sorted(str(m["subject"]) for m in read_mailbox(settings) if OPERATOR in str(m.get("to", "")))


def _sql(settings: Settings, statement: str) -> None:
    with psycopg.connect(settings.database.admin_url, autocommit=True) as conn:
        conn.execute(statement)


async def test_a_stopped_worker_and_silent_probes_are_mailed_once_then_their_end(
    watched: Settings, tmp_path: Path
) -> None:
    watcher = Watcher(watched)
    alerts = {a.key for a in await watcher.run_once()}
    assert {"no-worker", "probe-missing"} <= alerts
    first = _subjects(watched)
    assert "【Kyodo 障害】ワーカーが 1 台も動いていません" in first
    assert "【Kyodo 障害】稼働監視の記録が途絶えています" in first

    await watcher.run_once()
    assert _subjects(watched) == first, "a lasting alert is not mailed again at once"

    # A second watcher (another node) shares the state through Redis: no duplicate mail.
    await Watcher(watched).run_once()
    assert _subjects(watched) == first

    _sql(watched, "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) VALUES (now(), true, 12, '')")
    worker = start_worker(watched, tmp_path, name="watched")
    try:
        remaining = {a.key for a in await watcher.run_once()}
    finally:
        worker.stop()
    assert "no-worker" not in remaining
    assert "probe-missing" not in remaining
    subjects = _subjects(watched)
    assert "【Kyodo 解消】ワーカーが 1 台も動いていません" in subjects
    assert "【Kyodo 解消】稼働監視の記録が途絶えています" in subjects


async def test_an_outbox_backlog_and_a_failing_probe_are_alerts(watched: Settings) -> None:
    created = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=25)).isoformat()
    _sql(
        watched,
        "INSERT INTO outbox_message (task_name, kwargs, created_at, attempts) "
        f"VALUES ('kyodo.ping', '{{}}', '{created}', 3)",
    )
    _sql(
        watched,
        "INSERT INTO probe_result (checked_at, ok, latency_ms, detail) VALUES (now(), false, 3000, '/login 503')",
    )
    alerts = {a.key: a for a in await Watcher(watched).run_once()}
    assert "outbox" in alerts
    assert "未送信 1 件" in alerts["outbox"].detail
    assert alerts["probe-failed"].detail == "/login 503"
    assert "【Kyodo 障害】送信待ちの処理が滞っています" in _subjects(watched)


async def test_redis_down_is_itself_an_alert(watched: Settings) -> None:
    unreachable = dataclasses.replace(watched, redis=dataclasses.replace(watched.redis, url="redis://127.0.0.1:1/0"))
    alerts = {a.key for a in await Watcher(unreachable).run_once()}
    assert "redis" in alerts
    assert "【Kyodo 障害】Redis に接続できません" in _subjects(watched), "mailed straight through SMTP"
