"""Backups: a demo installation with a stored document is backed up and restored into an empty one, and checked."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from consortium.demo import seed_database
from core.settings import AppSettings, DatabaseSettings, Settings, to_psycopg_url
from kyodo.backup import BackupError, create_backup, restore_backup, verify_backup
from signing.blobs import BlobStore
from tenants.models import Member
from tests.conftest import _as_app_role, _create_database, _drop_database
from tests.scope import system_access

DOCUMENT = "%PDF-1.7\n% 盛岡市 契約書 (test document)\n%%EOF\n".encode()
MASTER_KEY = "q0f1nJd7w3eN4Tj6Lk8Hx2Vb5Zc9Ra1Sy0Pm3Qo6Ui4="


def _with(settings: Settings, data_dir: Path, url: str, *, key: str = MASTER_KEY) -> Settings:
    return dataclasses.replace(
        settings,
        app=AppSettings(data_dir=data_dir),
        database=DatabaseSettings(url=_as_app_role(url), admin_url=url, pool_size=1),
        contracts=dataclasses.replace(settings.contracts, master_key=key),
    )


async def _store_document(settings: Settings) -> tuple[uuid.UUID, str]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url), pool_size=1)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            await system_access(session)
            member_id = await session.scalar(select(Member.id).where(Member.lg_code == "032018"))
            assert member_id is not None
            sha = await BlobStore(settings).put(session, member_id, DOCUMENT)
            await session.commit()
            return member_id, sha
    finally:
        await engine.dispose()


async def _read_document(settings: Settings, member_id: uuid.UUID, sha: str) -> bytes:
    engine = create_async_engine(to_psycopg_url(settings.database.url), pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            await system_access(session)
            return await BlobStore(settings).get(session, member_id, sha)
    finally:
        await engine.dispose()


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def empty_database(admin_url: str) -> Iterator[str]:
    name = f"kyodo_restore_{uuid.uuid4().hex[:10]}"
    url = _create_database(admin_url, name)
    yield url
    _drop_database(admin_url, name)


async def test_a_backup_restores_into_an_empty_installation_and_documents_read_back(
    fresh_database: Settings, empty_database: str, tmp_path: Path
) -> None:
    source = _with(fresh_database, tmp_path / "source", fresh_database.database.admin_url)
    await seed_database(source.database.admin_url)
    member_id, sha = await _store_document(source)
    folder = await asyncio.to_thread(create_backup, source, tmp_path / "backups")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {"database.dump", "blobs.tar"}
    assert MASTER_KEY not in (folder / "manifest.json").read_text()  # the key is never in a backup
    assert verify_backup(folder).revision

    target = _with(fresh_database, tmp_path / "target", empty_database)
    await asyncio.to_thread(restore_backup, target, folder)
    for table in ("member", "staff", "contract_title", "document_key", "policy_rule"):
        assert _count(empty_database, table) == _count(source.database.admin_url, table) > 0, table
    # The application role reads the restored rows (grants) and the document decrypts.
    assert await _read_document(target, member_id, sha) == DOCUMENT
    with pytest.raises(BackupError, match="already has tables"):
        await asyncio.to_thread(restore_backup, target, folder)


async def test_a_damaged_backup_or_another_master_key_is_refused(
    fresh_database: Settings, empty_database: str, tmp_path: Path
) -> None:
    source = _with(fresh_database, tmp_path / "source", fresh_database.database.admin_url)
    await seed_database(source.database.admin_url)
    folder = await asyncio.to_thread(create_backup, source, tmp_path / "backups")

    other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    other_key = _with(fresh_database, tmp_path / "t1", empty_database, key=other)
    with pytest.raises(BackupError, match="master key"):
        await asyncio.to_thread(restore_backup, other_key, folder)
    dump = folder / "database.dump"
    damaged = bytearray(dump.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte in the middle of the dump
    dump.write_bytes(bytes(damaged))
    with pytest.raises(BackupError, match="damaged"):
        verify_backup(folder)
    with pytest.raises(BackupError, match="damaged"):
        await asyncio.to_thread(restore_backup, _with(fresh_database, tmp_path / "t2", empty_database), folder)
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row == (0,)  # nothing was restored


def test_the_backup_commands(fresh_database: Settings, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_DATABASE_ADMIN_URL=fresh_database.database.admin_url,
        KYODO_DATA_DIR=str(tmp_path / "data"),
        KYODO_MASTER_KEY=MASTER_KEY,
    )

    def kyodo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kyodo", "backup", *args], env=env, capture_output=True, text=True, check=False
        )

    created = kyodo("create", "--out", str(tmp_path / "backups"))
    assert created.returncode == 0, created.stderr
    folder = Path(created.stdout.strip())
    assert "master key apart" in created.stderr
    checked = kyodo("verify", str(folder))
    assert checked.returncode == 0, checked.stderr
    assert "intact" in checked.stdout
    (folder / "blobs.tar").write_bytes(b"not the archive that was written")
    damaged = kyodo("verify", str(folder))
    assert damaged.returncode == 1
    assert "blobs.tar does not match its SHA-256" in damaged.stderr
