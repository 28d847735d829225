"""/metrics through HTTP: Prometheus' text format parsed back, figures from the real database and Redis."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings
from reporting.models import ProbeResult
from signing.audit import Actor, append_event
from signing.models import AuditKind, Contract, ContractStatus
from tests import factories as f
from tests.conftest import PEER_HEADER, TwoMembers, _session_maker, sign_in
from tests.scope import system_access

PROJECT_DIR = Path(__file__).resolve().parents[2]
RULES = PROJECT_DIR / "deploy" / "prometheus" / "kyodo-alerts.yml"


def _samples(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def _state(session: AsyncSession, two: TwoMembers) -> None:
    await system_access(session)
    title = await f.title(session, two.a, "mayor", "市長", "盛岡市長")
    now = dt.datetime.now(dt.UTC)
    waiting = Contract(
        member_id=two.a.id,
        title_id=title.id,
        subject="封緘待ちの契約",
        status=ContractStatus.SEALING,
        completed_at=now - dt.timedelta(minutes=20),
    )
    failed = Contract(
        member_id=two.a.id, title_id=title.id, subject="封緘失敗の契約", status=ContractStatus.SEAL_FAILED
    )
    session.add_all([waiting, failed])
    session.add(OutboxMessage(task_name="kyodo.send_mail", kwargs={}, created_at=now - dt.timedelta(minutes=15)))
    session.add(ProbeResult(checked_at=now - dt.timedelta(minutes=2), ok=False, latency_ms=50.0, detail="x"))
    session.add(ProbeResult(checked_at=now - dt.timedelta(seconds=30), ok=True, latency_ms=250.0, detail="ok"))
    await session.flush()
    await append_event(
        session,
        member_id=two.a.id,
        contract_id=waiting.id,
        kind=AuditKind.MAIL_FAILED,
        who=Actor("kyodo"),
        detail={"to": "x@example.jp", "reason": "550"},
    )
    await session.flush()


async def test_metrics_report_what_an_operator_alerts_on(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _state(db_session, two_members)
    response = await client.get("/metrics")  # from 127.0.0.1: the machine itself
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = _samples(response.text)
    assert found["kyodo_up{service=database}"] == 1.0
    assert found["kyodo_up{service=redis}"] == 1.0
    assert "kyodo_worker_heartbeats" in found
    assert (found["kyodo_seals_waiting"], found["kyodo_seals_failed"]) == (1.0, 1.0)
    assert 19 * 60 <= found["kyodo_seal_oldest_wait_seconds"] < 25 * 60
    assert found["kyodo_outbox_backlog"] >= 1.0
    assert found["kyodo_outbox_oldest_seconds"] >= 14 * 60
    assert found["kyodo_mail_failures_total"] == 1.0
    assert found["kyodo_probe_failures_last_hour"] == 1.0
    assert found["kyodo_probe_last_ok"] == 1.0
    assert found["kyodo_probe_last_latency_seconds"] == 0.25
    assert found["kyodo_probe_last_age_seconds"] < 600
    # No member's name or contract reaches the scrape.
    assert "盛岡" not in response.text
    assert "封緘待ちの契約" not in response.text


async def test_metrics_are_refused_elsewhere_and_open_to_the_token_or_operator_networks(
    settings: Settings, db_connection: AsyncConnection, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    from kyodo.app import create_app

    elsewhere = {PEER_HEADER: "203.0.113.9"}
    guarded = dataclasses.replace(
        settings,
        alerts=dataclasses.replace(settings.alerts, metrics_token="s3cret-scrape"),
        security=dataclasses.replace(settings.security, operator_networks=("198.51.100.0/24",)),
    )
    async with AsyncTestClient(app=create_app(guarded, session_maker=_session_maker(db_connection))) as client:
        assert (await client.get("/metrics", headers=elsewhere)).status_code == 403
        wrong = {**elsewhere, "Authorization": "Bearer guess"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 403
        token = {**elsewhere, "Authorization": "Bearer s3cret-scrape"}
        assert (await client.get("/metrics", headers=token)).status_code == 200
        assert (await client.get("/metrics", headers={PEER_HEADER: "198.51.100.7"})).status_code == 200
        # A signed-in member's staff from outside is refused like anyone else.
        await sign_in(client, two_members.admin_a.login_id)
        assert (await client.get("/metrics", headers=elsewhere)).status_code == 403


def test_alert_rules_are_valid_and_name_only_exported_metrics() -> None:
    """promtool checks the rules file when it is installed (deploy/install-system-deps.sh); the names always."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"KyodoProbeFailing", "KyodoNoWorker", "KyodoSealWaiting", "KyodoOutboxBacklog"} <= {
        a["alert"] for a in alerts
    }
    exported = set((PROJECT_DIR / "kyodo" / "metrics.py").read_text(encoding="utf-8").split('"'))
    for alert in alerts:
        used = {word for word in alert["expr"].replace("(", " ").replace(")", " ").split() if word.startswith("kyodo_")}
        names = {word.split("{")[0].split("[")[0] for word in used}
        assert names or alert["expr"].startswith("up{"), alert["alert"]
        assert all(n.removesuffix("_total") in exported for n in names), (alert["alert"], names)
        assert alert["annotations"]["summary"], alert["alert"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (deploy/install-system-deps.sh installs it)")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
