"""A worker killed mid-seal: beat notices the silent attempt and sends the seal again, without the broker's hour."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import redis

from kyodo.celery_config import beat_schedule
from signing import services as svc
from signing.models import ContractStatus
from signing.seal_tasks import REQUEUE_TASK, lease_key
from testpki import PKIServer, TestPKI
from tests.conftest import start_worker
from tests.signing.test_seal_service import (  # noqa: F401 - the sealing tests' fixture and helpers
    Waiting,
    _advisory_locks,
    _counts,
    _sender,
    _SilentServer,
    _worker_env,
    waiting,
)

LEASE = "3"


async def test_beat_sends_a_silent_seal_again_and_it_is_sealed_once(  # noqa: PLR0915 - one story
    waiting: Waiting,  # noqa: F811 - the fixture imported above
    pki: TestPKI,
    pki_server: PKIServer,
    tmp_path: Path,
) -> None:
    assert any(entry["task"] == REQUEUE_TASK for entry in beat_schedule.values())
    queue = redis.Redis.from_url(waiting.settings.redis.url)
    hung = _SilentServer()
    stuck_env = _worker_env(pki) | {
        "KYODO_SIGNING_TSA_URL": f"http://127.0.0.1:{hung.port}/tsa",
        "KYODO_SIGNING_HTTP_TIMEOUT": "120",
        "KYODO_SEAL_LEASE_SECONDS": LEASE,
    }
    os.environ.update(stuck_env)
    try:
        stuck = start_worker(waiting.settings, tmp_path, name="stuck")
        try:
            _sender(waiting).send_task(svc.SEAL_TASK, kwargs={"contract_id": str(waiting.contract_id)})
            deadline = time.monotonic() + 60
            while not hung.clients or await _advisory_locks(waiting) == 0:
                assert time.monotonic() < deadline, stuck.log_path.read_text()[-2000:]
                time.sleep(0.2)
            # The attempt holds its lease while it waits for the TSA.
            assert queue.ttl(lease_key(str(waiting.contract_id))) > 0
        finally:
            assert stuck.popen is not None
            os.killpg(stuck.popen.pid, 9)
            stuck.popen.wait(10)
    finally:
        hung.close()
        for key in stuck_env:
            os.environ.pop(key, None)

    # Nobody renews the lease of a dead worker: it runs out.
    deadline = time.monotonic() + 30
    while queue.exists(lease_key(str(waiting.contract_id))):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # The contract has waited longer than the grace beat gives a fresh one.
    with psycopg.connect(waiting.settings.database.admin_url) as conn:
        conn.execute(
            "UPDATE contract SET completed_at = now() - interval '5 minutes' WHERE id = %s", (waiting.contract_id,)
        )
    assert await _counts(waiting) == (0, 0, 0)

    os.environ.update(_worker_env(pki))
    try:
        healthy = start_worker(waiting.settings, tmp_path, name="healthy")
        try:
            # What beat sends every minute; twice, as two beat ticks would.
            _sender(waiting).send_task(REQUEUE_TASK)
            _sender(waiting).send_task(REQUEUE_TASK)
            deadline = time.monotonic() + 120
            while (await _counts(waiting))[1] == 0:
                assert time.monotonic() < deadline, healthy.log_path.read_text()[-3000:]
                time.sleep(0.5)
            time.sleep(2)  # give a duplicate, if any was sent, the time to run
        finally:
            healthy.stop()
    finally:
        for key in _worker_env(pki):
            os.environ.pop(key, None)
    assert await _counts(waiting) == (2, 1, 1)  # two documents, one certificate, one "sealed" event
    with psycopg.connect(waiting.settings.database.admin_url) as conn:
        status = conn.execute("SELECT status FROM contract WHERE id = %s", (waiting.contract_id,)).fetchone()
    assert status == (ContractStatus.CONCLUDED.value,)
    assert "sent again" in healthy.log_path.read_text()
    assert not queue.exists(lease_key(str(waiting.contract_id)))  # sealed: the lease is gone
