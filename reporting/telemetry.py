"""Request telemetry per member: counts, server errors and a latency histogram per minute.

Three stages keep the request path cheap and safe:

1. :func:`telemetry_middleware` (inside authentication, so ``scope["user"]`` names
   the member) adds each finished request to an in-process :class:`TelemetryBuffer`.
   No I/O happens in the request.
2. A background task of each web process (:func:`telemetry_lifespan`) hands the
   buffer to Redis every few seconds with one pipeline of ``HINCRBY``; when Redis is
   down the counts stay in the buffer (bounded) and go with the next flush.
3. Beat runs :func:`move_completed_minutes`, which moves minutes that are over from
   Redis to the ``request_minute`` table (one row per member and minute).

Latencies are counted in fixed, roughly log-spaced bins (:data:`LATENCY_BOUNDS_MS`);
the bins of any set of minutes add up, so p50/p95/p99 of any period come from the
summed histogram (:func:`percentile`), exact to the bin.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.repository import ReportingRepository

__all__ = [
    "BIN_COUNT",
    "LATENCY_BOUNDS_MS",
    "TelemetryBuffer",
    "bin_index",
    "move_completed_minutes",
    "percentile",
    "telemetry_lifespan",
    "telemetry_middleware",
]

log = logging.getLogger(__name__)

LATENCY_BOUNDS_MS: tuple[int, ...] = (
    5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000, 20000, 30000, 60000,
)  # fmt: skip
"""Upper bounds (inclusive) of the latency bins; one more bin holds everything slower.

