"""Irreversible actions ask first (what happens and to whom), change nothing until confirmed, then say what was done."""

from __future__ import annotations

import uuid

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import Contract, ContractStatus, Party, PartyKind, PartyStatus, TextBox
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.helpers import form, tag_at, text_at
from tests.scope import system_access
from tests.signing.conftest import Office


async def _draft(client: AsyncTestClient, office: Office) -> str:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "道路補修工事請負契約",
            "title_id": str(office.title_a.id),
            "amount": "1980000",
            "transaction_date": "2026-12-01",
            "counterparty": "岩手建設",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    contract_id = str(created.json()["id"])
    for order, email in ((1, "first@iwate-kensetsu.jp"), (2, "second@iwate-kensetsu.jp")):
        added = await client.post(
            f"/api/v1/contracts/{contract_id}/parties",
            headers=api,
            json={
                "order_no": order,
                "kind": "contractor",
                "company": "岩手建設",
                "name": f"担当{order}",
                "email": email,
                "password": "secret-pw",
            },
        )
        assert added.status_code == 201, added.text
    signer = office.signers_a[0]
    added = await client.post(
        f"/api/v1/contracts/{contract_id}/parties",
        headers=api,
        json={"order_no": 3, "kind": "staff", "staff_id": str(signer.id), "title_id": str(office.title_a.id)},
    )
    assert added.status_code == 201, added.text
    return contract_id


async def _status(session: AsyncSession, contract_id: str) -> ContractStatus:
    await system_access(session)
    session.expire_all()
    contract = await session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    return contract.status


async def _party_status(session: AsyncSession, party_id: uuid.UUID) -> PartyStatus:
    session.expire_all()
    party = await session.get(Party, party_id)
    assert party is not None
    return party.status


