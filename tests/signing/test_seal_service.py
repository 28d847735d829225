"""The sealing service end to end: exactly one seal per contract, never a silent fallback (SIG-1…6, WF-11, WF-12)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage
from core.scope import elevated
from core.settings import RedisSettings, Settings, SigningSettings, to_psycopg_url
from onboarding.models import UsageEvent
from reporting.usage import concluded_contracts
from signing import services as svc
from signing.blobs import BlobStore
from signing.errors import SealingUnavailable
from signing.models import (
    AuditEvent,
    AuditKind,
    ConclusionCertificate,
    Contract,
    ContractStatus,
    SealedDocument,
)
from signing.seal_service import SealerPool, SealOutcome, renew_due, seal_contract
from signing.verification import verify_async
from testpki import PKIServer, TestPKI, settings_environment
from tests import factories as f
from tests.conftest import WorkerProcess, start_worker
from tests.scope import system_access
from tests.signing.concluded import agreed_by_its_signer
from tests.signing.conftest import pdftotext
from tests.signing.pdfgen import make_pdf

SIGNER_TEXT = "盛岡市長 内舘 茂"


@dataclasses.dataclass
class Waiting:
    """A contract of a live member whose parties all agreed: status 封緘待ち."""

    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    contract_id: uuid.UUID
    member_id: uuid.UUID


async def _waiting_contract(
    settings: Settings, *, files: int = 1
) -> tuple[async_sessionmaker[AsyncSession], uuid.UUID, uuid.UUID]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        contract = await agreed_by_its_signer(
            session,
            settings,
            member,
            files=[(f"契約書{i}.pdf", make_pdf(2, title=f"Contract {i}")) for i in range(files)],
            subject="図書館空調改修工事",
            contract_number="R8-0042",
            counterparty="岩手建設株式会社",
            amount=1_200_000,
            transaction_date=dt.date(2026, 4, 1),
            formal_name=SIGNER_TEXT,
        )
        await session.commit()
        assert contract.status is ContractStatus.SEALING
        return maker, contract.id, member.id


@pytest.fixture
async def waiting(fresh_database: Settings) -> AsyncIterator[Waiting]:
    # A Redis database of its own: workers of other tests (other databases) must
    # never take these tasks from the queue.
    base = fresh_database.redis.url.rpartition("/")[0]
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    own = dataclasses.replace(fresh_database, redis=RedisSettings(url=f"{base}/{40 + index}"))
    redis.Redis.from_url(own.redis.url).flushdb()
    maker, contract_id, member_id = await _waiting_contract(own, files=2)
    yield Waiting(own, maker, contract_id, member_id)
    await maker.kw["bind"].dispose()


async def _counts(waiting: Waiting) -> tuple[int, int, int]:
    async with waiting.maker() as session:
        await system_access(session)
        sealed = await session.scalar(select(func.count()).select_from(SealedDocument))
        certificates = await session.scalar(select(func.count()).select_from(ConclusionCertificate))
        events = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == AuditKind.SEALED.value)
        )
    return int(sealed or 0), int(certificates or 0), int(events or 0)


async def test_every_file_is_sealed_with_the_agreed_text_and_verifies(
    waiting: Waiting, signing_settings: SigningSettings, pki: TestPKI, tmp_path: Path
) -> None:
    pool = SealerPool(signing_settings)
    try:
        async with waiting.maker() as session:
            assert await seal_contract(session, waiting.settings, pool, waiting.contract_id) is SealOutcome.SEALED
            await session.commit()
        async with waiting.maker() as session:
            assert (
                await seal_contract(session, waiting.settings, pool, waiting.contract_id) is SealOutcome.ALREADY_SEALED
            )
            await session.commit()
    finally:
        await pool.aclose()
    assert await _counts(waiting) == (2, 1, 1)
    async with waiting.maker() as session:
        await system_access(session)
        contract = await session.get(Contract, waiting.contract_id)
        assert contract is not None
        assert contract.status is ContractStatus.CONCLUDED
        # The monthly report and billing count it: one contract, under the mayor's title.
        now = dt.datetime.now(dt.UTC)
        counts = await concluded_contracts(
            session, waiting.member_id, (now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
        )
        assert counts.total == 1
        assert counts.by_title == [("市長", 1)]
        metered = await session.scalar(select(func.count()).select_from(UsageEvent))
        assert metered == 1
        rows = (await session.scalars(select(SealedDocument))).all()
        store = BlobStore(waiting.settings)
        first = await store.get(session, waiting.member_id, rows[0].sha256)
        certificate_row = await session.scalar(select(ConclusionCertificate))
        assert certificate_row is not None
        certificate = await store.get(session, waiting.member_id, certificate_row.sha256)
    for pdf in (first, certificate):
        report = await verify_async(pdf, trust_roots=signing_settings.trust_root_paths)
        assert report.ok, report.problems
        assert report.certified
        assert report.archive_timestamped
    seal = (await verify_async(first, trust_roots=signing_settings.trust_root_paths)).signatures[0]
    assert "Kyodo Test Provider Seal" in seal.signer_subject
    texts = [pdftotext(first, tmp_path), pdftotext(certificate, tmp_path)]
    # The signer's typed name is printed in the sealed file (pdftotext may drop its space).
    assert SIGNER_TEXT.replace(" ", "") in texts[0].replace(" ", "")
    assert "締結証明書" in texts[1]
    assert rows[0].sha256 in texts[1].replace("\n", "")
    # Its record of agreements names the signer, never the internal id of the trail.
    assert "内舘" in texts[1]
    assert "staff:" not in texts[1]


async def test_tsa_down_leaves_the_contract_waiting_and_stores_nothing(
    waiting: Waiting, pki: TestPKI, services: PKIServer
) -> None:
    services.tsa_available = False
    pool = SealerPool(pki.signing_settings("provider"))
    try:
        async with waiting.maker() as session:
            with pytest.raises(SealingUnavailable):
                await seal_contract(session, waiting.settings, pool, waiting.contract_id)
            await session.rollback()
        assert await _counts(waiting) == (0, 0, 0)
        async with waiting.maker() as session:
            await system_access(session)
            contract = await session.get(Contract, waiting.contract_id)
            assert contract is not None
            assert contract.status is ContractStatus.SEALING
        services.tsa_available = True
        async with waiting.maker() as session:
            assert await seal_contract(session, waiting.settings, pool, waiting.contract_id) is SealOutcome.SEALED
            await session.commit()
    finally:
        await pool.aclose()
    assert await _counts(waiting) == (2, 1, 1)


async def test_a_second_worker_backs_off_while_the_first_holds_the_contract(
    waiting: Waiting, signing_settings: SigningSettings
) -> None:
    pool = SealerPool(signing_settings)
    try:
        async with waiting.maker() as holder, waiting.maker() as other:
            await system_access(holder)
            from signing.seal_service import _lock_key  # the lock the service takes

            await holder.execute(select(func.pg_advisory_xact_lock(_lock_key(waiting.contract_id))))
            assert await seal_contract(other, waiting.settings, pool, waiting.contract_id) is SealOutcome.BUSY
            await other.rollback()
            await holder.rollback()
    finally:
        await pool.aclose()
    assert await _counts(waiting) == (0, 0, 0)


async def test_a_database_timeout_while_sealing_reaches_the_task_as_itself(
    waiting: Waiting, signing_settings: SigningSettings
) -> None:
    # The task retries a database error (OperationalError) and records anything
    # else as a defect: the lock timeout must not come out as "transaction aborted".
    pool = SealerPool(signing_settings)
    try:
        async with waiting.maker() as holder, waiting.maker() as worker:
            async with elevated(holder):
                await holder.execute(select(Contract).where(Contract.id == waiting.contract_id).with_for_update())
                await worker.execute(text("SET LOCAL lock_timeout = '200ms'"))
                with pytest.raises(OperationalError, match="lock timeout"):
                    await seal_contract(worker, waiting.settings, pool, waiting.contract_id)
                assert worker.info["system"] is False  # the worker's scope is back
            await holder.rollback()
        assert await _counts(waiting) == (0, 0, 0)
        async with waiting.maker() as session:
            assert await seal_contract(session, waiting.settings, pool, waiting.contract_id) is SealOutcome.SEALED
            await session.commit()
    finally:
        await pool.aclose()
    assert await _counts(waiting) == (2, 1, 1)


async def test_an_unexpected_error_is_recorded_as_an_internal_failure_not_retried(waiting: Waiting) -> None:
    from signing.seal_tasks import _record_internal_failure

    # The task's own session (the application's role, under row-level security).
    await _record_internal_failure(waiting.settings, waiting.contract_id, RuntimeError("a defect"))
    async with waiting.maker() as session, elevated(session):
        contract = await session.get(Contract, waiting.contract_id)
        assert contract is not None
        assert contract.status is ContractStatus.SEAL_FAILED
        assert contract.seal_failure is not None
        assert contract.seal_failure["reason"] == "internal"
        assert contract.seal_failure["detail"] == "RuntimeError: a defect"
        kinds = (await session.scalars(select(AuditEvent.kind).where(AuditEvent.contract_id == contract.id))).all()
        assert kinds.count(AuditKind.SEAL_FAILED.value) == 1
    assert await _counts(waiting) == (0, 0, 0)


def _sender(waiting: Waiting) -> Celery:
    """A client of the test's own Redis database (the module-wide app talks to the shared one)."""
    return Celery("seal-tests", broker=waiting.settings.redis.url, backend=waiting.settings.redis.url)


