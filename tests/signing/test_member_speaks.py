"""The member speaks: mails and the contractor's pages name the member, the department and whom to call."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import MailSettings, Settings
from signing.mail import deliver, mail_sender
from signing.models import Contract
from signing.repositories.senders import Sender
from tenants.models import Department, OperationLog
from tests import factories as f
from tests.conftest import sign_in
from tests.helpers import api, form, tag_at, text_at
from tests.scope import system_access
from tests.signing.conftest import Mailbox, Office
from tests.signing.test_contractor_errors import _links, _open, _sent


async def test_mail_is_signed_by_the_member_with_a_contact(
    client: AsyncTestClient,
    office: Office,
    db_session: AsyncSession,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    contract_id = await _sent(client, office)
    await system_access(db_session)
    department = await f.department(db_session, office.members.a, "keiyaku", "契約課")
    department.contact = "契約課 019-651-4111 keiyaku@city.morioka.lg.jp"
    contract = await db_session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    contract.department_id = department.id
    await db_session.flush()

    sender = await mail_sender(db_session, contract.id)
    assert sender is not None
    assert (sender.member, sender.department) == ("盛岡市", "契約課")
    box, port = smtp_server
    smtp = dataclasses.replace(settings, mail=MailSettings(smtp_host="127.0.0.1", smtp_port=port))
    deliver(smtp, to="first@example.co.jp", subject="件名", body="本文です。", sender=sender)
    mail = box.to("first@example.co.jp")[-1]
    assert mail["From"].addresses[0].display_name.startswith("盛岡市")
    body = mail.get_content()
    assert "盛岡市 契約課" in body
    assert "019-651-4111" in body

    # Without a department contact the drafter is the one to call.
    contract.department_id = None
    contract.created_by_id = office.drafter_a.id
    await db_session.flush()
    fallback = await mail_sender(db_session, contract.id)
    assert fallback is not None
    assert fallback.contact == f"{office.drafter_a.name} <{office.drafter_a.email}>"

    # The contractor's pages say who asks, for how much, by when, and whom to call.
    token = (await _links(db_session, settings))["first@example.co.jp"]
    gate = BeautifulSoup((await client.get(f"/c/{token}")).text, "html.parser")
    who = gate.find(id="who-asks")
    assert who is not None
    assert "盛岡市" in who.get_text()
    await _open(client, token)
    page = BeautifulSoup((await client.get(f"/c/{token}")).text, "html.parser")
    who = page.find(id="who-asks")
    assert who is not None
    text = who.get_text(" ")
    assert "198,000円" in text
    assert office.drafter_a.email in text
    assert "回答期限" in text


async def test_the_administrator_sets_whom_contractors_call_on_a_screen(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    contract_id = await _sent(client, office)
    keiyaku = await f.department(db_session, office.members.a, "keiyaku", "契約課")
    other = await f.department(db_session, office.members.b, "soumu", "総務課")
    keiyaku_id, other_id = keiyaku.id, other.id
    await system_access(db_session)
    contract = await db_session.get(Contract, uuid.UUID(contract_id))
    assert contract is not None
    contract.department_id = keiyaku_id
    await db_session.flush()
    await sign_in(client, "morioka-admin")
    page = await client.get("/admin/contact")
    assert page.status_code == 200
    assert tag_at(page.text, f"label[for='department-{keiyaku_id}']")

    # A line break (a header injected into the footer) is refused on the form, nothing lost, nothing stored.
    typed = {"member_contact": "盛岡市 総務課 019-651-4111", f"department_{keiyaku_id}": "契約課\r\nBcc: x@example.jp"}
    refused = await form(client, "/admin/contact", **typed)
    assert refused.status_code == 400
    assert "1行" in text_at(refused.text, "#contact-error")
    assert tag_at(refused.text, "#member-contact")["value"] == "盛岡市 総務課 019-651-4111"
    await system_access(db_session)
    db_session.expire_all()
    assert (await db_session.get(Department, keiyaku_id)).contact == ""  # type: ignore[union-attr]

    # Saved: another member's department named in the form is left alone.
    saved = await form(
        client,
        "/admin/contact",
        member_contact="盛岡市 総務課 019-651-4111",
        **{f"department_{keiyaku_id}": "契約課 019-651-4112（平日 8:30〜17:15）", f"department_{other_id}": "乗っ取り"},
    )
    assert saved.status_code == 303
    assert "保存しました" in text_at((await client.get(saved.headers["location"])).text, "#flash")
    await system_access(db_session)
    db_session.expire_all()
    assert (await db_session.get(Department, other_id)).contact == ""  # type: ignore[union-attr]
    logged = (await db_session.scalars(select(OperationLog.target).where(OperationLog.kind == "changed"))).all()
    assert any("契約課" in t for t in logged), logged

    # The JSON API reads and changes the same lines, through the same service.
    listed = (await api(client, "GET", "/api/v1/contact")).json()
    assert listed["member_contact"] == "盛岡市 総務課 019-651-4111"
    assert {d["name"]: d["contact"] for d in listed["departments"]}["契約課"].startswith("契約課 019-651-4112")
    assert "総務課" not in {d["name"] for d in listed["departments"]}, "another member's department"
    broken = await api(client, "PUT", "/api/v1/contact", {"member_contact": "改行\nあり"})
    assert broken.status_code == 400
    assert "1行" in broken.json()["detail"]

    # The contractor's page names the department's line.
    token = (await _links(db_session, settings))["first@example.co.jp"]
    await _open(client, token)
    assert "019-651-4112" in text_at((await client.get(f"/c/{token}")).text, "#who-asks-contact")
    sender = await mail_sender(db_session, uuid.UUID(contract_id))
    assert sender is not None
    assert sender.contact == "契約課 019-651-4112（平日 8:30〜17:15）"


def test_a_mail_worker_looks_a_contracts_sender_up_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contract's mails in a row (invitations, 【締結完了】 to every party) share one lookup of its sender."""
    import contextlib

    from signing import mail

    lookups: list[uuid.UUID] = []

    async def looked_up(session: object, contract_id: uuid.UUID) -> Sender:
        lookups.append(contract_id)
        return Sender(member="盛岡市", department=f"契約課{len(lookups)}", contact="019-651-4111")

    @contextlib.asynccontextmanager
    async def no_session() -> Any:
        yield None

    monkeypatch.setattr(mail, "mail_sender", looked_up)
    monkeypatch.setattr(mail, "system_session", no_session)
    monkeypatch.setattr(mail, "_SENDERS", {})
    contract, other = str(uuid.uuid4()), str(uuid.uuid4())
    now = [1000.0]
    first = [mail.sender_of_mail(contract, clock=lambda: now[0]) for _ in range(4)]
    assert len(lookups) == 1
    assert {s.department for s in first if s is not None} == {"契約課1"}
    assert mail.sender_of_mail(other, clock=lambda: now[0]) is not None  # another contract: its own
    assert len(lookups) == 2
    now[0] += mail.SENDER_REUSE_SECONDS
    later = mail.sender_of_mail(contract, clock=lambda: now[0])
    assert later is not None
    assert later.department == "契約課3"  # a minute on, looked up again: a change shows


