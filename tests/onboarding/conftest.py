"""Fixtures of the onboarding tests: the platform's seal (test PKI) and a web application that uses it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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
