"""Notification addresses (NII-59): a shared mailbox gets copies of chosen notices, or gets them instead of staff."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings
from signing.mail import MAIL_TASK, queue_contract_mail
from signing.models import Contract, ContractStatus, Party, PartyKind
from tenants.notification_addresses import NotificationAddress
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.scope import system_access


async def _mails(session: AsyncSession, contract: Contract) -> dict[str, str]:
    rows = (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.task_name == MAIL_TASK)
            .where(OutboxMessage.kwargs["contract_id"].astext == str(contract.id))
        )
    ).all()
    assert all("notice" not in r.kwargs for r in rows), "the mark never reaches the mail task"
    return {str(r.kwargs["to"]): str(r.kwargs["body"]) for r in rows}


def _ask(session: AsyncSession, settings: Settings, contract: Contract, signer: object, name: str) -> None:
    party = Party(
        member_id=contract.member_id,
        contract_id=contract.id,
        order_no=1,
        kind=PartyKind.STAFF,
        name=getattr(signer, "name", ""),
        email=getattr(signer, "email", ""),
    )
    queue_contract_mail(
        session,
        settings,
        contract,
        name,
        to=party.email,
        party=party,
        reminder=False,
        drafter=signer,
        url=f"https://kyodo.example.jp/contracts/{contract.id}",
    )


async def test_notices_go_where_the_member_routes_them(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers, settings: Settings
) -> None:
    a, b = two_members.a, two_members.b
    keiyaku = await f.department(db_session, a, "KEIYAKU", "契約検査課")
    other_dept = await f.department(db_session, b, "B-SOMU", "八幡平総務課")
    title = await f.title(db_session, a, "mayor", "市長", "盛岡市長")
    signer = await f.staff(db_session, a, "notice-signer", roles=("signer",))
    await sign_in(client, "morioka-admin")
    token = await csrf_token(client)
    for data in (
        {"email": "keiyaku@city.morioka.lg.jp", "department_id": str(keiyaku.id), "mode": "instead"},
        {"email": "soumu@city.morioka.lg.jp", "department_id": "", "mode": "copy"},
    ):
        added = await client.post(
            "/admin/notification-addresses/",
            data={**data, "notices": ["request_staff", "concluded_drafter"], "_csrf_token": token},
            follow_redirects=False,
        )
        assert added.status_code == 303, added.text
    page = await client.get("/admin/notification-addresses/")
    assert "keiyaku@city.morioka.lg.jp" in page.text
    assert "契約検査課" in page.text
    refused = await client.post(
        "/admin/notification-addresses/",
        data={"email": "x@example.jp", "department_id": str(other_dept.id), "notices": ["request_staff"]}
        | {"_csrf_token": token},
    )
    assert refused.status_code == 400, "another member's department"
    none_chosen = await client.post(
        "/admin/notification-addresses/", data={"email": "x@example.jp", "_csrf_token": token}
    )
    assert none_chosen.status_code == 400
    assert "通知" in none_chosen.text

    await system_access(db_session)
    of_dept = Contract(
        member_id=a.id,
        title_id=title.id,
        subject="庁舎清掃業務委託",
        department_id=keiyaku.id,
        status=ContractStatus.CIRCULATING,
    )
    no_dept = Contract(member_id=a.id, title_id=title.id, subject="備品購入", status=ContractStatus.CIRCULATING)
    db_session.add_all([of_dept, no_dept])
    await db_session.flush()
    _ask(db_session, settings, of_dept, signer, "request_staff")
    _ask(db_session, settings, no_dept, signer, "request_staff")
    _ask(db_session, settings, no_dept, signer, "declined_drafter")
    await db_session.flush()

    routed = await _mails(db_session, of_dept)
    assert set(routed) == {"keiyaku@city.morioka.lg.jp", "soumu@city.morioka.lg.jp"}, "instead of the signer"
    assert signer.email in routed["keiyaku@city.morioka.lg.jp"].split("\n")[0]
    assert "写し" in routed["soumu@city.morioka.lg.jp"].split("\n")[0]
    plain = await _mails(db_session, no_dept)
    # The department's address is not asked for another department's (or no department's) contract;
    # a notice nobody routes goes only to its own addressee.
    assert set(plain) == {signer.email, "soumu@city.morioka.lg.jp"}

    # Member B's administrator sees and removes nothing of member A's.
    address = (
        await db_session.scalars(select(NotificationAddress).where(NotificationAddress.member_id == a.id))
    ).first()
    assert address is not None
    await sign_in(client, "hachimantai-admin")
    assert "keiyaku@city.morioka.lg.jp" not in (await client.get("/admin/notification-addresses/")).text
    gone = await client.post(
        f"/admin/notification-addresses/{address.id}/delete",
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert gone.status_code == 404
    await sign_in(client, "morioka-admin")
    removed = await client.post(
        f"/admin/notification-addresses/{address.id}/delete",
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert await db_session.get(NotificationAddress, uuid.UUID(str(address.id)), populate_existing=True) is None
