"""A bounded property-based run against the published OpenAPI schema: no input gets a 5xx.

Schemathesis reads ``/schema/openapi.json`` of a running ``kyodo serve`` and
sends generated requests to every operation (valid ones and ones that break
the schema: wrong types, huge numbers, long and odd strings, missing fields) with
an API key holding the administrator's and the drafter's roles. The only check is
the one a caller relies on: the server answers every request without a server
error. A bounded number of examples per operation keeps the run short; the seed
is fixed so a failure can be replayed.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import to_psycopg_url
from tenants.models import Consortium, Member
from tests import factories as f
from tests.e2e.conftest import Live

EXAMPLES_PER_OPERATION = 4


async def _admin_key(live: Live) -> str:
    engine = create_async_engine(to_psycopg_url(live.settings.database.admin_url or live.settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            # A member of its own: the generated requests change and delete what an administrator may,
            # and the other browser tests share this platform's member 032018.
            seeded = (await session.scalars(select(Member).where(Member.lg_code == "032018"))).one()
            group = await session.get(Consortium, seeded.consortium_id)
            assert group is not None
            member = await f.member(session, group, "039999", "検査村")
            await f.title(session, member, "mayor", "村長", "検査村長 検査 太郎")
            key = await f.api_key(session, member, roles=("admin", "drafter"), label="検査")
            await session.commit()
            return key
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def fuzz_key(live: Live) -> str:
    return asyncio.run(_admin_key(live))


def _server_errors(live: Live, key: str, operation: APIOperation, mode: GenerationMode) -> list[str]:
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def probe(case: Case) -> None:
        response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        if response.status_code >= 500:
            found.append(f"{response.status_code} {case.method} {case.formatted_path}: {case.as_curl_command()}")

    probe()
    return found


def test_no_generated_request_gets_a_server_error(live: Live, fuzz_key: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    # /health/ready answers 503 by design while no worker runs (a load balancer's signal, not a failure)
    operations: list[APIOperation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the published schema does not parse: {result.err()}"
        if result.ok().path != "/health/ready":
            operations.append(result.ok())
    assert len(operations) >= 30, "the API schema lost its operations"
    errors: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            errors.extend(_server_errors(live, fuzz_key, operation, mode))
    assert not errors, "server errors:\n" + "\n".join(errors[:20])
