"""The member speaks: mails and the contractor's pages name the member, the department and whom to call."""

from __future__ import annotations

import dataclasses
import uuid

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import MailSettings, Settings
from signing.mail import deliver, mail_sender
from signing.models import Contract
from tests import factories as f
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
