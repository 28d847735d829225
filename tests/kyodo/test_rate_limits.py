"""One address cannot try many accounts or links: per-address limits shared by every web node (Redis)."""

from __future__ import annotations

import dataclasses
import uuid

import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import Settings
from kyodo.app import create_app
from kyodo.ratelimit import rate_limit_store
from tests.conftest import PEER_HEADER, TwoMembers, _session_maker


def _node(
    settings: Settings,
    db_connection: AsyncConnection,
    *,
    sign_in_per_minute: int,
    link_per_minute: int,
    api_per_minute: int = 0,
) -> Litestar:
    security = dataclasses.replace(
        settings.security,
        sign_in_per_minute=sign_in_per_minute,
        link_per_minute=link_per_minute,
        api_per_minute=api_per_minute,
    )
    configured = dataclasses.replace(settings, security=security)
    return create_app(configured, session_maker=_session_maker(db_connection))


async def _attempt(client: AsyncTestClient[Litestar], peer: str) -> int:
    await client.get("/login", headers={PEER_HEADER: peer})
    response = await client.post(
        "/login",
        data={"login_id": "morioka-admin", "password": "wrong", "_csrf_token": client.cookies.get("kyodo_csrf") or ""},
        headers={PEER_HEADER: peer},
        follow_redirects=False,
    )
    return response.status_code


def _clear(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis.url)
    for key in client.scan_iter("kyodo:ratelimit*"):
        client.delete(key)
    client.close()


async def test_sign_in_attempts_per_address_are_limited_on_every_node(
    settings: Settings, db_connection: AsyncConnection, two_members: TwoMembers
) -> None:
    _clear(settings)
    attacker = f"198.51.100.{uuid.uuid4().int % 200 + 1}"
    first = _node(settings, db_connection, sign_in_per_minute=4, link_per_minute=0)
    second = _node(settings, db_connection, sign_in_per_minute=4, link_per_minute=0)
    async with AsyncTestClient(app=first) as a, AsyncTestClient(app=second) as b:
        answers = [await _attempt(a, attacker), await _attempt(b, attacker), await _attempt(a, attacker)]
        assert 429 not in answers
        await _attempt(b, attacker)
        blocked = await a.post(
            "/login",
            data={"login_id": "hachimantai-admin", "password": "x", "_csrf_token": a.cookies.get("kyodo_csrf") or ""},
            headers={PEER_HEADER: attacker},
            follow_redirects=False,
        )
        assert blocked.status_code == 429, "the fifth try from one address, whichever node and account"
        assert "しばらくお待ちください" in blocked.text
        assert "秒ほど待ってから" in blocked.text
        assert int(blocked.headers["retry-after"]) > 0
        # Another address (a colleague elsewhere) is not affected, and pages stay open.
        assert await _attempt(b, "203.0.113.77") != 429
        assert (await a.get("/login", headers={PEER_HEADER: attacker})).status_code == 200
    _clear(settings)


async def test_guessing_links_from_one_address_is_limited(
    settings: Settings, db_connection: AsyncConnection, two_members: TwoMembers
) -> None:
    _clear(settings)
    app = _node(settings, db_connection, sign_in_per_minute=0, link_per_minute=3)
    guesser = "198.51.100.250"
    async with AsyncTestClient(app=app) as client:
        answers = [(await client.get(f"/c/guess-{i}", headers={PEER_HEADER: guesser})).status_code for i in range(4)]
        assert 429 not in answers[:3], answers
        assert answers[3] == 429
        assert (await client.get("/c/guess-x", headers={PEER_HEADER: "203.0.113.8"})).status_code != 429
    _clear(settings)


async def test_the_limit_lets_requests_through_while_redis_is_down(settings: Settings) -> None:
    unreachable = dataclasses.replace(settings, redis=dataclasses.replace(settings.redis, url="redis://127.0.0.1:1/0"))
    store = rate_limit_store(unreachable)
    await store.set("probe", b"1", expires_in=60)  # no error
    assert await store.get("probe") is None, "counted as a fresh address: the account lock-outs still hold"


async def test_api_keys_are_limited_per_address(
    settings: Settings, db_connection: AsyncConnection, two_members: TwoMembers
) -> None:
    _clear(settings)
    app = _node(settings, db_connection, sign_in_per_minute=0, link_per_minute=0, api_per_minute=3)
    guesser = "198.51.100.251"
    async with AsyncTestClient(app=app) as client:
        answers = [
            (
                await client.get(
                    "/api/v1/contracts/", headers={PEER_HEADER: guesser, "Authorization": f"Bearer kyd_guess_{i}"}
                )
            ).status_code
            for i in range(4)
        ]
        assert 429 not in answers[:3], answers
        assert answers[3] == 429
        assert (await client.get("/health/live", headers={PEER_HEADER: guesser})).status_code == 200
        # The other header the API accepts is counted the same way.
        other = "198.51.100.252"
        by_header = [
            (
                await client.get("/api/v1/contracts/", headers={PEER_HEADER: other, "X-API-Key": f"kyd_guess_{i}"})
            ).status_code
            for i in range(4)
        ]
        assert by_header[3] == 429, by_header
    _clear(settings)
