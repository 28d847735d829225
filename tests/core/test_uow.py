"""After-commit hooks run once for a committed transaction and never for a rolled-back one."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import enqueue, set_relay_kick
from core.settings import Settings, to_psycopg_url
from core.uow import after_commit, pending_hooks


async def test_hooks_run_after_commit_once_in_order(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    ran: list[str] = []

    async def later() -> None:
        ran.append("async")

    try:
        async with maker() as session:
            await session.execute(text("SELECT 1"))
            after_commit(session, lambda: ran.append("first"))
            after_commit(session, later)
            after_commit(session, lambda: ran.append("keyed"), key="k")
            after_commit(session, lambda: ran.append("keyed again"), key="k")
            assert ran == [], "nothing runs before the commit"
            await session.commit()
            await asyncio.sleep(0.05)
            assert ran == ["first", "keyed", "async"]
            # A second commit of the same session runs nothing again.
            await session.execute(text("SELECT 1"))
            await session.commit()
            await asyncio.sleep(0.05)
            assert ran == ["first", "keyed", "async"]
    finally:
        await engine.dispose()


async def test_rolled_back_work_runs_no_hook(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    ran: list[str] = []
    try:
        async with maker() as session:
            await session.execute(text("SELECT 1"))
            after_commit(session, lambda: ran.append("never"))
            await session.rollback()
            assert pending_hooks(session) == []
            await session.execute(text("SELECT 1"))
            await session.commit()
        assert ran == []
    finally:
        await engine.dispose()


async def test_a_failing_hook_neither_undoes_the_commit_nor_stops_the_others(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook failed")

    try:
        async with maker() as session:
            await session.execute(text("CREATE TEMP TABLE t (v int) ON COMMIT PRESERVE ROWS"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
            after_commit(session, broken)
            after_commit(session, lambda: ran.append("after"))
            await session.commit()
            assert ran == ["after"]
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await engine.dispose()


async def test_the_outbox_asks_for_a_relay_once_per_commit(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    kicks: list[int] = []
    set_relay_kick(lambda: kicks.append(1))
    try:
        async with maker() as session:
            enqueue(session, "kyodo.ping", value="a")
            enqueue(session, "kyodo.ping", value="b")
            await session.rollback()
        await asyncio.sleep(0.1)
        assert kicks == [], "a rolled-back outbox row asks for nothing"
        async with maker() as session:
            enqueue(session, "kyodo.ping", value="a")
            enqueue(session, "kyodo.ping", value="b")
            await session.commit()
        for _ in range(50):
            if kicks:
                break
            await asyncio.sleep(0.05)
        assert kicks == [1]
    finally:
        from kyodo.celery_app import _kick_relay

        set_relay_kick(_kick_relay)
        await engine.dispose()
