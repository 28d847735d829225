"""Liveness and readiness.

``/health/live`` answers while the process runs. ``/health/ready`` asks PostgreSQL,
Redis and the Celery worker heartbeats, each within a short time limit, and says
which failed; a load balancer takes the process out of rotation on 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kyodo.celery_app import HEARTBEAT_PREFIX

__all__ = ["CHECK_TIMEOUT_SECONDS", "HealthController", "readiness"]

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass
class CheckResult:
    """One dependency's answer."""

    ok: bool
    latency_ms: float
    detail: str = ""


async def _timed(check: Awaitable[str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported as text
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    return CheckResult(ok=ok, latency_ms=round((time.perf_counter() - started) * 1000, 1), detail=detail)


async def _database(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _redis(client: Redis) -> str:
    await client.ping()
    return "ok"


async def _workers(client: Redis) -> str:
    keys = [key async for key in client.scan_iter(match=HEARTBEAT_PREFIX + "*")]
    names = [key.decode()[len(HEARTBEAT_PREFIX) :] for key in keys]
    if not names:
        raise LookupError("no Celery worker heartbeat")
    return ", ".join(sorted(names))


async def readiness(engine: AsyncEngine, client: Redis) -> tuple[bool, dict[str, CheckResult]]:
    """Run every check concurrently; ready only if all pass."""
    database, redis_check, worker = await asyncio.gather(
        _timed(_database(engine)), _timed(_redis(client)), _timed(_workers(client))
    )
    checks = {"database": database, "redis": redis_check, "worker": worker}
    return all(c.ok for c in checks.values()), checks


class HealthController(Controller):
    """Probes for load balancers, orchestrators and the synthetic monitor."""

    path = "/health"
    tags = ("health",)

    @get("/live", summary="Process is up", cache=False)
    async def live(self) -> dict[str, str]:
        """Always 200 while the process can answer."""
        return {"status": "ok"}

    @get("/ready", summary="Database, Redis and a worker answer", cache=False)
    async def ready(self, db_engine: NamedDependency[AsyncEngine], state: State) -> Response[dict[str, object]]:
        """200 when PostgreSQL, Redis and at least one Celery worker answer; 503 otherwise."""
        ok, checks = await readiness(db_engine, state.redis)
        body: dict[str, object] = {
            "status": "ok" if ok else "unavailable",
            "checks": {name: vars(result) for name, result in checks.items()},
            "failed": [name for name, result in checks.items() if not result.ok],
        }
        return Response(body, status_code=200 if ok else 503)
