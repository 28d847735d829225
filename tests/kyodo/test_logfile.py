"""Application logs as JSON lines kept a year: written by a real command, a new file each day, old days deleted."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from core.dates import JST
from core.settings import Settings
from kyodo.logfile import DailyJsonFileHandler, prune_logs

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_a_command_writes_its_log_as_json_lines(fresh_database: Settings, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_DATABASE_ADMIN_URL=fresh_database.database.admin_url,
        KYODO_REDIS_URL=fresh_database.redis.url.rpartition("/")[0] + "/61",  # no worker reports here
        KYODO_LOG_DIR=str(logs),
        KYODO_ALERT_EMAILS="",
    )
    # No worker and no alert address: the watcher logs that the alert was not mailed.
    ran = subprocess.run(
        [sys.executable, "-m", "kyodo", "watch", "--once"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    [path] = list(logs.glob("watch-*.jsonl"))
    assert path.name.endswith(f"-{dt.datetime.now(JST).date().isoformat()}.jsonl")
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    warned = [e for e in entries if e["logger"] == "kyodo.watch" and "not mailed" in e["message"]]
    assert warned, entries
    assert warned[0]["level"] == "WARNING"
    assert warned[0]["process"].startswith("watch:")
    assert dt.datetime.fromisoformat(warned[0]["time"]).utcoffset() == dt.timedelta(hours=9)
    assert any("ワーカーが 1 台も動いていません" in e["message"] for e in warned)  # Japanese kept as is


def test_each_day_has_its_file_and_a_year_is_kept(tmp_path: Path) -> None:
    handler = DailyJsonFileHandler(tmp_path, "web", retention_days=30)  # below a year: a year is kept anyway
    stem = handler.stem
    today = dt.date(2027, 3, 1)
    for days_ago in (0, 200, 365, 366, 400):
        (tmp_path / f"{stem}-{(today - dt.timedelta(days=days_ago)).isoformat()}.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("kept")
    deleted = prune_logs(tmp_path, 30, today=today)
    assert sorted(p.name for p in deleted) == [
        f"{stem}-{(today - dt.timedelta(days=d)).isoformat()}.jsonl" for d in (400, 366)
    ]
    assert (tmp_path / f"{stem}-{(today - dt.timedelta(days=365)).isoformat()}.jsonl").exists()

    record = logging.LogRecord("kyodo.test", logging.ERROR, __file__, 1, "封緘 %s", ("失敗",), None)
    record.created = dt.datetime(2027, 3, 1, 23, 59, tzinfo=JST).timestamp()
    handler.handle(record)
    record2 = logging.LogRecord("kyodo.test", logging.INFO, __file__, 1, "翌日", (), None)
    record2.created = dt.datetime(2027, 3, 2, 0, 1, tzinfo=JST).timestamp()
    handler.handle(record2)
    handler.close()
    first = json.loads(handler.path_for(dt.date(2027, 3, 1)).read_text(encoding="utf-8").splitlines()[-1])
    second = json.loads(handler.path_for(dt.date(2027, 3, 2)).read_text(encoding="utf-8"))
    assert (first["message"], first["level"]) == ("封緘 失敗", "ERROR")
    assert second["message"] == "翌日"
