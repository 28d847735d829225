"""``/metrics``: the platform's state for Prometheus, in its text format (prometheus-client).

Every figure is read at scrape time from what all nodes share (PostgreSQL and
Redis), so any web node answers for the whole platform and two nodes answer
alike. The alerting rules that go with these names are ``deploy/prometheus/
kyodo-alerts.yml``.

Who may read it: a request with ``Authorization: Bearer <KYODO_METRICS_TOKEN>``,
or one from the machine itself (loopback), or from ``KYODO_OPERATOR_NETWORKS``
when that is set. Everyone else gets 403. The figures are platform-wide counts
and ages; nothing names a member, a contract or a person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from core.settings import Settings
from core.web import client_ip
from kyodo.backup import backups_in
from kyodo.celery_app import HEARTBEAT_PREFIX
from kyodo.health import CHECK_TIMEOUT_SECONDS
from kyodo.watch import provider_certificate
from reporting.repository import OperationsFigures, ReportingRepository
from tenants.auth import ip_allowed

__all__ = ["MetricsController", "Snapshot", "allowed", "exposition", "snapshot"]

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Everything one scrape reports."""

    at: dt.datetime
    database_up: bool = False
    redis_up: bool = False
    workers: list[str] = field(default_factory=list)
    figures: OperationsFigures | None = None
    provider_certificate_expiry: dt.datetime | None = None
    backup_at: dt.datetime | None = None
    backups_configured: bool = False


async def _database(session: AsyncSession, now: dt.datetime, renew_within: dt.timedelta) -> OperationsFigures:
    async with elevated(session):
        await session.execute(text("SET LOCAL statement_timeout = 5000"))
        return await ReportingRepository(session, None).operations(now=now, renew_within=renew_within)


async def _workers(client: Redis) -> list[str]:
    keys = [key async for key in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100)]
    return sorted(key.decode()[len(HEARTBEAT_PREFIX) :] for key in keys)


async def snapshot(settings: Settings, session: AsyncSession, client: Redis) -> Snapshot:
    """Read the platform's state; a service that does not answer is reported as down, not raised."""
    now = dt.datetime.now(dt.UTC)
    found = Snapshot(at=now)
    renew_within = dt.timedelta(days=settings.signing.renewal_margin_days)
    database, workers = await asyncio.gather(
        _database(session, now, renew_within),
        asyncio.wait_for(_workers(client), CHECK_TIMEOUT_SECONDS),
        return_exceptions=True,
    )
    if isinstance(database, BaseException):
        log.warning("metrics: database did not answer: %s", database)
    else:
        found.database_up, found.figures = True, database
    if isinstance(workers, BaseException):
        log.warning("metrics: Redis did not answer: %s", workers)
    else:
        found.redis_up, found.workers = True, workers
    try:
        cert = provider_certificate(settings)
    except (OSError, ValueError):
        cert = None
    found.provider_certificate_expiry = cert.not_valid_after_utc if cert is not None else None
    directory = settings.backup.directory
    found.backups_configured = directory is not None
    newest = backups_in(directory)[-1:] if directory is not None and directory.is_dir() else []
    if newest:
        found.backup_at = dt.datetime.fromtimestamp(newest[0].stat().st_mtime, dt.UTC)
    return found


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily | None:
    return None if value is None else GaugeMetricFamily(name, doc, value=value)


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def _days(now: dt.datetime, until: dt.datetime | None) -> float | None:
    return None if until is None else round((until - now).total_seconds() / 86400, 3)


