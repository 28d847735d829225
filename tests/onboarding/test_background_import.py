"""10,000 staff imported in the background by a real worker, with progress shown (SAP-6(7)).

While a real worker applies the file, the test polls what the progress box
and ``GET /api/v1/staff-imports/{id}`` answer (the import's row read afresh
from the database, and :func:`onboarding.staff_import.import_progress` over it)
and fails unless it sees the import part-way: at least one answer still waiting
with some but not all rows processed, the figures never going backwards, and
only then ``done`` with every row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import relay_pending
from core.scope import elevated, for_member
from core.settings import Settings, to_psycopg_url
from onboarding.models import ImportStatus, StaffImport
from onboarding.staff_import import BACKGROUND_ROWS, commit_import, import_of, import_progress, preview
from tenants.models import Staff
from tests import factories as f
from tests.conftest import start_worker, task_sender

ROWS = 10_000


def _csv() -> bytes:
    lines = ["name,department,email,roles,titles"]
    lines += [f"職員 {i:05d},D{i % 10},staff{i:05d}@city.example.lg.jp,drafter,MAYOR" for i in range(ROWS)]
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


async def _poll(maker: Any, client: Redis, job_id: uuid.UUID, member_id: uuid.UUID) -> list[tuple[str, int, int]]:
    """(status, processed, total) as the screens show them, every 50 ms until the import ends."""
    seen: list[tuple[str, int, int]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        async with maker() as session:  # a new session each time: the database's state, not a cached object
            await for_member(session, member_id)
            job = await import_of(session, member_id, job_id)
            progress = await import_progress(client, job)
        seen.append((job.status.value, progress["processed"], progress["total"]))
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        await asyncio.sleep(0.05)
    return seen


async def test_ten_thousand_rows_import_in_the_background(fresh_database: Settings, tmp_path: Path) -> None:
    assert ROWS > BACKGROUND_ROWS
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    client = Redis.from_url(fresh_database.redis.url)
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
            assert await commit_import(session, job, member) is False  # handed to a worker
            assert job.status is ImportStatus.QUEUED
            await session.commit()
            preview_seconds = time.monotonic() - started

        async with maker() as session:
            assert await relay_pending(session, app=task_sender(fresh_database)) == 1
            await session.commit()
        applying = time.monotonic()
        seen = await _poll(maker, client, job.id, member.id)
        apply_seconds = time.monotonic() - applying

        assert seen[-1] == (ImportStatus.DONE.value, ROWS, ROWS), worker.log_path.read_text()[-3000:]
        waiting = {ImportStatus.QUEUED.value, ImportStatus.RUNNING.value}
        running = [(processed, total) for status, processed, total in seen if status in waiting]
        # The screen showed the import part-way, not only "waiting" and then "done" …
        assert any(0 < processed < ROWS for processed, _ in running), seen
        assert {total for _, total in running} == {ROWS}
        # … and its figures only ever went forward.
        figures = [processed for _, processed, _ in seen]
        assert figures == sorted(figures), seen

        async with maker() as session, elevated(session):
            count = await session.scalar(select(func.count()).select_from(Staff).where(Staff.member_id == member.id))
            assert count == ROWS + 1  # and the administrator
            row = await session.get(StaffImport, job.id)
            assert row is not None
            assert row.result["created"] == ROWS
        steps = sorted({p for p in figures if 0 < p < ROWS})
        print(f"preview of {ROWS} rows: {preview_seconds:.1f}s; applied in {apply_seconds:.1f}s, seen at {steps}")
    finally:
        worker.stop()
        await client.aclose()
        await engine.dispose()
