"""Lasting contractor access (WF-10): a mailed sign-in link to every concluded contract, across members.

The portal answers the same whether an address is known; only a known one
gets a mail, with a link that works once and for a short time; requests are
limited per address; every request and use is recorded; the list holds the
address's concluded contracts of every member, with the sealed file and the
certificate, each download recorded in the contract's own trail. The mail of
conclusion goes out when the seal exists and names the portal.
"""

from __future__ import annotations

import datetime as dt

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.settings import Settings, SigningSettings
from signing.mail import MAIL_TASK, open_link
from signing.models import AuditEvent, AuditKind, PortalSignIn
from signing.seal_service import SealerPool
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.concluded import concluded
from tests.signing.conftest import Office

CONTRACTOR = "ichiro@iwate-kensetsu.example.jp"


@pytest.fixture
def pool(signing_settings: SigningSettings) -> SealerPool:
    return SealerPool(signing_settings)


async def _mails_to(session: AsyncSession, settings: Settings, to: str) -> list[tuple[str, str, str]]:
    """(subject, body, link) of every mail queued to ``to``, oldest first."""
    await system_access(session)
    rows = (
        await session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK).order_by(OutboxMessage.id)
        )
    ).all()
    return [
        (
            str(r.kwargs["subject"]),
            str(r.kwargs["body"]),
            open_link(settings, r.kwargs["sealed_link"]) if r.kwargs.get("sealed_link") else "",
        )
        for r in rows
        if r.kwargs["to"] == to
    ]


async def _ask(client: AsyncTestClient, email: str) -> tuple[int, str]:
    await client.get("/portal")
    response = await client.post("/portal", data={"email": email, "_csrf_token": await csrf_token(client)})
    return response.status_code, response.text


