"""Database statements per request of a contract's circulation, counted (not timed).

Each statement is a round trip to PostgreSQL and, above all, a pass through
SQLAlchemy and psycopg: under load most of a web process's CPU. The ceilings
below are today's counts (212 for the whole circulation before they were
counted, 167 now); a change that adds statements to these requests fails here
and says which ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from tests import factories as f
from tests.conftest import csrf_token, start_worker, task_sender
from tests.signing.conftest import Mailbox, make_office, new_members
from tests.signing.test_circulation import Circulation

BOX = re.compile(r'name="box_([0-9a-f\-]{36})"')

CEILINGS = {
    "create (API)": 19,
    "add a party (API)": 14,
    "send (API)": 20,
    "contractor link page": 8,
    "contractor password": 14,
    "contractor contract page": 9,
    "contractor agrees": 19,
}


class Statements:
    """The statements sent while ``on``, first lines only."""

    def __init__(self) -> None:
        self.on = False
        self.seen: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.seen.append(statement.split("\n", maxsplit=1)[0][:100])


async def _office(maker: Any) -> Any:
    async with maker() as session:
        two = await new_members(session)
        office = await make_office(session, two)
        await session.commit()
    return office


async def _circulate(client: AsyncTestClient[Any], circulation: Circulation, office: Any, step: Any, tag: str) -> None:
    """One contract: a 1-page PDF, two contractors in order, each opening, passing the gate and agreeing."""
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await step(
        "create (API)",
        client.post(
            "/api/v1/contracts/",
            headers=api,
            data={
                "subject": "庁舎清掃業務委託",
                "title_id": str(office.title_a.id),
                "amount": "1100000",
                "transaction_date": "2026-12-01",
                "counterparty": "株式会社岩手清掃",
            },
            files=[("files", ("契約書.pdf", f.pdf(1), "application/pdf"))],
        ),
        201,
    )
    contract_id = created.json()["id"]
    for order in (1, 2):
        party = {
            "order_no": order,
            "kind": "contractor",
            "company": f"株式会社岩手清掃{order}",
            "name": f"髙橋 {order}郎",
            "email": f"{tag}-c{order}@example.co.jp",
            "password": f"pass-{order}-word",
        }
        await step(
            "add a party (API)", client.post(f"/api/v1/contracts/{contract_id}/parties", headers=api, json=party), 201
        )
    await step("send (API)", client.post(f"/api/v1/contracts/{contract_id}/send", headers=api), 200)
    for order in (1, 2):
        token = await circulation.link(f"{tag}-c{order}@example.co.jp")
        await step("contractor link page", client.get(f"/c/{token}"), 200)
        form = {"password": f"pass-{order}-word", "_csrf_token": await csrf_token(client)}
        await step("contractor password", client.post(f"/c/{token}/password", data=form, follow_redirects=False), 303)
        page = await step("contractor contract page", client.get(f"/c/{token}"), 200)
        values = {f"box_{box}": "株式会社岩手清掃" for box in BOX.findall(page.text)}
        answer = {**values, "_csrf_token": await csrf_token(client), "confirmed": "yes"}
        await step("contractor agrees", client.post(f"/c/{token}/agree", data=answer), 200)


async def test_statements_per_request_of_a_circulation(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, port = smtp_server
    monkeypatch.setenv("KYODO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KYODO_SMTP_PORT", str(port))
    # The test relays the outbox itself, between requests: nothing is sent behind a request's back.
    monkeypatch.setenv("KYODO_OUTBOX_RELAY_INLINE", "false")
    worker = start_worker(fresh_database, tmp_path, name="mail")
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    statements = Statements()
    counted: dict[str, list[list[str]]] = {}
    try:
        office = await _office(maker)
        circulation = Circulation(maker, box, task_sender(fresh_database))
        event.listen(Engine, "before_cursor_execute", statements)
        async with AsyncTestClient(app=create_app(fresh_database)) as client:

            async def step(name: str, request: Any, status: int) -> Any:
                statements.on, statements.seen = True, []
                response = await request
                statements.on = False
                assert response.status_code == status, response.text
                counted.setdefault(name, []).append(statements.seen)
                return response

            # The first contract warms the caches (policy, prepared statements); the second is counted.
            await _circulate(client, circulation, office, step, "first")
            counted.clear()
            await _circulate(client, circulation, office, step, "second")
    finally:
        event.remove(Engine, "before_cursor_execute", statements)
        worker.stop()
        await engine.dispose()

    print("\nstatements per request:")
    for name, runs in counted.items():
        print(f"  {name:<28}{max(len(r) for r in runs):>4}")
    for name, ceiling in CEILINGS.items():
        most = max(counted[name], key=len)
        assert len(most) <= ceiling, f"{name}: {len(most)} statements (at most {ceiling}):\n" + "\n".join(most)
