"""Drafts editable until sent, through the API (WF-3, API-1): particulars, parties and their order, text boxes,
files, deletion, copies, and a new version after a decline; every change in the contract's trail."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from signing import services as svc
from signing.audit import Actor
from signing.models import AuditEvent, Contract, ContractDocument, Party, TextBox
from tests import factories as f
from tests.scope import system_access
from tests.signing.conftest import Office

CONTRACTOR = {
    "order_no": 1,
    "kind": "contractor",
    "company": "岩手舗装株式会社",
    "name": "岩手 一郎",
    "email": "ichiro@iwate-hoso.example.jp",
    "password": "tel-2026-ok",
}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _draft(client: AsyncTestClient, office: Office, *, signers: int = 2) -> dict[str, Any]:
    """A draft with a two-page file, a contractor, ``signers`` member signers (in parallel) and a box each."""
    a = _auth(office.key_a)
    created = await client.post(
        "/api/v1/contracts/",
        headers=a,
        data={
            "subject": "市道3号線舗装補修工事",
            "title_id": str(office.title_a.id),
            "contract_number": "R8-道-017",
            "amount": "12500000",
            "transaction_date": "2026-11-20",
            "counterparty": "岩手舗装株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(2), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    contract = created.json()
    base = f"/api/v1/contracts/{contract['id']}"
    parties = [(await client.post(f"{base}/parties", headers=a, json=CONTRACTOR)).json()]
    for signer in office.signers_a[:signers]:
        added = await client.post(
            f"{base}/parties", headers=a, json={"order_no": 2, "kind": "staff", "staff_id": str(signer.id)}
        )
        assert added.status_code == 201, added.text
        parties.append(added.json())
    boxes = []
    for n, party in enumerate(parties):
        box = await client.post(
            f"{base}/text-boxes",
            headers=a,
            json={
                "document_id": contract["documents"][0]["id"],
                "party_id": party["id"],
                "page": 1,
                "x": 72,
                "y": 100 + 40 * n,
                "width": 200,
                "height": 22,
                "label": f"欄{n}",
            },
        )
        assert box.status_code == 201, box.text
        boxes.append(box.json())
    return {
        "id": contract["id"],
        "base": base,
        "document": contract["documents"][0]["id"],
        "parties": parties,
        "boxes": boxes,
    }


async def _kinds(session: AsyncSession, contract_id: str) -> list[tuple[str, dict[str, Any]]]:
    await system_access(session)
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.contract_id == uuid.UUID(contract_id)).order_by(AuditEvent.id)
    )
    return [(e.kind, e.detail) for e in rows]


def test_parties_move_by_steps_keeping_parallel_groups() -> None:
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    groups = [[a], [b, c], [d]]
    assert svc.moved(groups, d, "up") == [[a], [d], [b, c]]
    assert svc.moved(groups, a, "down") == [[b, c], [a], [d]]
    assert svc.moved(groups, c, "up") == [[a], [c], [b], [d]]
    assert svc.moved(groups, b, "down") == [[a], [c], [b], [d]]
    assert svc.moved(groups, d, "together") == [[a], [b, c, d]]
    assert svc.moved(groups, b, "apart") == [[a], [c], [b], [d]]
    assert svc.moved(groups, a, "up") == groups  # at the top already
    assert svc.moved(groups, d, "down") == groups


async def test_a_draft_is_corrected_until_it_is_sent(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await _draft(client, office)
    a, base = _auth(office.key_a), draft["base"]
    contractor, first, second = draft["parties"]

    # Particulars: changed ones recorded before → after; ``clear`` empties.
    edited = await client.patch(base, headers=a, json={"amount": 13_200_000, "clear": ["contract_number"]})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["amount"], edited.json()["contract_number"]) == (13_200_000, "")
    assert edited.json()["subject"] == "市道3号線舗装補修工事"
    refused = await client.patch(base, headers=a, json={"subject": "  ", "amount": 1})
    assert refused.status_code == 400
    assert "件名" in refused.json()["detail"]
    assert (await client.get(base, headers=a)).json()["amount"] == 13_200_000

    # Parties: corrected, reordered by steps (the two signers stay in parallel), removed without a gap.
    fixed = await client.patch(
        f"{base}/parties/{contractor['id']}", headers=a, json={"email": "ichiro@iwate.example.jp"}
    )
    assert fixed.json()["email"] == "ichiro@iwate.example.jp"
    bad = await client.patch(f"{base}/parties/{contractor['id']}", headers=a, json={"email": "not-an-address"})
    assert bad.status_code == 400
    order = await client.put(
        f"{base}/parties/order", headers=a, json={"steps": [[first["id"], second["id"]], [contractor["id"]]]}
    )
    assert order.status_code == 200, order.text
    assert [(p["id"], p["order_no"]) for p in order.json()] == [
        (first["id"], 1),
        (second["id"], 1),
        (contractor["id"], 2),
    ]
    incomplete = await client.put(f"{base}/parties/order", headers=a, json={"steps": [[first["id"]]]})
    assert incomplete.status_code == 400

    # Boxes: moved, resized, relabelled, reassigned, refused off the page, deleted.
    box = draft["boxes"][0]
    moved = await client.patch(
        f"{base}/text-boxes/{box['id']}",
        headers=a,
        json={"x": 300, "y": 500, "width": 150, "label": "請負者 住所", "party_id": first["id"]},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["x"], moved.json()["y"], moved.json()["width"], moved.json()["height"]) == (300, 500, 150, 22)
    assert (moved.json()["label"], moved.json()["party_id"]) == ("請負者 住所", first["id"])
    off = await client.patch(f"{base}/text-boxes/{box['id']}", headers=a, json={"x": 500})
    assert off.status_code == 400
    assert "ページ" in off.json()["detail"]
    assert (await client.delete(f"{base}/text-boxes/{draft['boxes'][2]['id']}", headers=a)).status_code == 204
    listed = (await client.get(f"{base}/text-boxes", headers=a)).json()
    assert [b["id"] for b in listed] == [box["id"], draft["boxes"][1]["id"]]

    # Removing a signer of the parallel step takes its box; the steps stay 1, 2.
    assert (await client.delete(f"{base}/parties/{second['id']}", headers=a)).status_code == 204
    parties = (await client.get(f"{base}/parties", headers=a)).json()
    assert [(p["id"], p["order_no"]) for p in parties] == [(first["id"], 1), (contractor["id"], 2)]
    remaining = [b["id"] for b in (await client.get(f"{base}/text-boxes", headers=a)).json()]
    assert remaining == [box["id"], draft["boxes"][1]["id"]]

    # Files: a replacement goes through the PDF gate; refused, nothing changes.
    document = f"{base}/documents/{draft['document']}"
    script = await client.put(
        document, headers=a, files=[("file", ("script.pdf", f.pdf(2, javascript=True), "application/pdf"))]
    )
    assert script.status_code == 400
    assert "スクリプト" in script.json()["detail"]
    short = await client.put(document, headers=a, files=[("file", ("1page.pdf", f.pdf(1), "application/pdf"))])
    assert short.status_code == 400
    assert "請負者 住所" in short.json()["detail"]  # the box on page 2 would be lost
    replaced = await client.put(document, headers=a, files=[("file", ("改訂版.pdf", f.pdf(3), "application/pdf"))])
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["file_name"], replaced.json()["pages"]) == ("改訂版.pdf", 3)

    await _changes_recorded(db_session, draft, second["id"])
    await _refused_once_sent(client, a, base, document=document, parties=(contractor["id"], first["id"]), box=box["id"])


async def _changes_recorded(session: AsyncSession, draft: dict[str, Any], second: str) -> None:
    kinds = await _kinds(session, draft["id"])
    changes = [d for k, d in kinds if k == "updated"]
    assert {
        "changed": {
            "amount": {"from": 12_500_000, "to": 13_200_000},
            "contract_number": {"from": "R8-道-017", "to": ""},
        }
    } in changes
    assert any("order" in d for d in changes)
    assert any(d.get("party_removed") == second for d in changes)
    assert any(d.get("text_box_removed") == draft["boxes"][2]["id"] for d in changes)
    assert any(k == "uploaded" and d.get("file_name") == "改訂版.pdf" for k, d in kinds)
    assert not any("tel-2026" in str(d) for _k, d in kinds)


async def _refused_once_sent(
    client: AsyncTestClient, a: dict[str, str], base: str, *, document: str, parties: tuple[str, str], box: str
) -> None:
    contractor, first = parties
    # Sent: every change is refused with a Japanese reason, and nothing changes.
    assert (await client.post(f"{base}/send", headers=a)).status_code == 200
    for response in (
        await client.patch(base, headers=a, json={"amount": 1}),
        await client.patch(f"{base}/parties/{contractor}", headers=a, json={"name": "別人"}),
        await client.delete(f"{base}/parties/{contractor}", headers=a),
        await client.put(f"{base}/parties/order", headers=a, json={"steps": [[contractor], [first]]}),
        await client.patch(f"{base}/text-boxes/{box}", headers=a, json={"x": 10}),
        await client.delete(f"{base}/text-boxes/{box}", headers=a),
        await client.put(document, headers=a, files=[("file", ("x.pdf", f.pdf(3), "application/pdf"))]),
        await client.delete(document, headers=a),
        await client.delete(base, headers=a),
    ):
        assert response.status_code == 409, response.text
        assert "送信済み" in response.json()["detail"] or "変更できません" in response.json()["detail"]
    assert (await client.get(base, headers=a)).json()["amount"] == 13_200_000


async def test_an_unsent_draft_is_deleted_and_the_deletion_recorded(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await _draft(client, office, signers=1)
    a, base = _auth(office.key_a), draft["base"]
    assert (await client.delete(f"{base}/documents/{draft['document']}", headers=a)).status_code == 204
    assert (await client.get(base, headers=a)).json()["documents"] == []
    assert (await client.delete(base, headers=a)).status_code == 204
    assert (await client.get(base, headers=a)).status_code == 404
    listed = await client.get("/api/v1/contracts/", headers=a)
    assert draft["id"] not in listed.text
    await system_access(db_session)
    for model in (ContractDocument, Party, TextBox):
        assert (await db_session.scalars(select(model).where(model.contract_id == uuid.UUID(draft["id"])))).all() == []
    kinds = await _kinds(db_session, draft["id"])
    assert kinds[-1][0] == "deleted"
    assert kinds[-1][1]["subject"] == "市道3号線舗装補修工事"


async def test_the_trail_of_one_contract_for_an_auditor_system(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    auditor = await f.api_key(db_session, office.members.a, roles=("auditor",))  # before the policy is cached
    draft = await _draft(client, office, signers=0)
    trail = await client.get(f"{draft['base']}/audit-trail", headers=_auth(auditor), params={"per_page": 2})
    assert trail.status_code == 200, trail.text
    body = trail.json()
    assert (body["contract_id"], body["page"], body["per_page"], body["has_next"]) == (draft["id"], 1, 2, True)
    newest, older = body["items"]
    assert newest["kind"] == "updated"
    assert newest["prev_hash"] == older["hash"]
    everything = (await client.get(f"{draft['base']}/audit-trail", headers=_auth(auditor))).json()["items"]
    assert [e["kind"] for e in everything][-2:] == ["uploaded", "created"]
    # Drafting systems do not read the trail (audit:view).
    assert (await client.get(f"{draft['base']}/audit-trail", headers=_auth(office.key_a))).status_code == 403


async def test_a_copy_and_a_new_version_after_a_decline(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    draft = await _draft(client, office, signers=1)
    a, base = _auth(office.key_a), draft["base"]
    assert (await client.post(f"{base}/send", headers=a)).status_code == 200

    copied = await client.post(f"{base}/copy", headers=a)
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert (copy["status"], copy["subject"], copy["version"], copy["previous_id"]) == (
        "draft",
        "市道3号線舗装補修工事",
        1,
        None,
    )
    assert [d["sha256"] for d in copy["documents"]] == [
        (await client.get(base, headers=a)).json()["documents"][0]["sha256"]
    ]
    assert [(p["email"], p["order_no"], p["status"]) for p in copy["parties"]] == [
        (CONTRACTOR["email"], 1, "waiting"),
        (office.signers_a[0].email, 2, "waiting"),
    ]
    boxes = (await client.get(f"/api/v1/contracts/{copy['id']}/text-boxes", headers=a)).json()
    assert [(b["label"], b["page"], b["y"]) for b in boxes] == [("欄0", 1, 100), ("欄1", 1, 140)]
    # The contractor has no password in the copy: sending asks for one first.
    unsent = await client.post(f"/api/v1/contracts/{copy['id']}/send", headers=a)
    assert unsent.status_code == 400
    assert "パスワード" in unsent.json()["detail"]
    contractor = copy["parties"][0]["id"]
    await client.patch(
        f"/api/v1/contracts/{copy['id']}/parties/{contractor}", headers=a, json={"password": "new-pass-2026"}
    )
    assert (await client.post(f"/api/v1/contracts/{copy['id']}/send", headers=a)).status_code == 200

    # Only a declined contract is revised; the new version names the old one, whose trail stays.
    assert (await client.post(f"{base}/revise", headers=a)).status_code == 409
    await system_access(db_session)
    contract = await svc.get_contract(db_session, uuid.UUID(draft["id"]))
    first = next(p for p in contract.parties if p.email == CONTRACTOR["email"])
    await svc.decline(
        db_session, settings, contract=contract, party=first, reason="金額が違います", who=Actor("岩手 一郎")
    )
    revised = await client.post(f"{base}/revise", headers=a)
    assert revised.status_code == 201, revised.text
    version = revised.json()
    assert (version["version"], version["previous_id"], version["status"]) == (2, draft["id"], "draft")
    again = await client.post(f"{base}/revise", headers=a)
    assert again.status_code == 409
    # The contractor keeps the password they know: the new version can be sent as it is.
    assert (await client.post(f"/api/v1/contracts/{version['id']}/send", headers=a)).status_code == 200
    old = await _kinds(db_session, draft["id"])
    assert "declined" in [k for k, _d in old]
    assert old[-1] == ("revised", {"revised_as": version["id"], "version": 2})
    assert (await db_session.get(Contract, uuid.UUID(draft["id"]))).status.value == "declined"  # type: ignore[union-attr]


async def test_member_b_reaches_none_of_the_editing_routes(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    auditor_b = await f.api_key(db_session, office.members.b, roles=("auditor",))
    draft = await _draft(client, office, signers=1)
    b, base = _auth(office.key_b), draft["base"]
    party, box, document = draft["parties"][0]["id"], draft["boxes"][0]["id"], draft["document"]
    for response in (
        await client.patch(base, headers=b, json={"amount": 1}),
        await client.delete(base, headers=b),
        await client.post(f"{base}/copy", headers=b),
        await client.post(f"{base}/revise", headers=b),
        await client.get(f"{base}/audit-trail", headers=_auth(auditor_b)),
        await client.get(f"{base}/parties", headers=b),
        await client.put(f"{base}/parties/order", headers=b, json={"steps": [[party]]}),
        await client.patch(f"{base}/parties/{party}", headers=b, json={"name": "x"}),
        await client.delete(f"{base}/parties/{party}", headers=b),
        await client.get(f"{base}/text-boxes", headers=b),
        await client.patch(f"{base}/text-boxes/{box}", headers=b, json={"x": 1}),
        await client.delete(f"{base}/text-boxes/{box}", headers=b),
        await client.put(
            f"{base}/documents/{document}", headers=b, files=[("file", ("x.pdf", f.pdf(2), "application/pdf"))]
        ),
        await client.delete(f"{base}/documents/{document}", headers=b),
    ):
        assert response.status_code == 404, response.text
        assert "見つかりません" in response.json()["detail"]
    mine = (await client.get(base, headers=_auth(office.key_a))).json()
    assert (mine["amount"], len(mine["parties"]), len(mine["documents"])) == (12_500_000, 2, 1)


async def test_editing_routes_are_documented_with_examples(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    one = "/api/v1/contracts/{contract_id}"
    assert {"patch", "delete", "get"} <= set(paths[one])
    for path, method in (
        (one, "patch"),
        (f"{one}/parties/order", "put"),
        (f"{one}/parties/{{party_id}}", "patch"),
        (f"{one}/text-boxes/{{text_box_id}}", "patch"),
    ):
        body = paths[path][method]["requestBody"]["content"]["application/json"]
        assert body.get("examples") or body["schema"].get("examples"), (path, method)
    for path in (f"{one}/audit-trail", f"{one}/parties", f"{one}/text-boxes", f"{one}/copy", f"{one}/revise"):
        assert path in paths, path
