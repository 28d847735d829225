"""A full circulation for every producer: upload, a box on every page, send, agree, one real worker seals them all.

One contract per PDF engine (:data:`tests.corpus.checks.CIRCULATED`: shared and inherited
resources, rotation, an offset crop box among them), all sent and agreed first; then a
single Celery worker (with the test PKI) takes every seal task. Each contract must reach
締結済み with a sealed document that validates offline at PAdES B-LTA, keeps its pages'
shapes and carries every page's value.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage
from core.scope import Principal, PrincipalKind
from core.settings import Settings, to_psycopg_url
from signing import services as svc
from signing.audit import Actor
from signing.blobs import BlobStore
from signing.models import Contract, ContractStatus, PartyKind, SealedDocument
from signing.verification import verify_async
from testpki import PKIServer, TestPKI, settings_environment
from tests import factories as f
from tests.conftest import WorkerProcess, task_sender
from tests.corpus.checks import BOTTOM, CIRCULATED, HEIGHT, LEFT, WIDTH, box_text, find_value, shapes, words
from tests.corpus.producers import Corpus
from tests.scope import system_access

SIGNER = "盛岡市長 内舘 茂"
DEADLINE_SECONDS = 300
WORKER_START_SECONDS = 120


async def _agreed_contracts(settings: Settings, corpus: Corpus) -> tuple[async_sessionmaker, dict[str, uuid.UUID]]:
    """One contract per corpus file, each agreed by its one staff party: all 封緘待ち."""
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    contracts: dict[str, uuid.UUID] = {}
    async with maker() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        mayor = await f.title(session, member, "mayor", "市長", SIGNER)
        signer = await f.staff(session, member, "morioka-shocho", roles=("signer", "drafter"), name="内舘 茂")
        await f.grant(session, signer, mayor)
        principal = Principal(
            kind=PrincipalKind.STAFF, id=signer.id, name=signer.name, consortium_id=group.id, member_id=member.id
        )
        who = Actor(actor=signer.name, email=signer.email)
        await system_access(session)
        for n, name in enumerate(CIRCULATED, start=1):
            data = corpus.data(corpus.entry(name))
            contract = await svc.create_contract(
                session,
                principal,
                svc.ContractInput(
                    subject=f"庁舎清掃業務委託（{name}）",
                    title_id=mayor.id,
                    contract_number=f"R8-{n:04d}",
                    amount=1_000 * n,
                    transaction_date=dt.date(2026, 4, 1),
                    counterparty="岩手建設株式会社",
                ),
                who,
            )
            [document] = await svc.add_documents(session, settings, contract, [(f"{name}.pdf", data)], who)
            party = await svc.add_party(
                session,
                contract,
                svc.PartyInput(
                    order_no=1,
                    kind=PartyKind.STAFF,
                    name=signer.name,
                    email=signer.email,
                    staff_id=signer.id,
                    title_id=mayor.id,
                ),
                who,
            )
            boxes = [
                await svc.add_text_box(
                    session,
                    contract,
                    svc.TextBoxInput(
                        document_id=document.id,
                        party_id=party.id,
                        page=page,
                        x=LEFT,
                        y=BOTTOM,
                        width=WIDTH,
                        height=HEIGHT,
                        label=f"記名 {page + 1}頁",
                    ),
                    who,
                )
                for page in range(len(shapes(data)))
            ]
            await svc.send(session, settings, contract, who)
            await session.refresh(contract, ["documents", "parties", "sealed_documents"])
            await svc.staff_agree(
                session,
                settings,
                contract=contract,
                principal=principal,
                values={str(box.id): box_text(box.page) for box in boxes},
                who=who,
            )
            assert contract.status is ContractStatus.SEALING, name
            contracts[name] = contract.id
        await session.commit()
    return maker, contracts


def _worker(settings: Settings, tmp_path: Path) -> WorkerProcess:
    """A started `kyodo worker` for ``settings``, as :func:`tests.conftest.start_worker` makes one.

    Started here so that it is stopped even when it is slow to report alive: a
    worker's imports can take tens of seconds on a busy 2-core machine.
    """
    env = dict(os.environ)
    env.update(
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        KYODO_WORKER_HEARTBEAT_SECONDS=str(settings.worker.heartbeat_seconds),
    )
    return WorkerProcess(env, f"corpus-sealer-{uuid.uuid4().hex[:6]}", tmp_path / "corpus-sealer.log").start()


def _seal_tasks_sent(settings: Settings, rows: list[OutboxMessage]) -> None:
    """The outbox's seal tasks, sent to this test's own Redis (the platform's relay would use the shared one)."""
    sender = task_sender(settings)
    for row in rows:
        sender.send_task(row.task_name, kwargs=row.kwargs)


async def _wait_concluded(maker: async_sessionmaker, contracts: dict[str, uuid.UUID], worker: WorkerProcess) -> float:
    started = time.monotonic()
    while True:
        async with maker() as session:
            await system_access(session)
            found = await session.scalars(select(Contract).where(Contract.id.in_(contracts.values())))
            statuses = {c.id: c.status for c in found}
        waiting = [name for name, cid in contracts.items() if statuses[cid] is not ContractStatus.CONCLUDED]
        if not waiting:
            return time.monotonic() - started
        assert time.monotonic() - started < DEADLINE_SECONDS, (waiting, worker.log_path.read_text()[-4000:])
        time.sleep(0.5)


async def _problems(
    settings: Settings,
    *,
    maker: async_sessionmaker,
    contracts: dict[str, uuid.UUID],
    corpus: Corpus,
    root: object,
    tmp: Path,
) -> dict[str, object]:
    """What is wrong with each contract's sealed document (nothing, when all is well)."""
    store = BlobStore(settings)
    problems: dict[str, object] = {}
    async with maker() as session:
        await system_access(session)
        for name, contract_id in contracts.items():
            query = select(SealedDocument).where(SealedDocument.contract_id == contract_id)
            rows = (await session.scalars(query)).all()
            if len(rows) != 1:
                problems[name] = ("sealed documents", len(rows))
                continue
            sealed = await store.get(session, rows[0].member_id, rows[0].sha256)
            report = await verify_async(sealed, trust_roots=[root])
            if not (report.ok and report.certified and report.archive_timestamped):
                problems[name] = report.problems
                continue
            original = corpus.data(corpus.entry(name))
            if shapes(sealed) != shapes(original):
                problems[name] = ("page shapes changed", shapes(original), shapes(sealed))
                continue
            pages = words(sealed, tmp)
            missing = [i for i in range(len(pages)) if find_value(pages[i], box_text(i)) is None]
            if missing:
                problems[name] = ("values missing on pages", missing)
    return problems


@pytest.mark.worker
async def test_one_worker_concludes_a_contract_for_every_producer(
    fresh_database: Settings, corpus: Corpus, pki: TestPKI, pki_server: PKIServer, tmp_path: Path
) -> None:
    settings = fresh_database
    env = settings_environment(pki.signing_settings("provider"))
    os.environ.update(env)
    try:
        # The worker boots (imports, key, TSA) while the contracts are drafted and agreed.
        worker = _worker(settings, tmp_path)
        try:
            started = time.monotonic()
            maker, contracts = await _agreed_contracts(settings, corpus)
            agreed = time.monotonic()
            async with maker() as session:
                await system_access(session)
                query = select(OutboxMessage).where(OutboxMessage.task_name == svc.SEAL_TASK)
                rows = list((await session.scalars(query)).all())
            assert len(rows) == len(contracts)
            worker.wait_heartbeat(WORKER_START_SECONDS)
            alive = time.monotonic()
            _seal_tasks_sent(settings, rows)
            seconds = await _wait_concluded(maker, contracts, worker)
        finally:
            worker.stop()
    finally:
        for key in env:
            os.environ.pop(key, None)
    try:
        checking = time.monotonic()
        problems = await _problems(
            settings, maker=maker, contracts=contracts, corpus=corpus, root=pki.root_cert, tmp=tmp_path
        )
        print(
            f"{len(contracts)} contracts agreed in {agreed - started:.1f}s, worker alive {alive - started:.1f}s "
            f"after start, all sealed by it in {seconds:.1f}s, checked in {time.monotonic() - checking:.1f}s"
        )
        assert not problems, problems
    finally:
        await maker.kw["bind"].dispose()