def _worker_env(pki: TestPKI) -> dict[str, str]:
    return settings_environment(pki.signing_settings("provider"))


async def test_two_workers_and_duplicate_deliveries_seal_once(
    waiting: Waiting, pki: TestPKI, pki_server: PKIServer, tmp_path: Path
) -> None:
    os.environ.update(_worker_env(pki))
    workers: list[WorkerProcess] = []
    try:
        workers = [start_worker(waiting.settings, tmp_path, name=f"sealer{i}") for i in range(2)]
        async with waiting.maker() as session:
            await system_access(session)
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.task_name == svc.SEAL_TASK))
            assert row is not None
        # The outbox's task, and the same task delivered twice more, as a broker might after a failover.
        sender = _sender(waiting)
        extra = [sender.send_task(svc.SEAL_TASK, kwargs=row.kwargs) for _ in range(3)]
        deadline = time.monotonic() + 120
        while True:
            async with waiting.maker() as session:
                await system_access(session)
                contract = await session.get(Contract, waiting.contract_id)
                assert contract is not None
                if contract.status is ContractStatus.CONCLUDED:
                    break
            assert time.monotonic() < deadline, [w.log_path.read_text()[-2000:] for w in workers]
            time.sleep(0.5)
        # Every duplicate delivery ran to its end (one that finds the contract
        # locked retries until it is free): one delivery sealed, the others found
        # the contract sealed already and changed nothing.
        ended: dict[str, str] = {}
        while len(ended) < len(extra):
            logs = "".join(w.log_path.read_text() for w in workers)
            for sent in extra:
                if found := re.search(rf"\[{sent.id}\] succeeded in [0-9.]+s: '(\w+)'", logs):
                    ended[sent.id] = found.group(1)
            assert time.monotonic() < deadline, logs[-3000:]
            time.sleep(0.5)
        assert set(ended.values()) <= {"sealed", "already_sealed"}, ended
        assert len(re.findall(rf"contract {waiting.contract_id}: sealed\b", logs)) == 1, logs[-3000:]
    finally:
        for worker in workers:
            worker.stop()
        for key in _worker_env(pki):
            os.environ.pop(key, None)
    assert await _counts(waiting) == (2, 1, 1)


