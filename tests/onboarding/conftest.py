"""Fixtures of the onboarding tests: the platform's seal (test PKI) and a web application that uses it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings, SigningSettings
from testpki import PKIServer, TestPKI
from tests.signing.conftest import free_port


@pytest.fixture(scope="session")
def seal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningSettings]:
    """The test PKI's provider seal, its TSA, OCSP and CRL served on the loopback."""
    pki = TestPKI.ensure(tmp_path_factory.mktemp("pki"), port=free_port())
    with PKIServer(pki):
        yield pki.signing_settings("provider")


def _maker(conn: AsyncConnection) -> Any:
    def make() -> AsyncSession:
        return AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)

    return make


@pytest.fixture
async def sealing_client(
    settings: Settings, seal: SigningSettings, db_connection: AsyncConnection
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The web application with the test PKI as the platform's seal (the deletion report is sealed)."""
    from kyodo.app import create_app

    app = create_app(dataclasses.replace(settings, seal_key=seal), session_maker=_maker(db_connection))
    async with AsyncTestClient(app=app) as client:
        yield client


async def worker_deletes(session: AsyncSession, settings: Settings, seal: SigningSettings, member_id: Any) -> Any:
    """What the deletion worker does with the member's queued deletion, here in this test's own transaction.

    The screen only records the confirmed request and its task in the outbox
    (checked here); a worker process cannot see a test's uncommitted rows, so
    the worker's own function runs in-process. The real worker is exercised by
    ``test_a_real_worker_deletes_and_seals_the_report``.
    """
    from onboarding.leaving import DELETION_TASK, carry_out_deletion
    from onboarding.models import DeletionRequest, DeletionStatus
    from signing.exit import deletion_report_sealer
    from tests.scope import system_access

    await system_access(session)
    request = await session.scalar(
        select(DeletionRequest).where(
            DeletionRequest.member_ref_id == member_id, DeletionRequest.status == DeletionStatus.QUEUED.value
        )
    )
    assert request is not None, "the confirmed deletion is queued"
    tasks = await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == DELETION_TASK))
    assert [m.kwargs for m in tasks] == [{"request_id": str(request.id)}]
    sealed = dataclasses.replace(settings, seal_key=seal)
    return await carry_out_deletion(session, sealed, request.id, seal_report=deletion_report_sealer(sealed))