async def test_send_and_cancel_ask_first_and_say_what_was_done(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    contract_id = await _draft(client, office)
    await sign_in(client, "morioka-admin")
    page = BeautifulSoup((await client.get(f"/contracts/{contract_id}")).text, "html.parser")
    cancel_button = page.select_one(f'form[action="/contracts/{contract_id}/cancel"] button')
    send_button = page.select_one(f'form[action="/contracts/{contract_id}/send"] button')
    assert cancel_button is not None
    assert send_button is not None
    assert "button-danger" in cancel_button["class"]
    assert "button-danger" not in send_button["class"]

    asked = await form(client, f"/contracts/{contract_id}/send")
    assert asked.status_code == 200
    question = BeautifulSoup(asked.text, "html.parser")
    assert question.h1 is not None
    assert "道路補修工事請負契約" in question.h1.get_text()
    who = text_at(question, "#confirm-who")
    assert "first@iwate-kensetsu.jp" in who
    assert "second@iwate-kensetsu.jp" in who
    assert "岩手建設 担当1" in question.get_text()  # mailed now
    assert await _status(db_session, contract_id) is ContractStatus.DRAFT  # nothing changed yet
    confirm_field = question.select_one('input[name="confirmed"]')
    assert confirm_field is not None
    assert confirm_field["value"] == "yes"
    assert question.find("a", href=f"/contracts/{contract_id}")  # back, without changing anything

    sent = await form(client, f"/contracts/{contract_id}/send", confirmed="yes")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/contracts/{contract_id}?done=sent"
    assert await _status(db_session, contract_id) is ContractStatus.CIRCULATING
    shown = BeautifulSoup((await client.get(sent.headers["location"])).text, "html.parser")
    flash = shown.find(id="flash")
    assert flash is not None
    assert "送信しました" in flash.get_text()

    asked = await form(client, f"/contracts/{contract_id}/cancel")
    assert asked.status_code == 200
    question = BeautifulSoup(asked.text, "html.parser")
    assert "first@iwate-kensetsu.jp" in text_at(question, "#confirm-who")  # told by mail
    assert "second@iwate-kensetsu.jp" not in text_at(question, "#confirm-who")  # never asked
    button = question.select_one("#confirm-button")
    assert button is not None
    assert "button-danger" in button["class"]
    assert await _status(db_session, contract_id) is ContractStatus.CIRCULATING
    cancelled = await form(client, f"/contracts/{contract_id}/cancel", confirmed="yes")
    assert cancelled.headers["location"] == f"/contracts/{contract_id}?done=cancelled"
    assert await _status(db_session, contract_id) is ContractStatus.CANCELLED


async def test_a_signer_sees_the_title_before_concluding(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    contract_id = await _draft(client, office)
    await system_access(db_session)
    contract = await db_session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    contract.status = ContractStatus.CIRCULATING
    await db_session.refresh(contract, ["parties"])
    for party in contract.parties:
        party.status = PartyStatus.AGREED if party.kind is PartyKind.CONTRACTOR else PartyStatus.NOTIFIED
    await db_session.flush()
    await sign_in(client, "morioka-signer0")
    page = BeautifulSoup((await client.get(f"/contracts/{contract_id}")).text, "html.parser")
    assert "盛岡市長 内舘 茂" in text_at(page, "#my-title")
    assert "市長" in text_at(page, f'form[action="/contracts/{contract_id}/sign"] button')

    asked = await form(client, f"/contracts/{contract_id}/sign")
    assert asked.status_code == 200
    question = BeautifulSoup(asked.text, "html.parser")
    assert "盛岡市長 内舘 茂" in text_at(question, "#confirm-who")
    mine = next(p for p in contract.parties if p.kind is PartyKind.STAFF)
    assert (await _party_status(db_session, mine.id)) is PartyStatus.NOTIFIED  # not agreed yet
    signed = await form(client, f"/contracts/{contract_id}/sign", confirmed="yes")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"].endswith("?done=signed")
    assert (await _party_status(db_session, mine.id)) is PartyStatus.AGREED


async def test_deleting_from_the_address_book_asks_whom(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    entry = await f.address_book_entry(
        db_session, office.members.a, "岩手建設株式会社", "岩手 一郎", "ichiro@iwate.co.jp"
    )
    await sign_in(client, "morioka-admin")
    asked = await form(client, f"/address-book/{entry.id}/delete")
    assert asked.status_code == 200
    assert "岩手建設株式会社 岩手 一郎 <ichiro@iwate.co.jp>" in BeautifulSoup(asked.text, "html.parser").get_text()
    assert "ichiro@iwate.co.jp" in (await client.get("/address-book/")).text
    deleted = await form(client, f"/address-book/{entry.id}/delete", confirmed="yes")
    assert deleted.status_code == 303
    after = await client.get(deleted.headers["location"])
    assert "ichiro@iwate.co.jp" not in after.text
    assert 'id="flash"' in after.text
    # Another member's entry is not found, asked or not.
    other = await f.address_book_entry(db_session, office.members.b, "八幡平商事", "八幡 花子", "hanako@hachiman.jp")
    assert (await form(client, f"/address-book/{other.id}/delete")).status_code == 404
    assert (await form(client, f"/address-book/{other.id}/delete", confirmed="yes")).status_code == 404


async def test_a_signer_who_types_what_the_seal_cannot_print_is_told_on_the_contract_page(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    contract_id = await _draft(client, office)
    await system_access(db_session)
    contract = await db_session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    await db_session.refresh(contract, ["parties", "documents"])
    mine = next(p for p in contract.parties if p.kind is PartyKind.STAFF)
    box = await client.post(
        f"/api/v1/contracts/{contract_id}/text-boxes",
        headers={"Authorization": f"Bearer {office.key_a}"},
        json={
            "document_id": str(contract.documents[0].id),
            "party_id": str(mine.id),
            "page": 0,
            "x": 72,
            "y": 100,
            "width": 220,
            "height": 20,
            "label": "担当者名",
        },
    )
    assert box.status_code == 201, box.text
    box_id = box.json()["id"]
    contract.status = ContractStatus.CIRCULATING
    for party in contract.parties:
        party.status = PartyStatus.AGREED if party.kind is PartyKind.CONTRACTOR else PartyStatus.NOTIFIED
    await db_session.flush()
    await sign_in(client, "morioka-signer0")

    # While typing, the page's check names the character; concluding with it brings the page back as typed.
    checked = await client.post(
        f"/contracts/{contract_id}/check",
        data={f"box_{box_id}": "𠮷田 太郎"},
        headers={"x-csrftoken": await csrf_token(client)},
    )
    assert "𠮷" in checked.json()["problems"][box_id]
    refused = await form(client, f"/contracts/{contract_id}/sign", **{f"box_{box_id}": "𠮷田 太郎"})
    assert refused.status_code == 400
    assert "𠮷" in text_at(refused.text, f"#sbox-{box_id}-problem")
    assert tag_at(refused.text, f"#sbox-{box_id}")["value"] == "𠮷田 太郎"
    assert (await _party_status(db_session, mine.id)) is PartyStatus.NOTIFIED

    asked = await form(client, f"/contracts/{contract_id}/sign", **{f"box_{box_id}": "吉田 太郎"})
    assert "盛岡市長 内舘 茂" in text_at(asked.text, "#confirm-who")
    signed = await form(client, f"/contracts/{contract_id}/sign", confirmed="yes", **{f"box_{box_id}": "吉田 太郎"})
    assert signed.status_code == 303, signed.text
    assert (await _party_status(db_session, mine.id)) is PartyStatus.AGREED
    db_session.expire_all()
    stored = await db_session.get(TextBox, uuid.UUID(box_id))
    assert stored is not None
    assert stored.value == "吉田 太郎"
