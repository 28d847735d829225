"""Links per audience (GUN-8(2), NII-2(1)): staff reach the platform on its LGWAN side, contractors online."""

from __future__ import annotations

import dataclasses

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.outbox import OutboxMessage
from core.settings import ServerSettings, Settings
from kyodo.app import create_app
from signing.mail import MAIL_TASK, open_link
from tests import factories as f
from tests.conftest import _session_maker
from tests.scope import system_access
from tests.signing.conftest import Office

INTERNET = "https://keiyaku.example.jp"
LGWAN = "https://keiyaku.lgwan.example.lg.jp"


def test_staff_links_default_to_the_public_url() -> None:
    assert ServerSettings(public_url=INTERNET).staff_base_url() == INTERNET
    assert ServerSettings(public_url=INTERNET, staff_url=LGWAN + "/").staff_base_url() == LGWAN
    assert ServerSettings(public_url=INTERNET, staff_url=LGWAN).base_url() == INTERNET


async def test_each_audience_gets_its_own_address(
    office: Office, db_session: AsyncSession, db_connection: AsyncConnection, settings: Settings
) -> None:
    two_sided = dataclasses.replace(
        settings, server=dataclasses.replace(settings.server, public_url=INTERNET, staff_url=LGWAN)
    )
    api = {"Authorization": f"Bearer {office.key_a}"}
    app = create_app(two_sided, session_maker=_session_maker(db_connection))
    async with AsyncTestClient(app=app) as client:
        created = await client.post(
            "/api/v1/contracts/",
            headers=api,
            data={
                "subject": "庁舎清掃業務委託契約",
                "title_id": str(office.title_a.id),
                "counterparty": "盛岡ビルサービス",
                "amount": "1200000",
                "transaction_date": "2027-04-01",
            },
            files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
        )
        assert created.status_code == 201, created.text
        contract_id = created.json()["id"]
        for party in (
            {"order_no": 1, "kind": "contractor", "name": "清掃 一郎", "email": "ichiro@example.co.jp"}
            | {"password": "Kyodo-2027-pw"},
            {"order_no": 1, "kind": "staff", "staff_id": str(office.signers_a[0].id)},
        ):
            added = await client.post(f"/api/v1/contracts/{contract_id}/parties", headers=api, json=party)
            assert added.status_code == 201, added.text
        sent = await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)
        assert sent.status_code == 200, sent.text
    await system_access(db_session)
    mails = {
        m.kwargs["to"]: m.kwargs
        for m in await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))
    }
    contractor = mails["ichiro@example.co.jp"]
    assert open_link(two_sided, contractor["sealed_link"]).startswith(f"{INTERNET}/c/")
    assert LGWAN not in contractor["body"]
    staff = mails[office.signers_a[0].email]
    assert f"{LGWAN}/contracts/{contract_id}" in staff["body"]
    assert INTERNET not in staff["body"]