async def test_renewal_adds_a_fresh_document_timestamp_as_a_new_version(
    waiting: Waiting, signing_settings: SigningSettings
) -> None:
    pool = SealerPool(signing_settings)
    try:
        async with waiting.maker() as session:
            await seal_contract(session, waiting.settings, pool, waiting.contract_id)
            await session.commit()
        async with waiting.maker() as session:
            # Nothing is due yet with a one-year margin (the test TSA certificate lasts five).
            assert (
                await renew_due(
                    session, waiting.settings, pool, now=dt.datetime.now(dt.UTC), margin=dt.timedelta(days=365)
                )
                == 0
            )
            far = dt.datetime.now(dt.UTC) + dt.timedelta(days=5 * 365)
            assert await renew_due(session, waiting.settings, pool, now=far, margin=dt.timedelta(days=0)) == 3
            await session.commit()
        async with waiting.maker() as session:
            await system_access(session)
            versions = (await session.scalars(select(SealedDocument).order_by(SealedDocument.version))).all()
            assert [v.version for v in versions] == [1, 1, 2, 2]
            store = BlobStore(waiting.settings)
            old = await store.get(session, waiting.member_id, versions[0].sha256)
            new_row = next(v for v in versions if v.version == 2 and v.document_id == versions[0].document_id)
            new = await store.get(session, waiting.member_id, new_row.sha256)
    finally:
        await pool.aclose()
    # The renewed file keeps the sealed bytes untouched and adds one more timestamp.
    assert new.startswith(old)
    report = await verify_async(new, trust_roots=signing_settings.trust_root_paths)
    assert report.ok, report.problems
    assert [s.kind for s in report.signatures].count("document_timestamp") == 2


