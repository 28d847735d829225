"""elevated() gives a session every member's rows inside the block and its own scope back afterwards."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.scope import Afterwards, elevated, for_member
from core.settings import Settings, to_psycopg_url

MEMBER = uuid.UUID("0193a8f0-0000-7000-8000-000000000001")


async def _scope(session: AsyncSession) -> tuple[str, str]:
    row = (
        await session.execute(
            text("SELECT current_setting('kyodo.system', true), current_setting('kyodo.member_id', true)")
        )
    ).one()
    return str(row[0]), str(row[1])


@pytest.fixture
async def session(fresh_database: Settings):
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


async def test_the_scope_comes_back_in_the_same_transaction(session: AsyncSession) -> None:
    await for_member(session, MEMBER)
    assert await _scope(session) == ("off", str(MEMBER))
    async with elevated(session):
        assert await _scope(session) == ("on", "")
    assert await _scope(session) == ("off", str(MEMBER)), "restored before the transaction ends"
    assert session.info["member_id"] == str(MEMBER)


async def test_a_python_error_inside_still_restores_the_scope(session: AsyncSession) -> None:
    await for_member(session, MEMBER)
    await _scope(session)
    with pytest.raises(LookupError):
        async with elevated(session):
            raise LookupError("refused by a service")
    # The caller may catch the refusal and carry on in the same transaction: it is a member's again.
    assert await _scope(session) == ("off", str(MEMBER))


async def test_a_database_error_inside_reaches_the_caller_as_itself(session: AsyncSession) -> None:
    await for_member(session, MEMBER)
    await _scope(session)
    with pytest.raises(DBAPIError) as raised:
        async with elevated(session):
            await session.execute(text("SELECT 1 / 0"))
    assert getattr(raised.value.orig, "sqlstate", None) == "22012", "division by zero, not 'transaction aborted'"
    await session.rollback()
    assert await _scope(session) == ("off", str(MEMBER)), "the next transaction starts in the member's scope"


async def test_afterwards_leaves_the_block_in_the_member_found_inside(session: AsyncSession) -> None:
    other = uuid.UUID("0193a8f0-0000-7000-8000-000000000002")
    await for_member(session, MEMBER)
    then = Afterwards()
    async with elevated(session, then):
        then.member(other)
    assert await _scope(session) == ("off", str(other))
    assert session.info["member_id"] == str(other)
    # Nothing chosen (the lookup found nothing, or failed): the scope before comes back.
    with pytest.raises(LookupError):
        async with elevated(session, Afterwards()):
            raise LookupError("no such link")
    assert await _scope(session) == ("off", str(other))
