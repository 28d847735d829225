"""Lock-out under parallel guesses (ACC-6): at most KYODO_LOGIN_MAX_ATTEMPTS passwords are checked.

A penetration test sent fifteen wrong passwords for one account at once: every
one of them was checked and answered "wrong password", and the account stayed
unlocked. These tests send the guesses the same way, over real HTTP to a real
uvicorn server (in a thread of the test process, with its own event loop) that
works on a database of its own with committed data and a pool of connections,
so the sign-ins posted at once are handled at once, as in production.

How many passwords were checked is read from the answers ("wrong password" is
only ever said after a check) and, for staff, from the security log (one
``login_failed`` row per check).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import SecuritySettings, Settings, to_psycopg_url
from kyodo.app import create_app
from tenants import passwords
from tenants.auth import LoginFailure, login
from tenants.models import OperatorAccount, SecretariatAccount, SecurityEvent, SecurityEventKind, Staff, StaffStatus
from tenants.passwords import SecretKind, Verified
from tests import factories as f
from tests.conftest import TwoMembers
from tests.scope import system_access

GUESSES = 20
STAFF = "morioka-admin"
OTHER_STAFF = "hachimantai-admin"
SECRETARIAT = "jimukyoku"
OPERATOR = "kyodo-unyo"


@dataclasses.dataclass
class Platform:
    """The web application served by uvicorn over a committed database."""

    url: str
    settings: Settings


@asynccontextmanager
async def _system_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session of its own on the platform's database, seeing every member's rows."""
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await system_access(session)
            yield session
    finally:
        await engine.dispose()


