"""The `kyodo` command: schema migrations and start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from core.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _kyodo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_db_downgrade_and_upgrade(fresh_database: Settings) -> None:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_DATABASE_ADMIN_URL=fresh_database.database.admin_url,
    )
    assert "outbox_message" in _tables(fresh_database.database.url)

    down = _kyodo("db", "downgrade", "base", env=env)
    assert down.returncode == 0, down.stderr
    assert _tables(fresh_database.database.url) <= {"alembic_version"}

    up = _kyodo("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    assert "outbox_message" in _tables(fresh_database.database.url)

    current = _kyodo("db", "current", env=env)
    assert "(head)" in current.stdout


def test_commands_explain_when_no_database_is_running(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYODO_")}
    env["KYODO_DATA_DIR"] = str(tmp_path)
    result = _kyodo("db", "upgrade", env=env)
    assert result.returncode != 0
    assert "KYODO_DATABASE_URL is not set and no embedded server is running" in result.stderr
