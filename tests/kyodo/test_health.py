"""/health/live and /health/ready against the real PostgreSQL, Redis and Celery worker."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import httpx
from litestar.testing import AsyncTestClient

from core.settings import DatabaseSettings, RedisSettings, Settings
from kyodo.app import create_app
from kyodo.embedded import EmbeddedRedis
from tests.conftest import WorkerProcess, start_worker


async def test_live_answers_while_the_process_runs(client: AsyncTestClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_200_when_database_redis_and_a_worker_answer(
    client: AsyncTestClient, celery_worker: WorkerProcess
) -> None:
    response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "redis", "worker"}
    assert celery_worker.name in body["checks"]["worker"]["detail"]


async def test_ready_is_503_and_names_the_worker_when_no_worker_runs(settings: Settings) -> None:
    # A Redis database that no worker of this run reports to.
    base = settings.redis.url.rpartition("/")[0]
    lonely = dataclasses.replace(settings, redis=RedisSettings(url=f"{base}/60"))
    async with AsyncTestClient(app=create_app(lonely)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["worker"]


async def test_ready_is_503_and_names_the_database_when_it_is_unreachable(settings: Settings) -> None:
    broken = dataclasses.replace(settings, database=DatabaseSettings(url="postgresql://nobody@127.0.0.1:1/nothing"))
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert "database" in response.json()["failed"]


def _ready(client: httpx.Client) -> httpx.Response:
    return client.get("/health/ready")


def test_ready_goes_503_when_redis_stops_and_back_to_200_when_it_returns(settings: Settings, tmp_path: Path) -> None:
    """Stop the real Redis under a running app and worker, then start it again."""
    from litestar.testing import TestClient

    redis_server = EmbeddedRedis(tmp_path)
    redis_server.start()
    own = dataclasses.replace(settings, redis=RedisSettings(url=redis_server.url(0)))
    worker = start_worker(own, tmp_path, name="redis-outage")
    try:
        with TestClient(app=create_app(own)) as client:
            assert _ready(client).status_code == 200

            redis_server.stop()
            down = _ready(client)
            assert down.status_code == 503
            assert "redis" in down.json()["failed"]
            assert down.json()["checks"]["database"]["ok"] is True

            redis_server.start()  # same port, same data folder
            deadline = time.monotonic() + 45
            while (response := _ready(client)).status_code != 200:
                assert time.monotonic() < deadline, response.json()
                time.sleep(0.5)
            assert response.json()["failed"] == []
    finally:
        worker.stop()
        redis_server.stop()
