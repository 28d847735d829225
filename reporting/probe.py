"""The synthetic probe: check the platform the way a user would, over HTTP (SLA-8).

Beat runs it every ``KYODO_PROBE_SECONDS`` against ``KYODO_PUBLIC_URL``: the
readiness endpoint must answer 200 and the sign-in page must render its form.
Each result (time, ok, latency, detail) is one ``probe_result`` row; failed
minutes are downtime in the monthly reports.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.models import ProbeResult

__all__ = ["PROBE_TIMEOUT_SECONDS", "ProbeOutcome", "probe", "record_probe"]

PROBE_TIMEOUT_SECONDS = 10.0
"""A page slower than this counts as down."""


@dataclass(frozen=True)
class ProbeOutcome:
    """What one check found."""

    checked_at: dt.datetime
    ok: bool
    latency_ms: float
    detail: str


async def probe(base_url: str, *, limit_seconds: float = PROBE_TIMEOUT_SECONDS) -> ProbeOutcome:
    """GET ``/health/ready`` and ``/login`` from ``base_url``; ok only if both work."""
    checked_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    problems: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=limit_seconds, follow_redirects=False) as client:
            ready = await client.get("/health/ready")
            if ready.status_code != 200:
                failed = ready.json().get("failed", []) if "json" in ready.headers.get("content-type", "") else []
                problems.append(f"/health/ready {ready.status_code} {','.join(failed)}".strip())
            page = await client.get("/login")
            if page.status_code != 200 or "<form" not in page.text:
                problems.append(f"/login {page.status_code}")
    except httpx.HTTPError as exc:
        problems.append(f"{type(exc).__name__}: {exc}"[:300])
    latency = round((time.perf_counter() - started) * 1000, 1)
    return ProbeOutcome(checked_at, not problems, latency, "; ".join(problems) or "ok")


async def record_probe(session: AsyncSession, outcome: ProbeOutcome) -> ProbeResult:
    """Keep one probe result."""
    row = ProbeResult(
        checked_at=outcome.checked_at, ok=outcome.ok, latency_ms=outcome.latency_ms, detail=outcome.detail
    )
    session.add(row)
    await session.flush()
    return row