The 1-2-3-5 steps put a bound exactly on the usual targets (3 s, 5 s), so "within
target" is decided without rounding.
"""
BIN_COUNT = len(LATENCY_BOUNDS_MS) + 1

MINUTES_KEY = "kyodo:telemetry:minutes"
"""Sorted set of minutes (epoch seconds) that have counts waiting in Redis."""
MINUTE_KEY = "kyodo:telemetry:m:{}"
"""Hash of one minute: ``<member>|c`` requests, ``|e`` server errors, ``|s`` latency sum, ``|h<i>`` bins."""
MAX_BUFFERED_MINUTES = 24 * 60 * 10
"""Buffer cap while Redis is down (member-minutes); older counts are dropped beyond it."""


def bin_index(latency_ms: float) -> int:
    """The bin a latency falls in (``latency <= bound``)."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def percentile(histogram: Sequence[int], fraction: float) -> float | None:
    """The upper bound of the bin holding the ``fraction`` quantile (None without data; inf beyond 60 s)."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= rank:
            return float(LATENCY_BOUNDS_MS[index]) if index < len(LATENCY_BOUNDS_MS) else math.inf
    return math.inf  # pragma: no cover - the loop always reaches rank


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    latency_sum: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * BIN_COUNT)

    def add(self, other: _Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        self.bins = [a + b for a, b in zip(self.bins, other.bins, strict=True)]


class TelemetryBuffer:
    """Counts of this process not yet handed to Redis, by (member, minute)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], _Counts] = {}

    def __len__(self) -> int:
        return len(self._counts)

    def record(self, member_id: uuid.UUID, at: float, latency_ms: float, *, server_error: bool) -> None:
        """Count one finished request (cheap: a dict update)."""
        key = (str(member_id), int(at // 60) * 60)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = _Counts()
        counts.requests += 1
        counts.errors += int(server_error)
        counts.latency_sum += round(latency_ms)
        counts.bins[bin_index(latency_ms)] += 1

    async def flush(self, client: Redis) -> int:
        """Hand every count to Redis in one pipeline; on failure keep them for the next try.

        Returns the number of member-minutes sent.
        """
        if not self._counts:
            return 0
        taken, self._counts = self._counts, {}
        pipe = client.pipeline(transaction=False)
        for (member, minute), counts in taken.items():
            key = MINUTE_KEY.format(minute)
            pipe.hincrby(key, f"{member}|c", counts.requests)
            if counts.errors:
                pipe.hincrby(key, f"{member}|e", counts.errors)
            pipe.hincrby(key, f"{member}|s", counts.latency_sum)
            for index, count in enumerate(counts.bins):
                if count:
                    pipe.hincrby(key, f"{member}|h{index}", count)
            pipe.zadd(MINUTES_KEY, {str(minute): minute})
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("request telemetry kept in memory, Redis did not take it: %s", exc)
            for kept, counts in taken.items():
                self._counts.setdefault(kept, _Counts()).add(counts)
            if len(self._counts) > MAX_BUFFERED_MINUTES:
                for old in sorted(self._counts, key=lambda k: k[1])[: len(self._counts) - MAX_BUFFERED_MINUTES]:
                    del self._counts[old]
            return 0
        return len(taken)


def _member_of(scope: Scope) -> uuid.UUID | None:
    user = scope.get("user")
    member = getattr(user, "member_id", None)
    return member if isinstance(member, uuid.UUID) else None


def telemetry_middleware(app: ASGIApp) -> ASGIApp:
    """Count each request of a member's staff or API key: latency to the last body byte, and 5xx."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        wall = time.time()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            member = _member_of(scope)
            buffer: TelemetryBuffer | None = scope["litestar_app"].state.get("telemetry")
            if member is not None and buffer is not None:
                elapsed_ms = (time.perf_counter() - started) * 1000
                buffer.record(member, wall, elapsed_ms, server_error=status >= 500)

    return middleware


def telemetry_lifespan(interval_seconds: float) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Keep a :class:`TelemetryBuffer` in ``app.state.telemetry`` and flush it to Redis periodically."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        buffer = TelemetryBuffer()
        app.state.telemetry = buffer
        client: Redis = app.state.redis

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_seconds)
                await buffer.flush(client)

        task = asyncio.create_task(loop(), name="telemetry-flush")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await buffer.flush(client)

    return lifespan


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _rows(minute: int, fields: dict[bytes, bytes]) -> Iterable[dict[str, Any]]:
    by_member: dict[str, _Counts] = {}
    for raw_name, raw_value in fields.items():
        member, _, kind = raw_name.decode().partition("|")
        counts = by_member.setdefault(member, _Counts())
        value = int(raw_value)
        if kind == "c":
            counts.requests = value
        elif kind == "e":
            counts.errors = value
        elif kind == "s":
            counts.latency_sum = value
        elif kind.startswith("h"):
            counts.bins[int(kind[1:])] = value
    at = dt.datetime.fromtimestamp(minute, dt.UTC)
    for member, counts in by_member.items():
        yield {
            "member_id": uuid.UUID(member),
            "minute": at,
            "requests": counts.requests,
            "errors": counts.errors,
            "latency_sum": counts.latency_sum,
            "histogram": counts.bins,
        }


async def move_completed_minutes(session: AsyncSession, client: Redis, *, now: float | None = None) -> int:
    """Move minutes that ended at least a flush interval ago from Redis to ``request_minute``.

    The session must see every member's rows (inside :func:`core.scope.elevated`).
    Each minute's hash is renamed before it is read, so increments arriving
    meanwhile start a fresh hash for the next pass, and added (not overwritten)
    into the table. Returns the number of rows written.
    """
    cutoff = (now if now is not None else time.time()) - 120
    written = 0
    repo = ReportingRepository(session, None)
    pending = [bytes(raw) for raw in await client.zrangebyscore(MINUTES_KEY, "-inf", cutoff) if isinstance(raw, bytes)]
    for raw in pending:
        minute = int(raw)
        key = MINUTE_KEY.format(minute)
        moving = f"{key}:moving"
        # A previous pass may have died after renaming: finish that one first.
        if not await client.exists(moving):
            try:
                await client.rename(key, moving)
            except RedisError:
                await client.zrem(MINUTES_KEY, raw)  # nothing left under that minute
                continue
        raw_fields = await client.hgetall(moving)
        fields = {_b(k): _b(v) for k, v in raw_fields.items()}
        rows = list(_rows(minute, fields))
        if rows:
            await repo.add_request_minutes(rows)
            written += len(rows)
        await session.commit()
        await client.delete(moving)
        if not await client.exists(key):
            await client.zrem(MINUTES_KEY, raw)
    return written
