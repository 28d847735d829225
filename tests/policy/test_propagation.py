"""A policy change made in one process takes effect in another within a second."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from kyodo.processes import free_port
from policy.engine import CHANNEL
from policy.models import PolicyRule
from policy.permissions import member_domain
from tests import factories as f

PROJECT_DIR = Path(__file__).resolve().parents[2]
ADMIN_LINK = 'href="/admin/staff"'


async def _seed(settings: Settings) -> tuple[object, object]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        staff = await f.staff(session, member, "morioka-viewer", roles=("viewer",))
        await session.commit()
    await engine.dispose()
    return member.id, staff.id


async def _set_admin(settings: Settings, member_id: object, staff_id: object, *, grant: bool) -> None:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    async with async_sessionmaker(engine)() as session:
        if grant:
            session.add(PolicyRule(member_id=member_id, ptype="g", v0=f"staff:{staff_id}", v1="role:admin"))
        else:
            await session.execute(
                delete(PolicyRule).where(PolicyRule.v0 == f"staff:{staff_id}", PolicyRule.v1 == "role:admin")
            )
        await session.commit()
    await engine.dispose()
    redis.Redis.from_url(settings.redis.url).publish(CHANNEL, member_domain(member_id))


def _wait_for(client: httpx.Client, predicate: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate(client.get("/app").text):  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("the change did not reach the web process")


def test_policy_change_reaches_a_running_web_process_within_a_second(fresh_database: Settings, tmp_path: Path) -> None:
    member_id, staff_id = asyncio.run(_seed(fresh_database))
    port = free_port()
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=fresh_database.database.url,
        KYODO_REDIS_URL=fresh_database.redis.url,
        KYODO_DATA_DIR=str(tmp_path),
        KYODO_PORT=str(port),
    )
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "kyodo", "serve"], env=env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    client.get("/login")
                    break
                except httpx.HTTPError:
                    assert server.poll() is None, log_path.read_text()[-3000:]
                    assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                    time.sleep(0.2)
            login = client.post(
                "/login",
                data={
                    "login_id": "morioka-viewer",
                    "password": f.PASSWORD,
                    "_csrf_token": client.cookies["kyodo_csrf"],
                },
            )
            assert login.status_code == 303
            assert ADMIN_LINK not in client.get("/app").text  # the policy is now cached in the server

            asyncio.run(_set_admin(fresh_database, member_id, staff_id, grant=True))
            assert _wait_for(client, lambda page: ADMIN_LINK in page, timeout=1.0) < 1.0

            asyncio.run(_set_admin(fresh_database, member_id, staff_id, grant=False))
            assert _wait_for(client, lambda page: ADMIN_LINK not in page, timeout=1.0) < 1.0
    finally:
        server.terminate()
        server.wait(10)
