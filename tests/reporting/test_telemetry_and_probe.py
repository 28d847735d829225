"""Request telemetry and the synthetic probe, through real HTTP against a real server, with real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from litestar import Litestar, get
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from reporting.models import ProbeResult, RequestMinute
from reporting.probe import probe, record_probe
from reporting.telemetry import TelemetryBuffer, move_completed_minutes
from tests.conftest import TwoMembers, WorkerProcess, sign_in
from tests.scope import system_access


@get("/test-only/boom", include_in_schema=False)
async def boom() -> None:
    """A page that fails, as a bug would."""
    raise RuntimeError("boom")


@pytest.fixture
async def server(app: Litestar) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port, in this test's event loop (same rolled-back transaction)."""
    app.register(boom)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        assert not task.done(), task
        await asyncio.sleep(0.05)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await task


async def test_requests_are_counted_per_member_with_server_errors(
    server: str, app: Litestar, two_members: TwoMembers, db_session: AsyncSession, settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=server) as morioka, httpx.AsyncClient(base_url=server) as hachimantai:
        await sign_in(morioka, "morioka-admin")  # type: ignore[arg-type]
        await sign_in(hachimantai, "hachimantai-admin")  # type: ignore[arg-type]
        for _ in range(5):
            assert (await morioka.get("/app")).status_code == 200
        assert (await morioka.get("/test-only/boom")).status_code == 500
        for _ in range(2):
            assert (await hachimantai.get("/app")).status_code == 200
        async with httpx.AsyncClient(base_url=server) as anonymous:
            assert (await anonymous.get("/login")).status_code == 200  # nobody's member: not counted

    buffer: TelemetryBuffer = app.state.telemetry
    client = Redis.from_url(settings.redis.url)
    try:
        # The web process flushes every few seconds by itself; flush what is left now.
        await buffer.flush(client)
        assert len(buffer) == 0
        await system_access(db_session)
        # Move as if two minutes had passed (minutes still running stay in Redis).
        await move_completed_minutes(db_session, client, now=time.time() + 180)
    finally:
        await client.aclose()

    totals = {
        member_id: (requests, errors, histogram_total)
        for member_id, requests, errors, histogram_total in await db_session.execute(
            select(
                RequestMinute.member_id,
                func.sum(RequestMinute.requests),
                func.sum(RequestMinute.server_errors),
                func.sum(func.array_length(RequestMinute.histogram, 1)),
            ).group_by(RequestMinute.member_id)
        )
    }
    # 盛岡市: five pages and one failure; 八幡平市: two pages. Signing in happens before
    # the session exists, and anonymous pages belong to no member.
    assert totals[two_members.a.id][:2] == (6, 1)
    assert totals[two_members.b.id][:2] == (2, 0)
    rows = (await db_session.scalars(select(RequestMinute).where(RequestMinute.member_id == two_members.a.id))).all()
    assert sum(sum(r.histogram) for r in rows) == 6


async def test_counts_wait_in_memory_while_redis_is_down(settings: Settings, two_members: TwoMembers) -> None:
    buffer = TelemetryBuffer()
    buffer.record(two_members.a.id, time.time(), 120.0, server_error=False)
    buffer.record(two_members.a.id, time.time(), 4000.0, server_error=True)
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        assert await buffer.flush(down) == 0
    finally:
        await down.aclose()
    assert len(buffer) >= 1
    up = Redis.from_url(settings.redis.url)
    try:
        assert await buffer.flush(up) >= 1
        assert len(buffer) == 0
    finally:
        await up.aclose()


async def test_probe_records_failure_then_success(
    server: str, db_session: AsyncSession, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Pages that do not answer as they should: what a user would find is recorded.
    first = await probe(server + "/elsewhere")
    assert not first.ok
    assert first.detail == "/health/ready 404; /login 404"
    from tests.conftest import start_worker

    # A generous wait: on a busy machine a worker takes a while to start.
    worker: WorkerProcess = start_worker(settings, tmp_path_factory.mktemp("probe"), name="probe", timeout=120)
    try:
        second = await probe(server)
    finally:
        worker.stop()
    assert second.ok, second.detail
    assert second.latency_ms > 0
    await system_access(db_session)
    for outcome in (first, second):
        await record_probe(db_session, outcome)
    stored = (await db_session.scalars(select(ProbeResult).order_by(ProbeResult.checked_at))).all()
    assert [(r.ok, r.detail) for r in stored][-2:] == [(False, first.detail), (True, "ok")]


async def test_probe_of_a_server_that_does_not_answer() -> None:
    outcome = await probe("http://127.0.0.1:1", limit_seconds=1)
    assert not outcome.ok
    assert "ConnectError" in outcome.detail
