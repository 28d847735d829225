"""10,000 staff imported in the background by a real worker, with progress shown (SAP-6(7))."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import relay_pending
from core.scope import Principal, PrincipalKind, for_member, system_access
from core.settings import Settings, to_psycopg_url
from onboarding.controllers import _commit
from onboarding.models import ImportStatus, StaffImport
from onboarding.staff_import import preview
from onboarding.tasks import progress_key
from tenants.models import Staff
from tests import factories as f
from tests.conftest import start_worker, task_sender

ROWS = 10_000


def _csv() -> bytes:
    lines = ["name,department,email,roles,titles"]
    lines += [f"職員 {i:05d},D{i % 10},staff{i:05d}@city.example.lg.jp,drafter,MAYOR" for i in range(ROWS)]
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


async def _wait(maker: Any, client: redis.Redis, job_id: uuid.UUID) -> tuple[ImportStatus, list[int]]:
    """Poll like the screen does (progress from Redis, state from the database) until the end."""
    seen: list[int] = []
    deadline = time.monotonic() + 240
    status = ImportStatus.QUEUED
    while time.monotonic() < deadline:
        raw = client.get(progress_key(job_id))
        if raw:
            seen.append(int(json.loads(raw)["processed"]))
        async with maker() as session:
            await system_access(session)
            row = await session.get(StaffImport, job_id)
            assert row is not None
            status = row.status
        if status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        await asyncio.sleep(0.5)
    return status, seen


async def test_ten_thousand_rows_import_in_the_background(fresh_database: Settings, tmp_path: Path) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    client = redis.Redis.from_url(fresh_database.redis.url)
    worker = start_worker(fresh_database, tmp_path, name="import")
    try:
        async with maker() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            admin = await f.staff(session, member, "morioka-admin")
            for i in range(10):
                await f.department(session, member, f"D{i}", f"課{i}")
            await f.title(session, member, "MAYOR", "市長", "盛岡市長")
            await session.commit()
        async with maker() as session:
            await for_member(session, member.id)
            started = time.monotonic()
            job = await preview(session, member, filename="big.csv", data=_csv(), uploaded_by_id=admin.id)
            assert job.problems == []
            assert job.result == {"created": ROWS, "updated": 0, "unchanged": 0}
            principal = Principal(
                kind=PrincipalKind.STAFF, id=admin.id, name="admin", consortium_id=group.id, member_id=member.id
            )
            await _commit(session, principal, job)
            assert job.status is ImportStatus.QUEUED
            await session.commit()
            preview_seconds = time.monotonic() - started
        async with maker() as session:
            assert await relay_pending(session, app=task_sender(fresh_database)) == 1
            await session.commit()

        status, seen_progress = await _wait(maker, client, job.id)
        assert status is ImportStatus.DONE, worker.log_path.read_text()[-3000:]
        # Progress moved through intermediate figures (batches of 1,000) up to the total.
        assert seen_progress, "no progress was ever reported"
        assert any(0 < p < ROWS for p in seen_progress) or max(seen_progress) == ROWS
        async with maker() as session:
            await system_access(session)
            count = await session.scalar(select(func.count()).select_from(Staff).where(Staff.member_id == member.id))
            assert count == ROWS + 1  # and the administrator
            row = await session.get(StaffImport, job.id)
            assert row is not None
            assert row.result["created"] == ROWS
        print(f"preview of {ROWS} rows: {preview_seconds:.1f}s")
    finally:
        worker.stop()
        client.close()
        await engine.dispose()