def test_mails_in_a_row_share_one_smtp_connection_and_a_dropped_one_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contract's mails sent together use one connection; a server that went away meanwhile gets a new one."""
    import smtplib

    from aiosmtpd.controller import Controller

    from signing import mail
    from tests.signing.conftest import Mailbox, free_port

    opened: list[int] = []

    class Counting(smtplib.SMTP):
        def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> Any:
            opened.append(port)
            return super().connect(host, port, source_address)

    monkeypatch.setattr(smtplib, "SMTP", Counting)
    monkeypatch.setattr(mail, "_CONNECTIONS", mail._Connections())
    box, port = Mailbox(), free_port()
    smtp = dataclasses.replace(settings, mail=MailSettings(smtp_host="127.0.0.1", smtp_port=port))
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    try:
        for n in range(3):
            deliver(smtp, to=f"party{n}@example.co.jp", subject="【締結完了】", body="本文です。")
        assert len(opened) == 1
        assert [m["To"] for m in box.messages] == [f"party{n}@example.co.jp" for n in range(3)]
    finally:
        server.stop()
    # The server restarts (a deploy, an idle timeout): the next mail notices and connects again.
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    try:
        deliver(smtp, to="later@example.co.jp", subject="件名", body="本文です。")
        assert len(opened) == 2
        assert box.to("later@example.co.jp")
    finally:
        server.stop()
    # Nobody listening: the mail fails as before (and is retried by its task).
    with pytest.raises(ConnectionRefusedError):
        deliver(smtp, to="lost@example.co.jp", subject="件名", body="本文です。")
    assert not box.to("lost@example.co.jp")