class _SnapshotCollector(Collector):
    def __init__(self, found: Snapshot) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        s, now = self.found, self.found.at
        up = GaugeMetricFamily("kyodo_up", "1 when the service answered this scrape.", labels=["service"])
        up.add_metric(["database"], 1.0 if s.database_up else 0.0)
        up.add_metric(["redis"], 1.0 if s.redis_up else 0.0)
        yield up
        if s.redis_up:
            yield GaugeMetricFamily(
                "kyodo_worker_heartbeats", "Workers whose heartbeat is alive.", value=len(s.workers)
            )
        f = s.figures
        if f is not None:
            yield GaugeMetricFamily(
                "kyodo_seals_waiting", "Contracts agreed by every party, waiting for the seal.", value=f.seals_waiting
            )
            yield GaugeMetricFamily(
                "kyodo_seals_failed", "Contracts the sealer refused (need a correction).", value=f.seals_failed
            )
            yield GaugeMetricFamily(
                "kyodo_seal_oldest_wait_seconds",
                "How long the longest waiting contract has waited for its seal (0: none waits).",
                value=_age(now, f.oldest_seal_waiting_since),
            )
            yield GaugeMetricFamily(
                "kyodo_outbox_backlog", "Outbox rows (mails, tasks) not yet handed on.", value=f.outbox_backlog
            )
            yield GaugeMetricFamily(
                "kyodo_outbox_oldest_seconds",
                "Age of the oldest unsent outbox row (0: none).",
                value=_age(now, f.oldest_unsent_since),
            )
            yield GaugeMetricFamily(
                "kyodo_renewal_backlog",
                "Sealed files due for timestamp renewal and not yet renewed.",
                value=f.renewal_due,
            )
            yield CounterMetricFamily(
                "kyodo_mail_failures", "Mails recorded as undeliverable on contracts' trails.", value=f.mail_failures
            )
            yield GaugeMetricFamily(
                "kyodo_probe_failures_last_hour",
                "Failed synthetic checks in the last hour.",
                value=f.probes_failed_last_hour,
            )
            if f.last_probe_at is not None:
                yield GaugeMetricFamily(
                    "kyodo_probe_last_age_seconds",
                    "Seconds since beat's last synthetic check.",
                    value=_age(now, f.last_probe_at),
                )
                yield GaugeMetricFamily(
                    "kyodo_probe_last_ok",
                    "1 when the last synthetic check passed.",
                    value=1.0 if f.last_probe_ok else 0.0,
                )
                yield GaugeMetricFamily(
                    "kyodo_probe_last_latency_seconds",
                    "Duration of the last synthetic check.",
                    value=(f.last_probe_latency_ms or 0.0) / 1000,
                )
            tsa = _gauge(
                "kyodo_tsa_certificate_expiry_days",
                "Days until the TSA certificate behind the newest document timestamp expires.",
                _days(now, f.newest_timestamp_valid_until),
            )
            if tsa is not None:
                yield tsa
        provider = _gauge(
            "kyodo_provider_certificate_expiry_days",
            "Days until the provider's signing certificate expires.",
            _days(now, s.provider_certificate_expiry),
        )
        if provider is not None:
            yield provider
        if s.backups_configured:
            yield GaugeMetricFamily(
                "kyodo_backup_age_seconds",
                "Seconds since the newest backup was written (+Inf: none yet).",
                value=_age(now, s.backup_at) if s.backup_at is not None else float("inf"),
            )


def exposition(found: Snapshot) -> bytes:
    """The snapshot in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(found))
    return generate_latest(registry)


def allowed(settings: Settings, ip: str | None, authorization: str) -> bool:
    """The bearer token, loopback, or an operator network."""
    token = settings.alerts.metrics_token
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    if ip is not None:
        try:
            if ipaddress.ip_address(ip).is_loopback:
                return True
        except ValueError:
            return False
    networks = list(settings.security.operator_networks)
    return bool(networks) and ip_allowed(ip, networks)


class MetricsController(Controller):
    """Prometheus' scrape target."""

    path = "/metrics"
    tags = ("health",)
    include_in_schema = False

    @get("/", summary="Platform figures in Prometheus text format", cache=False)
    async def metrics(
        self, request: Request[object, object, State], db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        """Figures of every node's shared state; 403 unless the token, loopback or an operator network."""
        settings: Settings = request.app.state.settings
        if not allowed(settings, client_ip(request.scope), request.headers.get("authorization", "")):
            return Response(b"forbidden\n", status_code=403, media_type="text/plain")
        found = await snapshot(settings, db_session, request.app.state.redis)
        return Response(exposition(found), media_type=CONTENT_TYPE_LATEST)
