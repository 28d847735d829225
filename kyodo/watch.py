"""Alerts for the provider's operators: what is wrong now, mailed once, and mailed again when it is over.

``kyodo watch`` runs :class:`Watcher` every ``KYODO_ALERT_INTERVAL_SECONDS``. It
checks what an SLA rests on and what the platform cannot notice from inside a
worker, because the worker may be the thing that is down:

* PostgreSQL and Redis answer;
* at least one worker reports its heartbeat;
* the outbox is relayed (no row older than ``KYODO_ALERT_OUTBOX_MINUTES``);
* no contract waits for its seal longer than ``KYODO_ALERT_SEAL_MINUTES``, and none
  could not be sealed;
* beat's synthetic probe keeps writing rows (none for five intervals means beat or
  the probe is down: a total outage looks exactly like this) and its last one passed;
* the provider's signing certificate is valid for more than ``KYODO_ALERT_CERT_DAYS``;
* with scheduled backups on, the newest backup is less than 26 hours old.

Mail goes straight through SMTP (:func:`signing.mail.deliver`), not through the
outbox and a worker, so that "no worker" and "Redis down" still reach someone.
Each alert is sent once, repeated every ``KYODO_ALERT_REPEAT_HOURS`` while it lasts,
and followed by a 【解消】 mail. Several watchers (one per node) share their state
in Redis, so one mail goes out; with Redis down each keeps its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis
from cryptography import x509
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import session_scope
from core.outbox import OutboxMessage
from core.runtime import redis_url
from core.scope import elevated
from core.settings import Settings
from kyodo.backup import backups_in
from kyodo.celery_app import HEARTBEAT_PREFIX
from reporting.models import ProbeResult
from signing.mail import deliver
from signing.models import ContractStatus
from signing.repositories.seals import SealQueue

__all__ = ["Alert", "Watcher", "provider_certificate"]

log = logging.getLogger(__name__)

STATE_KEY = "kyodo:alerts"
"""Redis hash: alert key → JSON {first, sent, title} of every alert currently open."""


@dataclass(frozen=True)
class Alert:
    """Something wrong right now."""

    key: str
    title: str
    detail: str = ""


@dataclass
class _Open:
    title: str
    first: float
    sent: float


def provider_certificate(settings: Settings) -> x509.Certificate | None:
    """The provider's signing certificate from its PKCS#12 file (None: no file; ValueError: unreadable)."""
    path = settings.seal_key.pkcs12_path
    if path is None or not path.is_file():
        return None
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415 - only with a key file

    passphrase = (settings.seal_key.pkcs12_passphrase or "").encode() or None
    _key, cert, _chain = pkcs12.load_key_and_certificates(path.read_bytes(), passphrase)
    return cert


