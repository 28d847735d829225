"""A policy change made in one process takes effect in another within a second; a rolled-back one nowhere.

The change is made as the platform makes it: through :class:`~policy.services.RoleService`
on a session of the application's role (row-level security on), whose commit
announces it. The other process is a real `kyodo serve`, and a second policy
engine in this process that only learns of changes from Redis.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.scope import Principal, PrincipalKind, for_member
from core.settings import Settings, to_psycopg_url
from core.uow import pending_hooks
from kyodo.processes import free_port
from policy.engine import CHANNEL, PolicyEngine, PolicyListener
from policy.permissions import MEMBER_PERMISSIONS, member_domain
from policy.services import RoleService
from tests import factories as f

PROJECT_DIR = Path(__file__).resolve().parents[2]
ADMIN_LINK = 'href="/admin/staff"'


async def _seed(settings: Settings) -> tuple[uuid.UUID, uuid.UUID]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        staff = await f.staff(session, member, "morioka-viewer", roles=("viewer",))
        await session.commit()
    await engine.dispose()
    return member.id, staff.id


async def _set_admin(settings: Settings, member_id: uuid.UUID, staff_id: object, *, grant: bool, commit: bool) -> None:
    """Give or take the administrator role as the screens do, and commit or roll back."""
    engine = create_async_engine(to_psycopg_url(settings.database.url))  # the application's role
    editor = Principal(
        kind=PrincipalKind.STAFF,
        id=uuid.uuid4(),
        name="another administrator",
        consortium_id=uuid.uuid4(),
        member_id=member_id,
        permissions=frozenset(MEMBER_PERMISSIONS),
    )
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await for_member(session, member_id)
        roles = RoleService(session, member_id)
        if grant:
            await roles.assign(editor=editor, subject=f"staff:{staff_id}", role_name="admin")
        else:
            await roles.unassign(editor=editor, subject=f"staff:{staff_id}", role_name="admin")
        assert pending_hooks(session) == [f"policy.changed:{member_id}"]
        if commit:
            await session.commit()
        else:
            await session.rollback()
        assert pending_hooks(session) == []
    await engine.dispose()


async def _load(settings: Settings, policies: PolicyEngine, member_id: uuid.UUID) -> None:
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    async with async_sessionmaker(engine)() as session:
        await for_member(session, member_id)
        await policies.member_policy(session, member_id)
    await engine.dispose()


def _announced(pubsub: redis.client.PubSub, wait: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message and message["type"] == "message":
            seen.append(message["data"].decode())
    return seen


def _until(predicate: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError("the change did not arrive")


def _wait_for(client: httpx.Client, predicate: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate(client.get("/app").text):  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("the change did not reach the web process")


def test_policy_change_reaches_a_running_web_process_within_a_second(fresh_database: Settings, tmp_path: Path) -> None:
    member_id, staff_id = asyncio.run(_seed(fresh_database))
    domain = member_domain(member_id)
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

            # A second engine in this process, told of changes only through Redis.
            second = PolicyEngine()
            listener = PolicyListener(fresh_database.redis.url, policy_engine=second)
            listener.start()
            observer = redis.Redis.from_url(fresh_database.redis.url).pubsub()  # type: ignore[no-untyped-call]
            observer.subscribe(CHANNEL)
            try:
                assert listener.ready.wait(10)
                asyncio.run(_load(fresh_database, second, member_id))
                assert second.is_loaded(domain)
                _announced(observer, 0.2)  # the subscription's confirmation

                # Rolled back: nobody hears of it, and nothing changes anywhere.
                asyncio.run(_set_admin(fresh_database, member_id, staff_id, grant=True, commit=False))
                assert _announced(observer, 1.0) == []
                assert second.is_loaded(domain)
                assert ADMIN_LINK not in client.get("/app").text

                asyncio.run(_set_admin(fresh_database, member_id, staff_id, grant=True, commit=True))
                assert _wait_for(client, lambda page: ADMIN_LINK in page, timeout=1.0) < 1.0
                assert _until(lambda: not second.is_loaded(domain), timeout=1.0) < 1.0
                assert _announced(observer, 0.2) == [domain]  # once

                asyncio.run(_set_admin(fresh_database, member_id, staff_id, grant=False, commit=True))
                assert _wait_for(client, lambda page: ADMIN_LINK not in page, timeout=1.0) < 1.0
            finally:
                observer.close()
                listener.stop()
                listener.join(5)
    finally:
        server.terminate()
        server.wait(10)
