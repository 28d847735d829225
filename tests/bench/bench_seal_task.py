"""Benchmark: the worker's CPU for sealing one concluded contract, step by step.

Run with ``make bench`` or alone::

    .venv/bin/pytest tests/bench/bench_seal_task.py -m bench -p no:xdist -s -q

Contracts of one 1-page PDF with one typed value, agreed and 封緘待ち, are sealed
one at a time as the seal task does it (:func:`core.asyncrun.run_async` on the
process's loop, :func:`core.db.session_scope`, :func:`signing.seal_service.seal_contract`
with one long-lived :class:`~signing.seal_service.SealerPool`). The test PKI's
TSA/OCSP/CRL runs in a process of its own, so the CPU measured
(``time.process_time`` of this process: the worker's work, not the TSA's or
PostgreSQL's) is the seal task's. The steps are timed where the task calls
them; in the same run, for reference: the sealer alone on the same PDF (also
with pyHanko sizing the signature container by a dummy signature each time, as
before the sealer kept the size), and an empty task (one session, ``SELECT 1``, commit) on the reused loop and engine
against a new loop and engine per task.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing as mp
import multiprocessing.synchronize
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.asyncrun import run_async
from core.db import create_engine, session_scope
from core.settings import Settings, to_psycopg_url
from signing import seal_service, sealing
from signing.blobs import BlobStore
from signing.certificate import render_certificate
from signing.conclusion import announce_conclusion
from signing.renewal import renewal_deadline
from signing.sealing import Sealer, TextBoxFill
from testpki import PKIServer, TestPKI
from tests import factories as f
from tests.signing.concluded import agreed_by_its_signer
from tests.signing.conftest import free_port
from tests.signing.pdfgen import make_pdf

CONTRACTS = 16
WARM_UP = 2
VALUE = "株式会社岩手建設　代表取締役　髙橋一郎"


def _serve(directory: str, port: int, ready: mp.synchronize.Event, stop: mp.synchronize.Event) -> None:
    with PKIServer(TestPKI.ensure(directory, port=port)):
        ready.set()
        stop.wait()


@contextmanager
def _pki_process(directory: Path) -> Iterator[TestPKI]:
    port = free_port()
    pki = TestPKI.ensure(directory, port=port)
    ready, stop = mp.Event(), mp.Event()
    server = mp.Process(target=_serve, args=(str(directory), port, ready, stop), daemon=True)
    server.start()
    try:
        assert ready.wait(30), "the test PKI server did not start"
        yield pki
    finally:
        stop.set()
        server.join(10)


async def _waiting_contracts(settings: Settings, count: int) -> list[uuid.UUID]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            ids = []
            for i in range(count):
                contract = await agreed_by_its_signer(
                    session,
                    settings,
                    member,
                    files=[("契約書.pdf", make_pdf(1, title=f"Contract {i}"))],
                    subject=f"図書館空調改修工事 {i}",
                    contract_number=f"R8-{i:04d}",
                    counterparty="岩手建設株式会社",
                    amount=1_200_000,
                    transaction_date=dt.date(2026, 4, 1),
                    login=f"signer-{i}",
                    title_code=f"mayor-{i}",
                    value=VALUE,
                )
                ids.append(contract.id)
            await session.commit()
            return ids
    finally:
        await engine.dispose()


class _Steps:
    """CPU spent inside the steps the seal task calls, per contract."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)

    def sync(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.cpu[name] += time.process_time() - began

        return timed

    def awaited(self, name: Callable[..., str], function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return await function(*args, **kwargs)
            finally:
                self.cpu[name(*args, **kwargs)] += time.process_time() - began

        return timed


@contextmanager
def _timing(steps: _Steps, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Time the steps where the seal task calls them (the functions themselves run unchanged)."""
    with monkeypatch.context() as patch:
        patch.setattr(seal_service, "render_certificate", steps.sync("render certificate", render_certificate))
        patch.setattr(seal_service, "renewal_deadline", steps.sync("renewal date", renewal_deadline))
        patch.setattr(
            seal_service,
            "announce_conclusion",
            steps.awaited(lambda *a, **k: "queue mails", announce_conclusion),
        )
        patch.setattr(
            Sealer,
            "seal",
            steps.awaited(
                lambda _self, _pdf, fills, **k: "seal contract PDF" if fills else "seal certificate", Sealer.seal
            ),
        )
        patch.setattr(BlobStore, "put", steps.awaited(lambda *a, **k: "blob store (encrypt, write)", BlobStore.put))
        patch.setattr(BlobStore, "get", steps.awaited(lambda *a, **k: "blob store (read, decrypt)", BlobStore.get))
        yield


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms"


def _seal_tasks(
    settings: Settings, pool: seal_service.SealerPool, ids: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[float], dict[str, list[float]]]:
    """CPU of each seal task after the warm-up, and of each step in it."""

    async def seal(contract_id: uuid.UUID) -> seal_service.SealOutcome:
        async with session_scope(settings) as session:
            return await seal_service.seal_contract(session, settings, pool, contract_id)

    totals: list[float] = []
    per_step: dict[str, list[float]] = defaultdict(list)
    for index, contract_id in enumerate(ids):
        steps = _Steps()
        with _timing(steps, monkeypatch):
            began = time.process_time()
            assert run_async(seal(contract_id)) is seal_service.SealOutcome.SEALED
            spent = time.process_time() - began
        if index >= WARM_UP:
            totals.append(spent)
            for name, cpu in steps.cpu.items():
                per_step[name].append(cpu)
    return totals, per_step


def _sealer_alone(
    pool: seal_service.SealerPool, runs: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[float], list[float]]:
    """The pool's sealer on the same kind of PDF: as it seals now, and sizing each container as before."""
    document = make_pdf(1, title="Contract reference")
    fills = [TextBoxFill(page=0, x=72, y=600, width=320, height=22, text=VALUE)]
    sealer = pool.sealer("provider")
    alone, sized_each_time = [], []
    for _ in range(runs):
        began = time.process_time()
        run_async(sealer.seal(document, fills, reason="reference", location="盛岡市"))
        alone.append(time.process_time() - began)
    learned = sealer._reserved
    with monkeypatch.context() as patch:
        patch.setattr(sealing, "_signature_room", lambda _sealed: None)  # learn nothing: size every container
        for _ in range(runs):
            sealer._reserved = None  # pyHanko sizes the container with a dummy signature, as before
            began = time.process_time()
            run_async(sealer.seal(document, fills, reason="reference", location="盛岡市"))
            sized_each_time.append(time.process_time() - began)
    sealer._reserved = learned
    return alone, sized_each_time


def _empty_tasks(settings: Settings, runs: int = 20) -> tuple[list[float], list[float]]:
    """A task's own overhead: one session, SELECT 1, commit; on the reused loop and engine, and on new ones."""

    async def empty_task() -> None:
        async with session_scope(settings) as session:
            await session.execute(text("SELECT 1"))

    async def empty_task_fresh_engine() -> None:
        engine = create_engine(settings, pool_size=2, max_overflow=4)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                await session.execute(text("SELECT 1"))
                await session.commit()
        finally:
            await engine.dispose()

    run_async(empty_task())
    reused, fresh = [], []
    for _ in range(runs):
        began = time.process_time()
        run_async(empty_task())
        reused.append(time.process_time() - began)
        began = time.process_time()
        asyncio.run(empty_task_fresh_engine())
        fresh.append(time.process_time() - began)
    return reused, fresh


@pytest.mark.bench
def test_cpu_of_sealing_one_contract(fresh_database: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = fresh_database
    ids = asyncio.run(_waiting_contracts(settings, CONTRACTS))
    with _pki_process(tmp_path / "pki") as pki:
        pool = seal_service.SealerPool(pki.signing_settings("provider"))
        totals, per_step = _seal_tasks(settings, pool, ids, monkeypatch)
        alone, sized_each_time = _sealer_alone(pool, len(totals), monkeypatch)
        run_async(pool.aclose())
    reused, fresh = _empty_tasks(settings)

    print(f"\nCPU of the seal task per contract (median of {len(totals)}, 1-page PDF, one typed value):")
    print(f"  whole task                         {_ms(totals)}")
    accounted = 0.0
    for name in sorted(per_step, key=lambda n: -statistics.median(per_step[n])):
        accounted += statistics.median(per_step[name])
        print(f"  {name:34} {_ms(per_step[name])}")
    rest = statistics.median(totals) - accounted
    print(f"  rest (database, ORM, audit, scope) {rest * 1000:7.1f} ms")
    print("reference, same run:")
    print(f"  the sealer alone, same PDF         {_ms(alone)}")
    print(f"  the same, pyHanko sizing each seal {_ms(sized_each_time)}")
    print(f"  empty task, reused loop and engine {_ms(reused)}")
    print(f"  empty task, new loop and engine    {_ms(fresh)}")
