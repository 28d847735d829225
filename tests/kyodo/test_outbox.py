"""The transactional outbox: nothing is sent unless its transaction committed."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from celery.result import AsyncResult
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import (
    OutboxMessage,
    _Relay,
    claim,
    enqueue,
    finish,
    lease_on_hand_over,
    relay_pending,
    set_relay_kick,
)
from core.settings import Settings, to_psycopg_url
from tests.conftest import start_worker, task_sender


async def test_rolled_back_work_is_never_sent(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        enqueue(session, "kyodo.ping", value="never")
        await session.rollback()
    async with maker() as session:
        assert await relay_pending(session) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    await engine.dispose()


async def test_committed_work_reaches_a_real_worker_once(fresh_database: Settings, tmp_path: Path) -> None:
    worker = start_worker(fresh_database, tmp_path, name="outbox")
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            message = enqueue(session, "kyodo.ping", value="届きました")
            await session.commit()
        sender = task_sender(fresh_database)
        async with maker() as session:
            assert await relay_pending(session, app=sender) == 1
            await session.commit()
        async with maker() as session:
            # A second relay pass finds nothing left to send.
            assert await relay_pending(session, app=sender) == 0
            row = await session.get(OutboxMessage, message.id)
            assert row is not None
            assert row.sent_at is not None
            assert row.attempts == 1
        result: AsyncResult[str] = AsyncResult(f"outbox-{message.id}-1", app=sender)
        assert result.get(timeout=30) == "届きました"
    finally:
        worker.stop()
        await engine.dispose()


async def test_outbox_rows_share_the_callers_transaction(db_session: AsyncSession) -> None:
    enqueue(db_session, "kyodo.ping", value="a")
    enqueue(db_session, "kyodo.ping", value="b")
    await db_session.flush()
    pending = await db_session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    )
    assert pending == 2


async def test_committed_work_is_relayed_at_once_without_beat(fresh_database: Settings, tmp_path: Path) -> None:
    # No beat runs here: only the kick registered for after the commit can get the row to the worker.
    from kyodo.celery_app import RELAY_TASK, _kick_relay

    sender = task_sender(fresh_database)

    # The platform's kick, pointed at this test's own broker database.
    def kick() -> None:
        sender.send_task(RELAY_TASK, ignore_result=True)

    set_relay_kick(kick)
    worker = start_worker(fresh_database, tmp_path, name="outbox-kick")
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            message = enqueue(session, "kyodo.ping", value="すぐ届きました")
            await session.commit()
        result: AsyncResult[str] = AsyncResult(f"outbox-{message.id}-1", app=sender)
        assert result.get(timeout=30) == "すぐ届きました"
        async with maker() as session:
            row = await session.get(OutboxMessage, message.id)
            assert row is not None
            assert row.sent_at is not None
    finally:
        set_relay_kick(_kick_relay)
        worker.stop()
        await engine.dispose()


async def test_a_web_process_relays_what_was_committed_itself(fresh_database: Settings, tmp_path: Path) -> None:
    # The worker takes no relay tasks and no beat runs: only the web process's own relay can
    # hand the row to the broker, and it must do so for a commit made on another event loop too.
    from kyodo.app import create_app

    settings = dataclasses.replace(fresh_database, worker=dataclasses.replace(fresh_database.worker, relay_inline=True))
    sender = task_sender(settings)
    worker = start_worker(settings, tmp_path, name="inline-relay", args=("-Q", "celery,mail"))
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await client.get("/health/live")).status_code == 200
            async with maker() as session:
                messages = [enqueue(session, "kyodo.ping", value=f"{n}件目") for n in range(3)]
                await session.commit()
            for n, message in enumerate(messages):
                result: AsyncResult[str] = AsyncResult(f"outbox-{message.id}-1", app=sender)
                assert await asyncio.to_thread(result.get, timeout=30) == f"{n}件目"
        async with maker() as session:
            rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            assert [(row.sent_at is not None, row.attempts) for row in rows] == [(True, 1)] * 3
    finally:
        worker.stop()
        await engine.dispose()


async def test_a_task_faster_than_the_relays_commit_still_claims_its_row(fresh_database: Settings) -> None:
    # The relay publishes the task before it commits: the worker's claim may come first.
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    lease_on_hand_over("kyodo.ping", lambda: 60)
    try:
        async with maker() as session:
            message = enqueue(session, "kyodo.ping", value="早い")
            await session.commit()
        async with maker() as relay, maker() as worker:
            assert await relay_pending(relay, app=task_sender(fresh_database)) == 1  # not committed yet
            racing = asyncio.create_task(claim(worker, message.id, 1, "attempt-a", 30))
            await asyncio.sleep(0.5)
            assert not racing.done()  # it waits for the relay's row lock
            await relay.commit()
            assert await racing
            await worker.commit()
        async with maker() as session:
            # The same hand-over delivered twice: the second attempt does not get the row.
            assert not await claim(session, message.id, 1, "attempt-b", 30)
            assert await claim(session, message.id, 1, "attempt-a", 30)  # the holder keeps it
            await finish(session, message.id, "sent")
            await session.commit()
        async with maker() as session:
            assert not await claim(session, message.id, 1, "attempt-a", 30)  # finished: nobody
            row = await session.get(OutboxMessage, message.id)
            assert row is not None
            assert (row.outcome, row.lease_holder, row.finished_at is not None) == ("sent", None, True)
    finally:
        _Relay.leased.pop("kyodo.ping", None)
        await engine.dispose()