class _SilentServer:
    """A TCP server that accepts connections and never answers: a hung TSA."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        try:
            while True:
                client, _ = self.sock.accept()
                self.clients.append(client)
        except OSError:
            pass

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.sock.close()


async def _advisory_locks(waiting: Waiting) -> int:
    async with waiting.maker() as session:
        count = await session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
        return int(count or 0)


async def test_a_worker_killed_mid_seal_leaves_nothing_half_done(
    waiting: Waiting, pki: TestPKI, pki_server: PKIServer, tmp_path: Path
) -> None:
    hung = _SilentServer()
    stuck_env = _worker_env(pki) | {
        "KYODO_SIGNING_TSA_URL": f"http://127.0.0.1:{hung.port}/tsa",
        "KYODO_SIGNING_HTTP_TIMEOUT": "120",
    }
    os.environ.update(stuck_env)
    try:
        stuck = start_worker(waiting.settings, tmp_path, name="stuck")
        try:
            _sender(waiting).send_task(svc.SEAL_TASK, kwargs={"contract_id": str(waiting.contract_id)})
            deadline = time.monotonic() + 60
            # The worker has taken the contract's lock and waits for the TSA.
            while not hung.clients or await _advisory_locks(waiting) == 0:
                assert time.monotonic() < deadline, stuck.log_path.read_text()[-2000:]
                time.sleep(0.2)
        finally:
            assert stuck.popen is not None
            os.killpg(stuck.popen.pid, 9)
            stuck.popen.wait(10)
        # PostgreSQL notices the dead connection, rolls back and frees the lock.
        deadline = time.monotonic() + 30
        while await _advisory_locks(waiting):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert await _counts(waiting) == (0, 0, 0)
        async with waiting.maker() as session:
            await system_access(session)
            contract = await session.get(Contract, waiting.contract_id)
            assert contract is not None
            assert contract.status is ContractStatus.SEALING
    finally:
        hung.close()
        for key in stuck_env:
            os.environ.pop(key, None)
    # The broker hands the unacknowledged task to another worker (acks late);
    # here the redelivery is sent explicitly so the test does not wait for the
    # broker's visibility timeout.
    os.environ.update(_worker_env(pki))
    try:
        healthy = start_worker(waiting.settings, tmp_path, name="healthy")
        try:
            _sender(waiting).send_task(svc.SEAL_TASK, kwargs={"contract_id": str(waiting.contract_id)})
            deadline = time.monotonic() + 120
            while (await _counts(waiting))[1] == 0:
                assert time.monotonic() < deadline, healthy.log_path.read_text()[-2000:]
                time.sleep(0.5)
        finally:
            healthy.stop()
    finally:
        for key in _worker_env(pki):
            os.environ.pop(key, None)
    assert await _counts(waiting) == (2, 1, 1)


async def test_staff_download_the_certificate_and_other_members_cannot(  # noqa: PLR0915 - one story
    waiting: Waiting, signing_settings: SigningSettings
) -> None:
    from litestar.testing import AsyncTestClient

    from kyodo.app import create_app
    from tests.conftest import sign_in

    async with waiting.maker() as session:
        await system_access(session)
        group_id = (await session.get(Contract, waiting.contract_id)).member_id  # type: ignore[union-attr]
        from tenants.models import Member

        member_a = await session.get(Member, group_id)
        assert member_a is not None
        other = Member(
            consortium_id=member_a.consortium_id,
            lg_code="032140",
            name="八幡平市",
            kind=member_a.kind,
            status=member_a.status,
            joined_on=member_a.joined_on,
        )
        session.add(other)
        await session.flush()
        await f.staff(session, other, "hachimantai-admin", roles=("admin",))
        await session.commit()
    app = create_app(waiting.settings, signing=signing_settings)
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "morioka-shocho")
        early = await client.get(f"/contracts/{waiting.contract_id}/certificate")
        assert early.status_code == 409
        assert "締結証明書は、契約の封緘後に発行されます" in early.text
        pool = SealerPool(signing_settings)
        try:
            async with waiting.maker() as session:
                await seal_contract(session, waiting.settings, pool, waiting.contract_id)
                await session.commit()
        finally:
            await pool.aclose()
        page = await client.get(f"/contracts/{waiting.contract_id}")
        assert f'href="/contracts/{waiting.contract_id}/certificate"' in page.text  # a link on the screen
        response = await client.get(f"/contracts/{waiting.contract_id}/certificate")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/pdf")
        # Named after the contract, RFC 5987: filename*=UTF-8''R8-0042_<件名>_締結証明書.pdf
        disposition = response.headers["content-disposition"]
        assert "filename*=UTF-8''R8-0042_" in disposition
        assert disposition.endswith(quote("_締結証明書.pdf"))
        report = await verify_async(response.content, trust_roots=signing_settings.trust_root_paths)
        assert report.ok
        # Downloads are the sealed bytes, unchanged (SIG-6), and the platform recognises them.
        async with waiting.maker() as session:
            await system_access(session)
            sealed_row = (await session.scalars(select(SealedDocument).order_by(SealedDocument.created_at))).first()
            assert sealed_row is not None
        download = await client.get(f"/contracts/{waiting.contract_id}/documents/{sealed_row.document_id}")
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == sealed_row.sha256
        assert "filename*=UTF-8''R8-0042_" in download.headers["content-disposition"]
        assert "%E7%B7%A0%E7%B5%90%E8%A8%BC%E6%98%8E%E6%9B%B8" not in download.headers["content-disposition"]
        # A signed-in browser calls the API with its CSRF header.
        api = {"x-csrftoken": str(client.cookies.get("kyodo_csrf"))}
        on_record = await client.post(
            "/api/v1/verify", files={"file": ("k.pdf", download.content, "application/pdf")}, headers=api
        )
        assert on_record.status_code == 200, on_record.text
        assert on_record.json()["on_record"] is True
        assert on_record.json()["record"]["member_name"] == "盛岡市"
        assert on_record.json()["record"]["contract_number"] == "R8-0042"
        certificate_match = await client.post(
            "/api/v1/verify", files={"file": ("c.pdf", response.content, "application/pdf")}, headers=api
        )
        assert certificate_match.json()["record"]["what"] == "certificate"
        stranger = await client.post(
            "/api/v1/verify", files={"file": ("x.pdf", make_pdf(1), "application/pdf")}, headers=api
        )
        assert stranger.json()["on_record"] is False
        await sign_in(client, "hachimantai-admin")
        assert (await client.get(f"/contracts/{waiting.contract_id}/certificate")).status_code == 404
        assert (await client.get(f"/api/v1/contracts/{waiting.contract_id}/certificate")).status_code in (401, 403, 404)
