"""The restore drill through the real commands: a sealed contract backed up, listed, restored and checked."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, SigningSettings, to_psycopg_url
from kyodo.backup import create_backup, restore_drill
from signing.models import AuditEvent, ContractStatus
from signing.seal_service import SealerPool, SealOutcome, seal_contract
from tests import factories as f
from tests.kyodo.test_backup import MASTER_KEY, _with
from tests.scope import system_access
from tests.signing.concluded import agreed_by_its_signer
from tests.signing.conftest import pki, pki_server, signing_settings  # noqa: F401 - the test PKI and its TSA
from tests.signing.pdfgen import make_pdf

PROJECT_DIR = Path(__file__).resolve().parents[2]


async def _agreed_contract(settings: Settings) -> tuple[async_sessionmaker[AsyncSession], uuid.UUID]:
    """A contract of 盛岡市 signed by its mayor: 封緘待ち."""
    maker = async_sessionmaker(create_async_engine(to_psycopg_url(settings.database.admin_url)), expire_on_commit=False)
    async with maker() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        contract = await agreed_by_its_signer(
            session,
            settings,
            member,
            files=[("契約書.pdf", make_pdf(1))],
            subject="図書館空調改修工事",
            counterparty="岩手空調株式会社",
            amount=1_200_000,
            transaction_date=dt.date(2026, 11, 30),
            value="内舘 茂",
        )
        await session.commit()
        assert contract.status is ContractStatus.SEALING
        return maker, contract.id


def _drill_databases(admin_url: str) -> list[str]:
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'kyodo_drill_%'").fetchall()
    return [row[0] for row in rows]


async def test_backup_list_and_a_restore_drill_that_validates_a_sealed_pdf(
    fresh_database: Settings,
    signing_settings: SigningSettings,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    source = _with(fresh_database, tmp_path / "data", fresh_database.database.admin_url)
    maker, contract_id = await _agreed_contract(source)
    pool = SealerPool(signing_settings)
    try:
        async with maker() as session:
            assert await seal_contract(session, source, pool, contract_id) is SealOutcome.SEALED
            await session.commit()
    finally:
        await pool.aclose()

    env = dict(
        os.environ,
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_DATABASE_ADMIN_URL=fresh_database.database.admin_url,
        KYODO_DATA_DIR=str(tmp_path / "data"),
        KYODO_MASTER_KEY=MASTER_KEY,
        KYODO_BACKUP_DIR=str(tmp_path / "backups"),
        KYODO_SIGNING_TRUST_ROOTS=os.pathsep.join(str(p) for p in signing_settings.trust_root_paths),
    )

    def kyodo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kyodo", "backup", *args],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    made = kyodo("run")
    assert made.returncode == 0, made.stderr
    listed = kyodo("list", "--verify")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "1 generation(s)" in listed.stdout
    assert "intact" in listed.stdout

    drill = kyodo("drill")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "audit trail: intact" in drill.stdout
    assert f"(contract {contract_id}): valid (signatures and timestamps)" in drill.stdout
    assert "contract_sealed_document 1" in drill.stdout
    assert "drill passed" in drill.stdout
    assert _drill_databases(fresh_database.database.admin_url) == []  # the scratch copy is gone

    # A trail changed after the fact is found in the restored copy: the drill fails.
    async with maker() as session:
        await system_access(session)
        await session.execute(text("SET LOCAL session_replication_role = replica"))  # past the append-only trigger
        await session.execute(update(AuditEvent).values(actor="書き換え").where(AuditEvent.contract_id == contract_id))
        await session.commit()
    await maker.kw["bind"].dispose()
    checking = dataclasses.replace(source, seal_key=signing_settings)
    tampered = await asyncio.to_thread(create_backup, source, tmp_path / "tampered")
    drilled = await asyncio.to_thread(restore_drill, checking, tampered)
    assert not drilled.ok
    assert drilled.chain_problems
    assert drilled.sealed_problems == []  # the sealed file itself is untouched
    assert _drill_databases(fresh_database.database.admin_url) == []