@dataclass
class Watcher:
    """Checks once per call to :meth:`run_once`; mails what opened, repeats what lasts, closes what ended."""

    settings: Settings
    now: Callable[[], float] = time.time
    started: float | None = None
    """When this watcher began; None: long ago (a fresh installation's first probe is not yet overdue)."""
    _local: dict[str, _Open] = field(default_factory=dict)

    # ------------------------------------------------------------------ checks

    async def _database_checks(self) -> list[Alert]:
        alerts: list[Alert] = []
        config = self.settings.alerts
        async with session_scope(self.settings) as session, elevated(session):
            await session.execute(text("SELECT 1"))
            alerts += await self._outbox(session, config.outbox_minutes)
            alerts += await self._seals(session, config.seal_minutes)
            alerts += await self._probes(session)
        return alerts

    async def _outbox(self, session: AsyncSession, minutes: int) -> list[Alert]:
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.sent_at.is_(None))
            )
        ).one()
        if oldest is None or dt.datetime.now(dt.UTC) - oldest < dt.timedelta(minutes=minutes):
            return []
        return [
            Alert(
                "outbox",
                "送信待ちの処理が滞っています",
                f"未送信 {count} 件、最も古いものは {oldest.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC から待っています。"
                "Redis とワーカーの状態を確認してください。",
            )
        ]

    async def _seals(self, session: AsyncSession, minutes: int) -> list[Alert]:
        waiting = await SealQueue(session, None).needing_seal()
        failed = [w for w in waiting if w.status is ContractStatus.SEAL_FAILED]
        limit = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
        late = [
            w
            for w in waiting
            if w.status is ContractStatus.SEALING and w.completed_at is not None and w.completed_at < limit
        ]
        alerts: list[Alert] = []
        if failed:
            alerts.append(
                Alert(
                    "seal-failed",
                    f"封緘できなかった契約が {len(failed)} 件あります",
                    "`kyodo seal pending` で一覧を確認し、団体に差し替えを依頼するか"
                    " `kyodo seal retry` で再実行してください。",
                )
            )
        if late:
            alerts.append(
                Alert(
                    "seal-late",
                    f"{minutes} 分以上封緘を待っている契約が {len(late)} 件あります",
                    "TSA・ワーカーの状態を確認してください（`kyodo seal pending`）。",
                )
            )
        return alerts

    async def _probes(self, session: AsyncSession) -> list[Alert]:
        last = (await session.scalars(select(ProbeResult).order_by(ProbeResult.checked_at.desc()).limit(1))).first()
        window = dt.timedelta(seconds=5 * self.settings.reporting.probe_seconds)
        since = dt.datetime.fromtimestamp(self.started, dt.UTC) if self.started else None
        reference = last.checked_at if last is not None else since
        if reference is None or dt.datetime.now(dt.UTC) - reference > window:
            return [
                Alert(
                    "probe-missing",
                    "稼働監視の記録が途絶えています",
                    "beat または監視タスクが止まっている可能性があります。この間は稼働率の計算で停止として扱われます。",
                )
            ]
        if last is not None and not last.ok:
            return [Alert("probe-failed", "稼働監視が失敗しました", last.detail)]
        return []

    def _redis_checks(self) -> list[Alert]:
        client = redis.Redis.from_url(redis_url(self.settings), socket_connect_timeout=2, socket_timeout=2)
        try:
            workers = list(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100))
        finally:
            client.close()
        if not workers:
            return [
                Alert(
                    "no-worker",
                    "ワーカーが 1 台も動いていません",
                    "メール送信・封緘・一括登録が止まっています。`kyodo worker` を起動してください。",
                )
            ]
        return []

    def _certificate_checks(self) -> list[Alert]:
        try:
            cert = provider_certificate(self.settings)
        except ValueError as exc:
            return [Alert("seal-key", "提供者の署名鍵ファイルを読み込めません", str(exc))]
        if cert is None:
            return []
        return self._expiry(cert)

    def _expiry(self, cert: x509.Certificate) -> list[Alert]:
        remaining = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        days = self.settings.alerts.cert_days
        if remaining > dt.timedelta(days=days):
            return []
        return [
            Alert(
                "seal-certificate",
                f"提供者の署名証明書の有効期限まで {max(0, remaining.days)} 日です",
                f"期限: {cert.not_valid_after_utc:%Y-%m-%d}。更新した PKCS#12 を設定し、ワーカーを再起動してください。",
            )
        ]

    def _backup_checks(self) -> list[Alert]:
        directory = self.settings.backup.directory
        if directory is None:
            return []
        newest = backups_in(directory)[-1:] if directory.is_dir() else []
        age = self.now() - newest[0].stat().st_mtime if newest else None
        if age is not None and age < 26 * 3600:
            return []
        return [
            Alert(
                "backup",
                "バックアップが 26 時間以上作られていません",
                f"{directory} を確認してください（`kyodo backup run` で手動実行できます）。",
            )
        ]

    async def check(self) -> list[Alert]:
        """Everything wrong right now (a check that cannot run is itself an alert)."""
        alerts: list[Alert] = []
        steps: list[tuple[str, str, Callable[[], Awaitable[list[Alert]]]]] = [
            ("database", "データベースに接続できません", self._database_checks),
            ("redis", "Redis に接続できません", lambda: asyncio.to_thread(self._redis_checks)),
        ]
        for key, title, step in steps:
            try:
                alerts += await step()
            except Exception as exc:  # noqa: BLE001 - an unreachable service is exactly what is reported
                alerts.append(Alert(key, title, f"{type(exc).__name__}: {exc}"))
        alerts += self._certificate_checks()
        alerts += self._backup_checks()
        return alerts

    # ------------------------------------------------------------------ notification

    def _load(self) -> tuple[dict[str, _Open], redis.Redis | None]:
        try:
            client = redis.Redis.from_url(redis_url(self.settings), socket_connect_timeout=2, socket_timeout=2)
            raw = client.hgetall(STATE_KEY)
        except redis.RedisError:
            return dict(self._local), None
        state = {(k.decode() if isinstance(k, bytes) else k): _Open(**json.loads(v)) for k, v in raw.items()}
        return state, client

    def _mail(self, subject: str, body: str) -> bool:
        recipients = self.settings.alerts.emails
        if not recipients:
            log.warning("alert not mailed (KYODO_ALERT_EMAILS is empty): %s", subject)
            return False
        sent = True
        for address in recipients:
            try:
                deliver(self.settings, to=address, subject=subject, body=body)
            except Exception:
                log.exception("alert mail to %s failed", address)
                sent = False
        return sent

    async def run_once(self) -> list[Alert]:
        """Check, then mail what opened, what still lasts after the repeat interval, and what ended."""
        alerts = await self.check()
        state, client = await asyncio.to_thread(self._load)
        now = self.now()
        repeat = self.settings.alerts.repeat_hours * 3600
        current = {a.key: a for a in alerts}
        for alert in alerts:
            known = state.get(alert.key)
            if known is None or now - known.sent >= repeat:
                subject = f"【Kyodo 障害】{alert.title}" if known is None else f"【Kyodo 障害継続】{alert.title}"
                seen = dt.datetime.fromtimestamp(now, dt.UTC)
                body = f"{alert.title}\n\n{alert.detail}\n\n検知: {seen:%Y-%m-%d %H:%M} UTC\n"
                if await asyncio.to_thread(self._mail, subject, body):
                    state[alert.key] = _Open(alert.title, known.first if known else now, now)
        for key in [k for k in state if k not in current]:
            opened = state[key]
            began = dt.datetime.fromtimestamp(opened.first, dt.UTC)
            body = f"次の障害は解消しました: {opened.title}\n\n検知: {began:%Y-%m-%d %H:%M} UTC\n"
            if await asyncio.to_thread(self._mail, f"【Kyodo 解消】{opened.title}", body):
                del state[key]
        self._local = dict(state)
        if client is not None:
            try:
                pipe = client.pipeline()
                pipe.delete(STATE_KEY)
                for key, opened in state.items():
                    pipe.hset(STATE_KEY, key, json.dumps(opened.__dict__))
                pipe.execute()
            except redis.RedisError:
                log.warning("alert state kept in memory only (Redis unavailable)")
            finally:
                client.close()
        return alerts

    async def run_forever(self) -> None:
        """Check every ``KYODO_ALERT_INTERVAL_SECONDS`` until cancelled (the first check after one interval)."""
        self.started = self.started or self.now()
        while True:
            await asyncio.sleep(self.settings.alerts.interval_seconds)
            try:
                await self.run_once()
            except Exception:
                log.exception("alert round failed")
