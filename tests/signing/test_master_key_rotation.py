"""Rotating the master key in place (deploy/README.md): `kyodo keys rotate` re-wraps, documents stay readable."""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from signing.blobs import BlobStore
from signing.webhooks import WebhookEndpoint, open_secret, seal_secret
from tests import factories as f
from tests.scope import system_access

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCUMENT = "%PDF-1.7\n% 盛岡市 庁舎清掃業務委託契約書\n%%EOF\n".encode()
SECRET = "whsec_" + base64.b64encode(b"finance-system-secret-24").decode()


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _with(settings: Settings, key: str, *previous: str) -> Settings:
    return dataclasses.replace(
        settings, contracts=dataclasses.replace(settings.contracts, master_key=key, previous_master_keys=previous)
    )


def _rotate(settings: Settings, key: str, *previous: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        KYODO_MASTER_KEY=key,
        KYODO_MASTER_KEY_PREVIOUS=",".join(previous),
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", "keys", "rotate"],
        env=env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


async def _read(session: AsyncSession, settings: Settings, member_id: uuid.UUID, digest: str) -> tuple[bytes, str]:
    await system_access(session)
    document = await BlobStore(settings).get(session, member_id, digest)
    endpoint = (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.member_id == member_id))).one()
    return document, open_secret(settings, endpoint.sealed_secret)


async def test_rotation_rewraps_every_key_and_keeps_every_document(fresh_database: Settings, tmp_path: Path) -> None:
    old, new = _key(), _key()
    before = _with(
        dataclasses.replace(fresh_database, app=dataclasses.replace(fresh_database.app, data_dir=tmp_path)), old
    )
    engine = create_async_engine(to_psycopg_url(fresh_database.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            digest = await BlobStore(before).put(session, member.id, DOCUMENT)
            session.add(
                WebhookEndpoint(
                    member_id=member.id,
                    label="財務会計システム",
                    url="https://zaimu.example.lg.jp/hooks",
                    events=["concluded"],
                    sealed_secret=seal_secret(before, SECRET),
                )
            )
            await session.commit()

        # Step 1: every node has the new key and still reads with the old one.
        during = _with(before, new, old)
        async with maker() as session:
            assert await _read(session, during, member.id, digest) == (DOCUMENT, SECRET)

        # A key nobody configured opens nothing: the rotation refuses and changes nothing.
        refused = _rotate(before, _key())
        assert refused.returncode != 0
        async with maker() as session:
            assert await _read(session, before, member.id, digest) == (DOCUMENT, SECRET)

        # Step 2: re-wrap under the new key.
        done = _rotate(during, new, old)
        assert done.returncode == 0, done.stderr
        assert "1 member document key(s) and 1 webhook secret(s) re-wrapped" in done.stdout

        # Step 3: the old key is dropped; the documents and the secret open with the new key alone.
        after = _with(before, new)
        async with maker() as session:
            assert await _read(session, after, member.id, digest) == (DOCUMENT, SECRET)
        async with maker() as session:
            with pytest.raises(InvalidTag):
                await _read(session, before, member.id, digest)
    finally:
        await engine.dispose()
