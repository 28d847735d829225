"""`kyodo seal pending` and `kyodo seal retry`: what an operator runs when a seal needs care."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage
from core.scope import Principal, PrincipalKind
from core.settings import Settings, to_psycopg_url
from signing import services as svc
from signing.audit import Actor
from signing.models import Contract, ContractStatus
from tests import factories as f
from tests.scope import system_access
from tests.signing.pdfgen import make_pdf

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _kyodo(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


async def _failed_contract(settings: Settings, reason: str) -> str:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            title = await f.title(session, member, "mayor", "市長", "盛岡市長")
            drafter = await f.staff(session, member, "morioka-drafter", roles=("drafter",))
            principal = Principal(
                kind=PrincipalKind.STAFF, id=drafter.id, name="起案", consortium_id=group.id, member_id=member.id
            )
            await system_access(session)
            contract = await svc.create_contract(
                session, principal, svc.ContractInput(subject="委託契約", title_id=title.id), Actor("起案")
            )
            await svc.add_documents(session, settings, contract, [("a.pdf", make_pdf(1))], Actor("起案"))
            contract.status = ContractStatus.SEAL_FAILED
            contract.seal_failure = {"reason": reason, "detail": "RuntimeError: test"}
            await session.commit()
            return str(contract.id)
    finally:
        await engine.dispose()


async def _status(settings: Settings, contract_id: str) -> tuple[ContractStatus, int]:
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    try:
        async with async_sessionmaker(engine)() as session:
            await system_access(session)
            contract = await session.get(Contract, contract_id)
            assert contract is not None
            tasks = (await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == svc.SEAL_TASK))).all()
            return contract.status, len(tasks)
    finally:
        await engine.dispose()


async def test_pending_lists_failed_seals_and_retry_sends_an_internal_failure_again(fresh_database: Settings) -> None:
    contract_id = await _failed_contract(fresh_database, "internal")
    pending = _kyodo(fresh_database, "seal", "pending")
    assert pending.returncode == 1, pending.stdout + pending.stderr
    assert f"{contract_id}  封緘できませんでした (internal)" in pending.stdout
    assert "0 contract(s) waiting for their seal, 1 could not be sealed" in pending.stdout

    retried = _kyodo(fresh_database, "seal", "retry", contract_id)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert await _status(fresh_database, contract_id) == (ContractStatus.SEALING, 1)
    again = _kyodo(fresh_database, "seal", "pending")
    assert "1 contract(s) waiting for their seal, 0 could not be sealed" in again.stdout
    assert again.returncode == 0


async def test_retry_refuses_a_failure_staff_must_correct(fresh_database: Settings) -> None:
    contract_id = await _failed_contract(fresh_database, "characters")
    refused = _kyodo(fresh_database, "seal", "retry", contract_id)
    assert refused.returncode != 0
    assert "職員" in refused.stderr
    assert await _status(fresh_database, contract_id) == (ContractStatus.SEAL_FAILED, 0)
