"""Wrong turns of contractors: expired and dead links, passwords, agreeing twice or after cancel.

Each gets a clear Japanese message and changes nothing (WF-6, WF-8, WF-9).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings
from signing.mail import MAIL_TASK, open_link
from signing.models import AuditEvent, AuditKind, Contract, ContractStatus, Party, PartyStatus
from tenants.models import SecurityEvent, SecurityEventKind
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.helpers import stored_blobs, tag_at, text_at
from tests.scope import system_access
from tests.signing.conftest import Office


async def _links(session: AsyncSession, settings: Settings) -> dict[str, str]:
    """E-mail address → token of the newest link mailed to it (read from the outbox)."""
    await system_access(session)
    rows = (
        await session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK).order_by(OutboxMessage.id)
        )
    ).all()
    links = {}
    for row in rows:
        if row.kwargs.get("sealed_link"):
            links[row.kwargs["to"]] = open_link(settings, row.kwargs["sealed_link"]).rsplit("/c/", 1)[1]
    return links


async def _sent(client: AsyncTestClient, office: Office) -> str:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "備品購入契約",
            "title_id": str(office.title_a.id),
            "amount": "198000",
            "transaction_date": "2026-12-01",
            "counterparty": "岩手商事",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    contract_id = created.json()["id"]
    for order, email in ((1, "first@example.co.jp"), (2, "second@example.co.jp")):
        added = await client.post(
            f"/api/v1/contracts/{contract_id}/parties",
            headers=api,
            json={"order_no": order, "kind": "contractor", "name": "担当", "email": email, "password": "secret-pw"},
        )
        assert added.status_code == 201, added.text
    assert (await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)).status_code == 200
    return str(contract_id)


async def _open(client: AsyncTestClient, token: str, password: str = "secret-pw") -> str:  # noqa: S107
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    response = await client.post(
        f"/c/{token}/password", data={"password": password, "_csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf


async def _snapshot(session: AsyncSession, settings: Settings) -> tuple[Any, ...]:
    await system_access(session)
    session.expire_all()
    parties = (await session.execute(select(Party.email, Party.status).order_by(Party.email))).all()
    return (
        await session.scalar(select(func.count()).select_from(AuditEvent)),
        await session.scalar(select(func.count()).select_from(OutboxMessage)),
        tuple(parties),
        tuple(stored_blobs(settings)),
    )


async def test_expired_link(client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings):
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    party = await db_session.scalar(select(Party).where(Party.email == "first@example.co.jp"))
    assert party is not None
    party.token_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await db_session.flush()
    before = await _snapshot(db_session, settings)
    response = await client.get(f"/c/{token}")
    assert response.status_code == 410
    assert "有効期限が切れています" in response.text
    assert await _snapshot(db_session, settings) == before


async def test_link_used_after_forwarding(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
):
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    forwarded = await client.post(
        f"/c/{token}/forward",
        data={"name": "同僚", "email": "colleague@example.co.jp", "_csrf_token": csrf, "confirmed": "yes"},
    )
    assert forwarded.status_code == 200
    assert "同じもの" in forwarded.text
    before = await _snapshot(db_session, settings)
    for response in (
        await client.get(f"/c/{token}"),
        await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"}),
        await client.post(f"/c/{token}/password", data={"password": "secret-pw", "_csrf_token": csrf}),
    ):
        assert response.status_code == 404
        assert "このリンクは使えなくなりました" in response.text
    assert await _snapshot(db_session, settings) == before
    # The colleague has a link of their own and the same password.
    await _open(client, (await _links(db_session, settings))["colleague@example.co.jp"])


async def test_agreeing_asks_first_and_going_back_keeps_what_was_typed(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    before = await _snapshot(db_session, settings)
    asked = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf})
    assert asked.status_code == 200
    question = BeautifulSoup(asked.text, "html.parser")
    assert text_at(question, "h1") == "この契約に同意しますか"
    assert "取り消すことはできません" in question.get_text()
    assert text_at(question, "#confirm-button") == "同意する"
    assert "盛岡" in text_at(question, "#who-asks"), "the confirmation says who asks"
    back = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "edit"})
    assert tag_at(back.text, "#answer-form")
    # Forwarding asks too, and names the person before anything is sent.
    fw = {"name": "同僚 花子", "email": "colleague@example.co.jp", "_csrf_token": csrf}
    forward_question = BeautifulSoup((await client.post(f"/c/{token}/forward", data=fw)).text, "html.parser")
    assert "同僚 花子" in text_at(forward_question, "h1")
    assert "colleague@example.co.jp" in text_at(forward_question, "#confirm-entries")
    forward_back = await client.post(f"/c/{token}/forward", data={**fw, "confirmed": "edit"})
    kept = BeautifulSoup(forward_back.text, "html.parser")
    assert tag_at(kept, "details#forward-details[open] #fw-email")["value"] == "colleague@example.co.jp"
    assert await _snapshot(db_session, settings) == before, "asking and going back change nothing"
    assert (await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})).status_code == 200
    assert await _snapshot(db_session, settings) != before


async def test_agreeing_twice(client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings):
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    assert (await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})).status_code == 200
    before = await _snapshot(db_session, settings)
    again = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})
    assert again.status_code == 409
    assert "すでに同意済みです" in again.text
    assert await _snapshot(db_session, settings) == before


async def test_agreeing_after_cancel(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
):
    contract_id = await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    api = {"Authorization": f"Bearer {office.key_a}"}
    cancelled = await client.post(f"/api/v1/contracts/{contract_id}/cancel", headers=api)
    assert cancelled.json()["status"] == "cancelled"
    # Cancelling twice is harmless.
    assert (await client.post(f"/api/v1/contracts/{contract_id}/cancel", headers=api)).status_code == 200
    before = await _snapshot(db_session, settings)
    response = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})
    assert response.status_code == 410
    assert "取り消されました" in response.text
    assert await _snapshot(db_session, settings) == before
    party = await db_session.scalar(select(Party).where(Party.email == "first@example.co.jp"))
    assert party is not None
    assert party.status is PartyStatus.CANCELLED


async def test_five_wrong_passwords_lock_the_link(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
):
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    for attempt in range(5):
        response = await client.post(f"/c/{token}/password", data={"password": "nope", "_csrf_token": csrf})
        assert response.status_code == (423 if attempt == 4 else 400)
        if attempt < 4:
            assert f"あと{4 - attempt}回間違えると" in text_at(response.text, "#gate-error"), "told before the lock"
    assert "ロックされました" in response.text
    right = await client.post(f"/c/{token}/password", data={"password": "secret-pw", "_csrf_token": csrf})
    assert right.status_code == 423
    await system_access(db_session)
    kinds = (await db_session.scalars(select(SecurityEvent.kind))).all()
    assert kinds.count(SecurityEventKind.CONTRACTOR_PASSWORD_FAILED) == 5
    assert kinds.count(SecurityEventKind.CONTRACTOR_LOCKED) == 1


async def test_pages_need_the_password(client: AsyncTestClient, office: Office, db_session: AsyncSession, settings):
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await csrf_token(client)
    response = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})
    assert response.status_code == 403
    assert "アクセスパスワード" in response.text
    second = (await _links(db_session, settings)).get("second@example.co.jp")
    assert second is None  # the second party waits for the first


async def test_staff_set_a_new_password_after_a_lock_out(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
):
    contract_id = await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    for _attempt in range(5):
        await client.post(f"/c/{token}/password", data={"password": "nope", "_csrf_token": csrf})
    party = await db_session.scalar(select(Party).where(Party.email == "first@example.co.jp"))
    assert party is not None
    url = f"/api/v1/contracts/{contract_id}/parties/{party.id}/password"
    other = await client.post(url, headers={"Authorization": f"Bearer {office.key_b}"}, json={"password": "new-pass-1"})
    assert other.status_code == 404  # member B cannot touch it
    short = await client.post(url, headers={"Authorization": f"Bearer {office.key_a}"}, json={"password": "x"})
    assert short.status_code == 400
    assert "8文字以上" in short.json()["detail"]
    done = await client.post(url, headers={"Authorization": f"Bearer {office.key_a}"}, json={"password": "new-pass-1"})
    assert done.status_code == 200, done.text
    await _open(client, token, "new-pass-1")


async def test_declining_with_a_reason_stops_the_contract_and_tells_everyone(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
):
    contract_id = await _sent(client, office)
    await system_access(db_session)
    sent = await db_session.get(Contract, uuid.UUID(contract_id))
    assert sent is not None
    sent.created_by_id = office.drafter_a.id  # drafted on the screens by 起案 太郎
    await db_session.flush()
    drafter_email = office.drafter_a.email
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    without_reason = await client.post(f"/c/{token}/decline", data={"reason": "", "_csrf_token": csrf})
    assert without_reason.status_code == 400
    # The refusal is said on the contract page, above the decline form, which stays unfolded.
    refused = BeautifulSoup(without_reason.text, "html.parser")
    assert tag_at(refused, "details#decline-details[open] #decline-error")
    assert "理由" in text_at(refused, "#decline-error")
    before = await _snapshot(db_session, settings)
    asked = await client.post(f"/c/{token}/decline", data={"reason": "金額に誤りがあります", "_csrf_token": csrf})
    question = BeautifulSoup(asked.text, "html.parser")
    assert text_at(question, "h1") == "この契約を差し戻しますか"
    assert "金額に誤りがあります" in text_at(question, "#confirm-entries")
    assert text_at(question, "#confirm-button") == "差し戻す"
    assert await _snapshot(db_session, settings) == before, "asking changes nothing"
    back = await client.post(
        f"/c/{token}/decline", data={"reason": "金額に誤りがあります", "_csrf_token": csrf, "confirmed": "edit"}
    )
    assert text_at(back.text, "#reason") == "金額に誤りがあります"
    declined = await client.post(
        f"/c/{token}/decline", data={"reason": "金額に誤りがあります", "_csrf_token": csrf, "confirmed": "yes"}
    )
    assert declined.status_code == 200, declined.text
    await system_access(db_session)
    db_session.expire_all()
    contract = await db_session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    assert contract.status is ContractStatus.DECLINED
    reasons = (await db_session.scalars(select(Party.decline_reason).where(Party.contract_id == contract.id))).all()
    assert "金額に誤りがあります" in reasons
    kinds = (await db_session.scalars(select(AuditEvent.kind).where(AuditEvent.contract_id == contract.id))).all()
    assert AuditKind.DECLINED.value in kinds
    mails = (await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))).all()
    assert any("金額に誤りがあります" in m.kwargs.get("body", "") for m in mails)
    # The drafter's mail leads to the contract's page, which shows who declined and why.
    to_drafter = [m.kwargs["body"] for m in mails if m.kwargs.get("to") == drafter_email]
    assert to_drafter, [m.kwargs.get("to") for m in mails]
    assert f"/contracts/{contract_id}" in to_drafter[-1]
    await sign_in(client, "morioka-drafter")
    page = BeautifulSoup((await client.get(f"/contracts/{contract_id}")).text, "html.parser")
    declined_box = page.find(id="declined")
    assert declined_box is not None
    assert "金額に誤りがあります" in declined_box.get_text()
    # The second party is never asked, and the link cannot agree any more.
    assert "second@example.co.jp" not in await _links(db_session, settings)
    again = await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})
    assert again.status_code in (400, 404, 409)


@pytest.mark.parametrize(
    "email",
    ["taro@example.co.jp\r\nBcc: everyone@example.jp", "taro@exa\nmple.co.jp", "taro @example.co.jp", "taro@"],
    ids=["crlf-header", "newline-inside", "space", "no-domain"],
)
async def test_an_address_that_would_break_a_mail_header_is_refused_where_it_is_typed(
    client: AsyncTestClient, office: Office, email: str
) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "備品購入契約",
            "title_id": str(office.title_a.id),
            "amount": "198000",
            "transaction_date": "2026-12-01",
            "counterparty": "岩手商事",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    contract_id = created.json()["id"]
    added = await client.post(
        f"/api/v1/contracts/{contract_id}/parties",
        headers=api,
        json={"order_no": 1, "kind": "contractor", "name": "担当", "email": email, "password": "secret-pw"},
    )
    assert added.status_code == 400, added.text
    assert "メールアドレス" in added.json()["detail"]


async def test_a_subject_with_a_line_break_is_refused(client: AsyncTestClient, office: Office) -> None:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={"subject": "備品購入契約\r\nBcc: x@example.jp", "title_id": str(office.title_a.id)},
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 400, created.text
    assert "改行" in created.json()["detail"]


async def test_forwarding_to_a_broken_address_keeps_the_forwarders_link(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    csrf = await _open(client, token)
    refused = await client.post(
        f"/c/{token}/forward",
        data={"name": "同僚", "email": "colleague@example.co.jp\r\nBcc: all@example.jp", "_csrf_token": csrf},
    )
    assert refused.status_code == 400
    assert (await client.get(f"/c/{token}")).status_code == 200, "the link still works for the forwarder"


async def test_a_password_kept_under_an_older_hash_opens_the_contract_at_the_first_try(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    """The right password upgrades an older hash; the browser's pass through the gate is for the new one."""
    from argon2 import PasswordHasher

    await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    party = await db_session.scalar(select(Party).where(Party.email == "first@example.co.jp"))
    assert party is not None
    party.password_hash = PasswordHasher().hash("secret-pw")  # argon2-cffi's defaults, as earlier links had
    party_id = party.id
    await db_session.flush()
    await _open(client, token)
    page = await client.get(f"/c/{token}")
    assert page.status_code == 200
    assert "この契約に同意する" in page.text, "sent back to the password gate"
    db_session.expire_all()
    upgraded = await db_session.get(Party, party_id)
    assert upgraded is not None
    assert upgraded.password_hash is not None
    assert "m=19456" in upgraded.password_hash  # stored at the access-password profile now
