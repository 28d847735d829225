"""The daily backup: written, checked, copied off the machine, and only the newest generations kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.result import AsyncResult

from core.settings import BackupSettings, Settings
from kyodo.backup import BackupError, backups_in, prune_backups, scheduled_backup, verify_backup
from tests.conftest import start_worker, task_sender

MASTER_KEY = "q0f1nJd7w3eN4Tj6Lk8Hx2Vb5Zc9Ra1Sy0Pm3Qo6Ui4="


def _configured(settings: Settings, tmp_path: Path, keep: int) -> Settings:
    return dataclasses.replace(
        settings,
        app=dataclasses.replace(settings.app, data_dir=tmp_path / "data"),
        contracts=dataclasses.replace(settings.contracts, master_key=MASTER_KEY),
        backup=BackupSettings(directory=tmp_path / "backups", copy_directory=tmp_path / "offsite", keep=keep),
    )


def test_three_days_of_backups_keep_the_newest_two_in_both_places(fresh_database: Settings, tmp_path: Path) -> None:
    settings = _configured(fresh_database, tmp_path, keep=2)
    days = [dt.datetime(2026, 11, day, 17, 0, tzinfo=dt.UTC) for day in (28, 29, 30)]
    runs = [scheduled_backup(settings, now=day) for day in days]
    for place in (tmp_path / "backups", tmp_path / "offsite"):
        kept = backups_in(place)
        assert [p.name for p in kept] == [r.folder.name for r in runs[1:]], place
        for folder in kept:
            verify_backup(folder)  # every kept copy is whole
    assert runs[-1].copy == tmp_path / "offsite" / runs[-1].folder.name
    assert {p.name for p in runs[2].pruned} == {runs[0].folder.name}
    assert not list((tmp_path / "offsite").glob(".partial-*")), "no half-written copy is left"


def test_a_failed_backup_prunes_nothing(fresh_database: Settings, tmp_path: Path) -> None:
    settings = _configured(fresh_database, tmp_path, keep=1)
    first = scheduled_backup(settings, now=dt.datetime(2026, 11, 29, tzinfo=dt.UTC))
    broken = dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, admin_url="postgresql://nobody@127.0.0.1:1/none")
    )
    with pytest.raises(BackupError, match="pg_dump failed"):
        scheduled_backup(broken, now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    assert backups_in(tmp_path / "backups") == [first.folder], "yesterday's generation is still there"
    with pytest.raises(BackupError, match="at least one"):
        prune_backups(tmp_path / "backups", 0)


def test_beat_s_task_runs_the_backup_on_a_real_worker(fresh_database: Settings, tmp_path: Path) -> None:
    settings = _configured(fresh_database, tmp_path, keep=8)
    os.environ["KYODO_BACKUP_DIR"] = str(tmp_path / "backups")
    os.environ["KYODO_BACKUP_COPY_DIR"] = str(tmp_path / "offsite")
    try:
        worker = start_worker(dataclasses.replace(settings), tmp_path, name="backup")
    finally:
        del os.environ["KYODO_BACKUP_DIR"]
        del os.environ["KYODO_BACKUP_COPY_DIR"]
    try:
        sender = task_sender(settings)
        result: AsyncResult[str] = sender.send_task("kyodo.daily_backup")
        folder = Path(result.get(timeout=120))
    finally:
        worker.stop()
    assert folder.parent == tmp_path / "backups"
    verify_backup(folder)
    verify_backup(tmp_path / "offsite" / folder.name)


def test_backup_run_without_a_folder_says_what_to_set(fresh_database: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KYODO_BACKUP_DIR", "KYODO_BACKUP_COPY_DIR")}
    env.update(
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_DATABASE_ADMIN_URL=fresh_database.database.admin_url,
        KYODO_DATA_DIR=str(tmp_path / "data"),
        KYODO_MASTER_KEY=MASTER_KEY,
    )
    refused = subprocess.run(
        [sys.executable, "-m", "kyodo", "backup", "run"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert "KYODO_BACKUP_DIR" in refused.stderr
    env["KYODO_BACKUP_DIR"] = str(tmp_path / "backups")
    done = subprocess.run(
        [sys.executable, "-m", "kyodo", "backup", "run"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(backups_in(tmp_path / "backups")) == 1
