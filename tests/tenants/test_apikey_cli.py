"""`kyodo apikey create`: the operator issues a member's API key, shown once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.services import issue_operator_api_key
from core.errors import Invalid
from core.settings import Settings
from kyodo.app import create_app

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _kyodo(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_operator_issues_a_key_that_works_for_that_member_only(fresh_database: Settings) -> None:
    with psycopg.connect(fresh_database.database.admin_url) as conn:
        consortium = conn.execute(
            "INSERT INTO consortium (id, name, slug, maintenance_notice_days, created_at, updated_at) "
            "VALUES (gen_random_uuid(), '盛岡広域連携', 'cli', 14, now(), now()) RETURNING id"
        ).fetchone()
        assert consortium is not None
        for code, name in (("032018", "盛岡市"), ("032140", "八幡平市")):
            conn.execute(
                "INSERT INTO member (id, consortium_id, lg_code, name, kind, status, joined_on, created_at, "
                "updated_at) VALUES (gen_random_uuid(), %s, %s, %s, 'municipality', 'live', '2026-04-01', "
                "now(), now())",
                (consortium[0], code, name),
            )
    result = _kyodo(
        fresh_database, "apikey", "create", "--member", "032018", "--label", "文書管理", "--role", "auditor"
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("kyd_")
    with psycopg.connect(fresh_database.database.admin_url) as conn:
        stored = conn.execute("SELECT key_hash, label FROM api_key").fetchall()
    assert len(stored) == 1
    assert stored[0][1] == "文書管理"
    assert key not in stored[0][0]

    async def call() -> tuple[int, list[str]]:
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            response = await client.get("/api/v1/secretariat/members", headers={"Authorization": f"Bearer {key}"})
            denied = response.status_code
            staff = await client.get("/api/v1/staff", headers={"Authorization": f"Bearer {key}"})
            assert staff.status_code == 200, staff.text
            return denied, [s["login_id"] for s in staff.json()]

    denied, staff = asyncio.run(call())
    assert denied == 403
    assert staff == []


async def test_operator_key_for_an_unknown_member_is_refused_plainly(db_session: AsyncSession) -> None:
    with pytest.raises(Invalid, match="団体コード 033022 の構成団体はありません"):
        await issue_operator_api_key(db_session, lg_code="033022", label="x")
    with pytest.raises(Invalid, match="検査数字"):
        await issue_operator_api_key(db_session, lg_code="033023", label="x")