async def test_a_contractor_gets_every_concluded_contract_of_every_member_through_a_mailed_link(  # noqa: PLR0915 - one story
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    a, b = office.members.a, office.members.b
    in_a = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=a,
        title=office.title_a,
        subject="盛岡市道路補修工事",
        email=CONTRACTOR,
    )
    drafter_b = await f.staff(db_session, b, "hachimantai-drafter", roles=("drafter",))
    in_b = await concluded(
        db_session,
        settings,
        pool,
        drafter=drafter_b,
        member=b,
        title=office.title_b,
        subject="八幡平市除雪業務委託",
        email=CONTRACTOR.upper(),
    )
    # Concluded means sealed: the completion mail names the portal, where the contract stays.
    (concluded_mail,) = [m for m in await _mails_to(db_session, settings, CONTRACTOR) if "締結完了" in m[0]]
    assert "http://" in concluded_mail[1] or "https://" in concluded_mail[1]
    assert "/portal" in concluded_mail[1]

    # The answer is the same for a known and an unknown address; only the known one gets a mail.
    status, known = await _ask(client, f"  {CONTRACTOR.title()} ")
    assert status == 200
    status, unknown = await _ask(client, "nobody@example.co.jp")
    assert status == 200
    assert 'id="portal-answer"' in known
    assert known == unknown
    assert await _mails_to(db_session, settings, "nobody@example.co.jp") == []
    (sign_in_mail,) = [m for m in await _mails_to(db_session, settings, CONTRACTOR) if "ログインリンク" in m[0]]
    link = sign_in_mail[2]
    assert "/portal/sign-in/" in link
    token = link.rsplit("/", 1)[1]
    rows = (await db_session.scalars(select(PortalSignIn).order_by(PortalSignIn.created_at))).all()
    assert [(r.email, r.mailed, r.used_at) for r in rows] == [
        (CONTRACTOR, True, None),
        ("nobody@example.co.jp", False, None),
    ]
    assert token not in {r.token_hash for r in rows}

    # Opening the link shows a button (a mail scanner does not use it up); the button signs in once.
    assert (await client.get("/portal/contracts", follow_redirects=False)).status_code == 303
    confirm = await client.get(f"/portal/sign-in/{token}")
    assert confirm.status_code == 200
    csrf = await csrf_token(client)
    used = await client.post(f"/portal/sign-in/{token}", data={"_csrf_token": csrf}, follow_redirects=False)
    assert used.status_code == 303
    listing = await client.get("/portal/contracts")
    assert listing.status_code == 200
    assert "盛岡市道路補修工事" in listing.text
    assert "八幡平市除雪業務委託" in listing.text
    assert "盛岡市" in listing.text
    assert "八幡平市" in listing.text
    for contract in (in_a, in_b):
        await system_access(db_session)
        await db_session.refresh(contract, ["documents"])
        (document,) = contract.documents
        sealed = await client.get(f"/portal/contracts/{contract.id}/documents/{document.id}")
        assert sealed.status_code == 200, sealed.text
        assert sealed.headers["x-kyodo-sealed"] == "true"
        assert sealed.content.startswith(b"%PDF")
        certificate = await client.get(f"/portal/contracts/{contract.id}/certificate")
        assert certificate.status_code == 200
        assert certificate.content.startswith(b"%PDF")
        await system_access(db_session)
        downloads = (
            await db_session.scalars(
                select(AuditEvent).where(AuditEvent.contract_id == contract.id, AuditEvent.kind == AuditKind.DOWNLOADED)
            )
        ).all()
        assert len(downloads) == 2
        assert {e.member_id for e in downloads} == {contract.member_id}
        assert all(e.email.lower() == CONTRACTOR for e in downloads)

    # One use only.
    again = await client.post(f"/portal/sign-in/{token}", data={"_csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 410
    assert "使用済み" in again.text
    await system_access(db_session)
    row = await db_session.scalar(select(PortalSignIn).where(PortalSignIn.email == CONTRACTOR))
    assert row is not None
    await db_session.refresh(row)
    assert row.used_at is not None
    assert row.used_ip is not None


async def test_the_portal_shows_only_the_addresss_own_contracts_and_its_links_expire(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    mine = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=office.members.a,
        title=office.title_a,
        subject="自分の契約",
        email=CONTRACTOR,
    )
    other = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=office.members.a,
        title=office.title_a,
        subject="他社の契約",
        email="other@example.co.jp",
    )
    await _ask(client, CONTRACTOR)
    (mail,) = [m for m in await _mails_to(db_session, settings, CONTRACTOR) if "ログインリンク" in m[0]]
    token = mail[2].rsplit("/", 1)[1]
    csrf = await csrf_token(client)

    # Expired links do not sign in.
    await system_access(db_session)
    row = await db_session.scalar(select(PortalSignIn).where(PortalSignIn.email == CONTRACTOR))
    assert row is not None
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await db_session.flush()
    expired = await client.post(f"/portal/sign-in/{token}", data={"_csrf_token": csrf}, follow_redirects=False)
    assert expired.status_code == 410
    assert "有効期限" in expired.text
    row.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    await db_session.flush()
    assert (
        await client.post(f"/portal/sign-in/{token}", data={"_csrf_token": csrf}, follow_redirects=False)
    ).status_code == 303
    listing = await client.get("/portal/contracts")
    assert "自分の契約" in listing.text
    assert "他社の契約" not in listing.text
    await system_access(db_session)
    await db_session.refresh(other, ["documents"])
    assert (await client.get(f"/portal/contracts/{other.id}/certificate")).status_code == 404
    assert (await client.get(f"/portal/contracts/{other.id}/documents/{other.documents[0].id}")).status_code == 404
    # A document of another contract through one's own contract is not found either.
    assert (await client.get(f"/portal/contracts/{mine.id}/documents/{other.documents[0].id}")).status_code == 404
    # A forged cookie is no session.
    client.cookies.set("kyodo_portal", f"{row.id}.forged", path="/portal")
    assert (await client.get(f"/portal/contracts/{mine.id}/certificate")).status_code == 403


async def test_sign_in_links_are_limited_per_address_and_staff_sessions_see_nothing_more(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office
) -> None:
    limit = settings.contracts.portal_links_per_hour
    for _ in range(limit):
        status, _text = await _ask(client, "nobody@example.co.jp")
        assert status == 200
    status, text = await _ask(client, "nobody@example.co.jp")
    assert status == 429
    assert "1時間後" in text
    status, text = await _ask(client, "not an address")
    assert status == 400
    assert "正しいメールアドレス" in text
    # Signed in as staff of a member, the portal still needs its own sign-in link.
    await sign_in(client, "morioka-admin")
    assert (await client.get("/portal/contracts", follow_redirects=False)).status_code == 303
    await system_access(db_session)
    assert len((await db_session.scalars(select(PortalSignIn))).all()) == limit
