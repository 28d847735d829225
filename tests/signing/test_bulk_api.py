"""Bulk sending through the JSON API (API-2, NII-36): the twin of the screens, for other systems of a member.

A financial system checks its counterparties (a CSV file as the screen takes it,
or JSON rows) in a dry run that writes nothing, sends them with an
``Idempotency-Key`` (a retry sends nothing more), follows the batch and reads
each contract's access password once.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import BulkBatch, BulkBatchRow, BulkRowState, Contract, PartyKind
from tenants.passwords import verify_access_code
from tests import factories as f
from tests.conftest import sign_in
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.test_bulk_sending import CP932_ROWS, SUBJECT, counts, prepare_draft

ROWS: dict[str, Any] = {
    "rows": [
        {
            "company": "髙橋建設株式会社",
            "person": "髙橋 一郎",
            "email": "takahashi@example.co.jp",
            "amount": 1200000,
            "contract_number": "盛総第101号",
            "subject": "（本庁舎）",
            "transaction_date": "令和8年4月1日",
        },
        {"company": "山﨑商事株式会社", "person": "山﨑 花子", "email": "yamasaki@example.co.jp", "amount": "980,000"},
        {"company": "ｲﾜﾃｼｮｳｼﾞ", "person": "ｻｻｷ ｼﾞﾛｳ", "email": "sasaki@example.co.jp"},
    ]
}


def _key(office: Office) -> dict[str, str]:
    return {"Authorization": f"Bearer {office.key_a}"}


async def test_the_dry_run_reads_a_cp932_file_or_json_rows_and_writes_nothing(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    before = await counts(db_session)
    url = f"/api/v1/contracts/{draft.id}/bulk/preview"
    checked = await client.post(
        url, headers=_key(office), files=[("file", ("相手方.csv", CP932_ROWS.encode("cp932"), "text/csv"))]
    )
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["sendable"] is True
    assert body["encoding"] == "cp932"
    assert [r["line"] for r in body["rows"]] == [2, 3, 4]
    first = body["rows"][0]
    assert (first["company"], first["person"], first["amount"]) == ("髙橋建設株式会社", "髙橋 一郎", 1_200_000)
    assert first["subject"] == f"{SUBJECT}　（本庁舎）"
    assert first["transaction_date"] == "2026-04-01"
    assert body["rows"][2]["amount"] == 500_000  # the draft's

    wrong = {"rows": [*ROWS["rows"], {"company": "盛岡設備", "person": "", "email": "not-an-address"}]}
    wrong["rows"][1] = {**wrong["rows"][1], "email": "TAKAHASHI@example.co.jp", "amount": "千円"}
    refused = await client.post(url, headers=_key(office), json=wrong)
    assert refused.status_code == 200, refused.text
    body = refused.json()
    assert body["sendable"] is False
    problems = {r["line"]: " ".join(r["problems"]) for r in body["rows"]}
    assert problems[1] == ""
    assert "1行目" in problems[2]  # the same address (in another case) as row 1
    assert "金額" in problems[2]
    assert "担当者" in problems[4]
    assert "メールアドレスではありません" in problems[4]
    assert await counts(db_session) == before  # a dry run

    empty = await client.post(url, headers=_key(office), json={"rows": []})
    assert empty.json()["problems"][0]["line"] == 0
    not_rows = await client.post(url, headers=_key(office), json={"rows": "髙橋建設"})
    assert not_rows.status_code == 400
    assert "JSON" in not_rows.json()["detail"]
    nothing = await client.post(url, headers=_key(office), content=b"company,person", params={})
    assert nothing.status_code == 400
    assert "file" in nothing.json()["detail"]
    assert await counts(db_session) == before


async def test_a_send_with_an_idempotency_key_is_sent_once_and_its_passwords_are_shown_once(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    headers = _key(office) | {"Idempotency-Key": "zaimu-bulk-2026-001"}
    sent = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=headers, json=ROWS)
    assert sent.status_code == 202, sent.text
    batch = sent.json()
    assert (batch["status"], batch["total"], batch["sent"], batch["failed"]) == ("done", 3, 3, 0)
    assert all(r["password"] is None for r in batch["rows"])  # never in the answer a retry replays
    assert "GET /api/v1/bulk/" in batch["passwords_note"]
    made = await counts(db_session)

    again = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=headers, json=ROWS)
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == batch["id"]
    assert await counts(db_session) == made  # nothing sent twice

    result = await client.get(f"/api/v1/bulk/{batch['id']}", headers=_key(office))
    assert result.status_code == 200
    assert result.headers["cache-control"] == "no-store"
    shown = result.json()
    assert shown["passwords_included"] is True
    rows = {r["email"]: r for r in shown["rows"]}
    assert {r["state"] for r in rows.values()} == {"sent"}
    assert rows["takahashi@example.co.jp"]["contract_number"] == "盛総第101号"
    await system_access(db_session)
    for row in rows.values():
        contract = await db_session.get(Contract, uuid.UUID(row["contract_id"]))
        assert contract is not None
        await db_session.refresh(contract, ["parties"])
        (party,) = [p for p in contract.parties if p.kind is PartyKind.CONTRACTOR]
        assert party.email == row["email"]
        assert await verify_access_code(party.password_hash, row["password"])

    later = (await client.get(f"/api/v1/bulk/{batch['id']}", headers=_key(office))).json()
    assert later["passwords_included"] is False
    assert all(r["password"] is None for r in later["rows"])
    assert "もう表示できません" in later["passwords_note"]
    assert "/password" in later["passwords_note"]  # how to give a new one
    stored = await db_session.execute(text("SELECT body FROM api_idempotency_key"))
    everything = repr(stored.all()) + repr((await db_session.execute(text("SELECT * FROM bulk_batch"))).all())
    assert not [r["password"] for r in rows.values() if r["password"] in everything]  # never in clear


async def test_a_row_with_a_problem_refuses_the_whole_send_and_writes_nothing(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    before = await counts(db_session)
    wrong = {"rows": [*ROWS["rows"][:2], {**ROWS["rows"][2], "email": "sasaki@"}]}
    headers = _key(office) | {"Idempotency-Key": "zaimu-bulk-bad"}
    refused = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=headers, json=wrong)
    assert refused.status_code == 422, refused.text
    assert "送信していません" in refused.json()["detail"]
    assert refused.json()["preview"]["rows"][2]["problems"]
    assert await counts(db_session) == before
    await system_access(db_session)
    assert (await db_session.scalars(select(BulkBatch))).all() == []
    assert (await db_session.execute(text("SELECT count(*) FROM api_idempotency_key"))).scalar() == 0
    # The same key, corrected: sent now (an error kept nothing of the key).
    sent = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=headers, json=ROWS)
    assert sent.status_code == 202, sent.text
    file_sent = await client.post(
        f"/api/v1/contracts/{draft.id}/bulk",
        headers=_key(office),
        files=[("file", ("相手方.csv", CP932_ROWS.encode("cp932"), "text/csv"))],
    )
    assert file_sent.status_code == 202, file_sent.text
    assert [r["line"] for r in file_sent.json()["rows"]] == [2, 3, 4]
    stored = (await db_session.scalars(select(BulkBatchRow).where(BulkBatchRow.state == BulkRowState.SENT))).all()
    assert len(stored) == 6


async def test_another_member_or_key_reaches_neither_the_draft_nor_the_batch(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    other_key_of_a = {"Authorization": f"Bearer {await f.api_key(db_session, office.members.a, label='文書管理')}"}
    sent = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=_key(office), json=ROWS)
    assert sent.status_code == 202, sent.text
    batch_id = sent.json()["id"]
    made = await counts(db_session)
    b = {"Authorization": f"Bearer {office.key_b}"}
    for headers in (b, other_key_of_a):
        response = await client.get(f"/api/v1/bulk/{batch_id}", headers=headers)
        assert response.status_code == 404, response.text
    for path in (f"/api/v1/contracts/{draft.id}/bulk/preview", f"/api/v1/contracts/{draft.id}/bulk"):
        response = await client.post(path, headers=b, json=ROWS)
        assert response.status_code == 404, response.text
        assert "髙橋" not in response.text
    assert await counts(db_session) == made
    # A staff member of the same member reaches neither the API key's batch on the screen nor its passwords.
    await sign_in(client, "morioka-drafter")
    assert (await client.get(f"/contracts/bulk/{batch_id}")).status_code == 404
    assert (await client.get(f"/api/v1/bulk/{batch_id}")).status_code == 404
    assert (await client.get(f"/api/v1/bulk/{uuid.uuid4()}", headers=_key(office))).status_code == 404
    # Still there, once, for the key that sent it.
    shown = (await client.get(f"/api/v1/bulk/{batch_id}", headers=_key(office))).json()
    assert shown["passwords_included"] is True


async def test_the_api_is_documented_with_examples(client: AsyncTestClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path, method in (
        ("/api/v1/contracts/{contract_id}/bulk/preview", "post"),
        ("/api/v1/contracts/{contract_id}/bulk", "post"),
    ):
        operation = paths[path][method]
        assert operation["summary"]
        assert operation["description"]
        content = operation["requestBody"]["content"]
        assert content["application/json"]["examples"]
        assert content["multipart/form-data"]["examples"]
    send = paths["/api/v1/contracts/{contract_id}/bulk"]["post"]
    assert [p for p in send["parameters"] if p["name"] == "Idempotency-Key"]
    assert "202" in send["responses"]
    batch = paths["/api/v1/bulk/{batch_id}"]["get"]
    assert "once" in batch["description"]
    assert batch["responses"]["200"]["content"]["application/json"]["examples"]