async def _seed(settings: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            b = await f.member(session, group, "032140", "八幡平市")
            await f.staff(session, a, STAFF, roles=("admin",))
            await f.staff(session, b, OTHER_STAFF, roles=("admin",))
            await f.secretariat(session, group, SECRETARIAT)
            await f.operator(session, OPERATOR)
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture
def platform(fresh_database: Settings) -> Iterator[Platform]:
    """`create_app` served by a real uvicorn server on a free port, as `kyodo serve` runs it."""
    # The production pool (KYODO_DATABASE_POOL_SIZE's default), so that requests
    # are not queued behind a test-sized pool but meet at the database.
    settings = dataclasses.replace(fresh_database, database=dataclasses.replace(fresh_database.database, pool_size=10))
    asyncio.run(_seed(settings))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Platform(url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


def _answer(response: httpx.Response) -> str:
    if response.status_code == 303:
        return "signed in"
    assert response.status_code == 400, (response.status_code, response.text[-6000:])
    if "ロック" in response.text:
        return "locked"
    assert "正しくありません" in response.text, response.text[-1500:]
    return "wrong"


async def _sign_in_at_once(url: str, login_id: str, passwords: list[str]) -> Counter[str]:
    """Post every password for ``login_id`` at the same time; count the answers."""
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
        await client.get("/login")
        token = client.cookies["kyodo_csrf"]
        responses = await asyncio.gather(
            *(
                client.post(
                    "/login",
                    data={"login_id": login_id, "password": password, "_csrf_token": token},
                    follow_redirects=False,
                )
                for password in passwords
            )
        )
    return Counter(_answer(r) for r in responses)


async def _locked_until(
    platform: Platform, table: type[Staff] | type[SecretariatAccount] | type[OperatorAccount], login_id: str
) -> dt.datetime | None:
    async with _system_session(platform.settings) as session:
        return await session.scalar(select(table.locked_until).where(table.login_id == login_id))


async def _security_events(platform: Platform, login_id: str) -> Counter[SecurityEventKind]:
    async with _system_session(platform.settings) as session:
        return Counter(await session.scalars(select(SecurityEvent.kind).where(SecurityEvent.subject == login_id)))


async def test_parallel_wrong_passwords_lock_a_staff_account_after_the_limit(platform: Platform) -> None:
    limit = platform.settings.security.login_max_attempts
    wrong = [f"guess-{n}" for n in range(GUESSES)]
    # Another member's staff signs in while the guesses are being answered.
    answers, other = await asyncio.gather(
        _sign_in_at_once(platform.url, STAFF, wrong),
        _sign_in_at_once(platform.url, OTHER_STAFF, [f.PASSWORD]),
    )
    # limit checks: limit - 1 "wrong password", the last of them locks; the rest are never checked.
    assert answers == Counter({"wrong": limit - 1, "locked": GUESSES - (limit - 1)}), answers
    events = await _security_events(platform, STAFF)
    assert events[SecurityEventKind.LOGIN_FAILED] == limit
    assert events[SecurityEventKind.ACCOUNT_LOCKED] == 1
    until = await _locked_until(platform, Staff, STAFF)
    assert until is not None
    assert until > dt.datetime.now(dt.UTC)
    assert other == Counter({"signed in": 1})
    # The right password, alone or among more guesses, is refused now.
    assert await _sign_in_at_once(platform.url, STAFF, [f.PASSWORD]) == Counter({"locked": 1})
    assert await _sign_in_at_once(platform.url, STAFF, [f.PASSWORD, *wrong]) == Counter({"locked": GUESSES + 1})
    assert (await _security_events(platform, STAFF))[SecurityEventKind.LOGIN_FAILED] == limit


@pytest.mark.parametrize(
    ("login_id", "table"),
    [(SECRETARIAT, SecretariatAccount), (OPERATOR, OperatorAccount)],
    ids=["secretariat", "operator"],
)
async def test_parallel_wrong_passwords_lock_secretariat_and_operator_accounts_too(
    platform: Platform, login_id: str, table: type[SecretariatAccount] | type[OperatorAccount]
) -> None:
    limit = platform.settings.security.login_max_attempts
    wrong = [f"guess-{n}" for n in range(GUESSES)]
    answers = await _sign_in_at_once(platform.url, login_id, wrong)
    assert answers == Counter({"wrong": limit - 1, "locked": GUESSES - (limit - 1)}), answers
    until = await _locked_until(platform, table, login_id)
    assert until is not None
    assert until > dt.datetime.now(dt.UTC)
    assert await _sign_in_at_once(platform.url, login_id, [f.PASSWORD, *wrong[:5]]) == Counter({"locked": 6})


# --------------------------------------------------------------------------- the counter, one attempt at a time


async def _attempt(session: AsyncSession, login_id: str, password: str) -> LoginFailure | None:
    outcome = await login(session, login_id, password, ip="127.0.0.1", user_agent="t", security=SecuritySettings())
    await session.commit()
    return outcome.failure


async def _staff_row(session: AsyncSession, login_id: str) -> Staff:
    await system_access(session)
    staff = await session.scalar(select(Staff).where(Staff.login_id == login_id))
    assert staff is not None
    await session.refresh(staff)
    return staff


async def test_the_right_password_resets_the_count(db_session: AsyncSession, two_members: TwoMembers) -> None:
    limit = SecuritySettings().login_max_attempts
    for _ in range(limit - 1):
        assert await _attempt(db_session, STAFF, "wrong") is LoginFailure.INVALID
    assert (await _staff_row(db_session, STAFF)).failed_logins == limit - 1
    assert await _attempt(db_session, STAFF, f.PASSWORD) is None
    row = await _staff_row(db_session, STAFF)
    assert row.failed_logins == 0
    assert row.locked_until is None
    assert row.last_login_at is not None
    # A fresh count: limit - 1 more wrong passwords do not lock.
    for _ in range(limit - 1):
        assert await _attempt(db_session, STAFF, "wrong") is LoginFailure.INVALID
    assert await _attempt(db_session, STAFF, f.PASSWORD) is None


async def test_a_lock_that_has_run_out_starts_a_fresh_count(db_session: AsyncSession, two_members: TwoMembers) -> None:
    limit = SecuritySettings().login_max_attempts
    for _ in range(limit - 1):
        assert await _attempt(db_session, STAFF, "wrong") is LoginFailure.INVALID
    assert await _attempt(db_session, STAFF, "wrong") is LoginFailure.LOCKED
    assert await _attempt(db_session, STAFF, f.PASSWORD) is LoginFailure.LOCKED
    row = await _staff_row(db_session, STAFF)
    assert row.failed_logins == 0
    row.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await db_session.commit()
    assert await _attempt(db_session, STAFF, "wrong") is LoginFailure.INVALID
    assert (await _staff_row(db_session, STAFF)).failed_logins == 1
    assert await _attempt(db_session, STAFF, f.PASSWORD) is None


async def test_the_right_password_of_a_suspended_account_is_not_counted_as_wrong(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    row = await _staff_row(db_session, STAFF)
    row.status = StaffStatus.SUSPENDED
    await db_session.commit()
    for _ in range(SecuritySettings().login_max_attempts + 1):
        assert await _attempt(db_session, STAFF, f.PASSWORD) is LoginFailure.INACTIVE
    assert (await _staff_row(db_session, STAFF)).failed_logins == 0


async def test_passwords_are_checked_off_the_event_loop(
    db_session: AsyncSession, two_members: TwoMembers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 takes ~160 ms of CPU: on the event loop, guesses would hold up every other request."""
    checked_in: list[int] = []

    checks = passwords._verify

    def recording(password_hash: str | None, password: str, kind: SecretKind, *, rehash: bool) -> Verified:
        checked_in.append(threading.get_ident())
        return checks(password_hash, password, kind, rehash=rehash)

    monkeypatch.setattr(passwords, "_verify", recording)
    for login_id, password in ((STAFF, "wrong"), (STAFF, f.PASSWORD), (SECRETARIAT, "wrong"), ("nobody", "wrong")):
        await _attempt(db_session, login_id, password)
    assert len(checked_in) == 4
    assert threading.get_ident() not in checked_in
