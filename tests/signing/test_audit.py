"""The audit trail is hash-chained and append-only; `kyodo audit verify` finds any change (LAW, DAT-6)."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from signing.audit import Actor, append_event, verify_chains
from signing.models import AuditKind
from tests import factories as f
from tests.conftest import PROJECT_DIR
from tests.scope import system_access


async def test_chain_verifies_and_detects_tampering(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        for i in range(3):
            await append_event(
                session,
                member_id=member.id,
                contract_id=None,
                kind=AuditKind.SEARCHED,
                who=Actor(f"staff:{i}", ip="192.0.2.1", user_agent="pytest"),
                detail={"i": i},
            )
        await session.commit()
    async with maker() as session:
        await system_access(session)
        assert await verify_chains(session) == []
    await engine.dispose()

    # The application role may not change or remove audit rows.
    app_url = fresh_database.database.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('kyodo.system', 'on', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE contract_audit_event SET actor = 'someone else'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM contract_audit_event")

    env = {
        "KYODO_DATABASE_URL": fresh_database.database.url,
        "KYODO_DATABASE_ADMIN_URL": fresh_database.database.admin_url,
    }
    command = [sys.executable, "-m", "kyodo", "audit", "verify", "--member", "032018"]
    ok = subprocess.run(command, env={**_env(), **env}, capture_output=True, text=True, cwd=PROJECT_DIR, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "3 events checked, 0 problems" in ok.stdout

    # Someone with the owner's rights edits a row behind the platform's back.
    admin_url = fresh_database.database.admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("UPDATE contract_audit_event SET actor = 'forged' WHERE detail->>'i' = '1'")
    bad = subprocess.run(command, env={**_env(), **env}, capture_output=True, text=True, cwd=PROJECT_DIR, check=False)
    assert bad.returncode == 1
    assert "hash does not match" in bad.stdout


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
