"""``Idempotency-Key`` on the API's creating requests: a retry gets the first answer and nothing is made twice.

A financial system that lost the answer to "create the contract" sends the same
request again with the same key; it must get the same contract back, and the
member must not find two drafts. Parallel retries (a client that times out and
retries while the first request is still running) are sent over real HTTP to a
real server on a committed database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import Contract
from signing.tasks import purge_idempotency_keys
from tenants.idempotency import IdempotencyKey
from tenants.models import Member
from tests import factories as f
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.tenants.test_lockout_race import (  # noqa: F401 - the staff lock-out tests' uvicorn server and helpers
    Platform,
    _system_session,
    platform,
)


def _form(office: Office, subject: str = "市道3号線舗装補修工事") -> dict[str, str]:
    return {"subject": subject, "title_id": str(office.title_a.id), "amount": "13200000", "counterparty": "岩手舗装"}


def _files() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", ("契約書.pdf", f.pdf(1), "application/pdf"))]


async def _create(client: AsyncTestClient, office: Office, key: str | None, **form: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {office.key_a}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/v1/contracts/", headers=headers, data=form or _form(office), files=_files())


async def _subjects(client: AsyncTestClient, key: str) -> list[str]:
    listed = await client.get("/api/v1/contracts/", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    return sorted(c["subject"] for c in listed.json()["items"])


async def test_a_retried_create_returns_the_first_contract_and_creates_nothing(
    client: AsyncTestClient, office: Office
) -> None:
    first = await _create(client, office, "zaimu-2026-0001")
    assert first.status_code == 201, first.text
    again = await _create(client, office, "zaimu-2026-0001")
    assert again.status_code == 201
    assert again.content == first.content  # the same contract, the same documents, byte for byte
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _subjects(client, office.key_a) == ["市道3号線舗装補修工事"]
    # Without a key, or with another one, a request is a new contract.
    assert (await _create(client, office, None)).status_code == 201
    other = await _create(client, office, "zaimu-2026-0002")
    assert other.json()["id"] != first.json()["id"]
    assert len(await _subjects(client, office.key_a)) == 3


async def test_the_same_key_for_another_request_is_refused_in_japanese(client: AsyncTestClient, office: Office) -> None:
    assert (await _create(client, office, "zaimu-0003")).status_code == 201
    changed = await _create(client, office, "zaimu-0003", **_form(office, "別の件名"))
    assert changed.status_code == 422
    assert changed.json()["detail"] == (
        "この Idempotency-Key は別のリクエストで使われています。新しいリクエストには新しいキーを付けてください。"
    )
    assert await _subjects(client, office.key_a) == ["市道3号線舗装補修工事"]
    too_long = await _create(client, office, "k" * 256)
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["detail"]
    assert "255" in too_long.json()["detail"]


@pytest.fixture
async def second_key(db_session: AsyncSession, office: Office) -> str:
    """Another API key of member A (made before the app starts, as keys are issued before use)."""
    return await f.api_key(db_session, office.members.a, roles=("drafter",), label="文書管理")


async def test_keys_are_per_member_and_per_api_key(second_key: str, client: AsyncTestClient, office: Office) -> None:
    mine = await _create(client, office, "shared-key")
    # Member B's system uses the same key string: its own contract, nothing of member A's answer.
    theirs = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_b}", "Idempotency-Key": "shared-key"},
        data={"subject": "八幡平市庁舎清掃", "title_id": str(office.title_b.id)},
        files=_files(),
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != mine.json()["id"]
    assert "市道3号線" not in theirs.text
    assert await _subjects(client, office.key_b) == ["八幡平市庁舎清掃"]
    # Another API key of member A: its own keys too.
    other = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {second_key}", "Idempotency-Key": "shared-key"},
        data=_form(office),
        files=_files(),
    )
    assert other.status_code == 201
    assert other.json()["id"] != mine.json()["id"]


async def test_a_failed_request_is_not_kept_and_its_retry_does_the_work(
    client: AsyncTestClient, office: Office
) -> None:
    headers = {"Authorization": f"Bearer {office.key_a}", "Idempotency-Key": "retry-after-400"}
    refused = await client.post("/api/v1/contracts/", headers=headers, data={"subject": "件名"}, files=_files())
    assert refused.status_code == 400
    assert await _subjects(client, office.key_a) == []
    created = await _create(client, office, "retry-after-400")
    assert created.status_code == 201
    assert await _subjects(client, office.key_a) == ["市道3号線舗装補修工事"]


async def test_parties_boxes_documents_and_copies_are_not_made_twice(client: AsyncTestClient, office: Office) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = (await _create(client, office, None)).json()
    contract_id, document_id = created["id"], created["documents"][0]["id"]
    party = {"order_no": 1, "kind": "contractor", "company": "岩手舗装", "name": "岩手 一郎"}
    party |= {"email": "ichiro@iwate-hoso.example.jp", "password": "tel-2026-ok"}
    answers = [
        await client.post(
            f"/api/v1/contracts/{contract_id}/parties", headers=api | {"Idempotency-Key": "party-1"}, json=party
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    parties = await client.get(f"/api/v1/contracts/{contract_id}/parties", headers=api)
    assert len(parties.json()) == 1
    box = {"document_id": document_id, "party_id": answers[0].json()["id"], "page": 0, "x": 72, "y": 90}
    box |= {"width": 200, "height": 22, "label": "受注者 住所"}
    for _ in range(2):
        placed = await client.post(
            f"/api/v1/contracts/{contract_id}/text-boxes", headers=api | {"Idempotency-Key": "box-1"}, json=box
        )
        assert placed.status_code == 201, placed.text
    assert len((await client.get(f"/api/v1/contracts/{contract_id}/text-boxes", headers=api)).json()) == 1
    for _ in range(2):
        added = await client.post(
            f"/api/v1/contracts/{contract_id}/documents",
            headers=api | {"Idempotency-Key": "upload-1"},
            files=[("files", ("別紙.pdf", f.pdf(1), "application/pdf"))],
        )
        assert added.status_code == 201, added.text
    assert len((await client.get(f"/api/v1/contracts/{contract_id}", headers=api)).json()["documents"]) == 2
    copies = [
        await client.post(f"/api/v1/contracts/{contract_id}/copy", headers=api | {"Idempotency-Key": "copy-1"})
        for _ in range(2)
    ]
    assert copies[0].status_code == copies[1].status_code == 201
    assert copies[0].json()["id"] == copies[1].json()["id"]
    assert len(await _subjects(client, office.key_a)) == 2
    # The key of the copy, used on another contract's copy, is another request.
    other = await client.post(
        f"/api/v1/contracts/{copies[0].json()['id']}/copy", headers=api | {"Idempotency-Key": "copy-1"}
    )
    assert other.status_code == 422


async def test_a_key_older_than_a_day_is_new_again(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    first = await _create(client, office, "yesterday")
    await system_access(db_session)
    await db_session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "yesterday")
        .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    )
    await db_session.flush()
    later = await _create(client, office, "yesterday")
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in later.headers


# --------------------------------------------------------------------------- at the same time, over real HTTP


async def _office_on(server: Platform) -> tuple[str, uuid.UUID, uuid.UUID]:
    async with _system_session(server.settings) as session:
        member = await session.scalar(select(Member).where(Member.lg_code == "032018"))
        assert member is not None
        title = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
        key = await f.api_key(session, member, roles=("drafter",))
        await session.commit()
        return key, member.id, title.id


async def _contracts_of(server: Platform, member_id: uuid.UUID) -> int:
    async with _system_session(server.settings) as session:
        return int(await session.scalar(select(func.count()).where(Contract.member_id == member_id)) or 0)


async def test_parallel_retries_with_one_key_create_one_contract(
    platform: Platform,  # noqa: F811 - the fixture imported above
) -> None:
    key, member_id, title_id = await _office_on(platform)
    form: dict[str, Any] = {"subject": "広域ごみ処理施設運営業務委託", "title_id": str(title_id)}
    pdf = f.pdf(1)
    async with httpx.AsyncClient(base_url=platform.url, timeout=120.0) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/contracts/",
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "zaimu-parallel"},
                    data=form,
                    files=[("files", ("契約書.pdf", pdf, "application/pdf"))],
                )
                for _ in range(8)
            )
        )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 7
    assert await _contracts_of(platform, member_id) == 1

    # The daily purge removes keys older than a day, and only those.
    async with _system_session(platform.settings) as session:
        assert purge_idempotency_keys(platform.settings) == 0
        await session.execute(
            update(IdempotencyKey).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        )
        await session.commit()
    assert purge_idempotency_keys(platform.settings) == 1
    async with _system_session(platform.settings) as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
