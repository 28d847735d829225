"""Staff set a new access password for a contractor on the contract's page (WF-6).

The screen unlocks a link locked after wrong passwords, ends what browsers kept
from the old password, reminds staff to pass the password on by phone or on
paper, and is audited like the API route. Another member's staff cannot reach it.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from signing.models import AuditEvent, AuditKind, Party
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.test_contractor_errors import _links, _open, _sent

FIRST = "first@example.co.jp"


async def _first_party(session: AsyncSession) -> Party:
    await system_access(session)
    session.expire_all()
    party = await session.scalar(select(Party).where(Party.email == FIRST))
    assert party is not None
    return party


async def _lock(client: AsyncTestClient, token: str) -> None:
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    for _attempt in range(5):
        await client.post(f"/c/{token}/password", data={"password": "nope-nope", "_csrf_token": csrf})


async def _password_audits(session: AsyncSession, party: Party) -> list[AuditEvent]:
    await system_access(session)
    rows = await session.scalars(
        select(AuditEvent).where(
            AuditEvent.kind == AuditKind.UPDATED.value,
            AuditEvent.detail["password_set_for"].astext == str(party.id),
        )
    )
    return list(rows.all())


async def test_staff_unlock_a_locked_link_with_a_new_password(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    # One browser plays the contractor (gate cookie of the link) and the staff member (session).
    drafter_id = office.drafter_a.id
    contract_id = await _sent(client, office)
    token = (await _links(db_session, settings))[FIRST]
    # The contractor passed the gate earlier; then someone guessed five times.
    await _open(client, token)
    assert (await client.get(f"/c/{token}")).status_code == 200
    await _lock(client, token)
    assert (await client.get(f"/c/{token}")).status_code == 423
    party = await _first_party(db_session)
    assert party.locked

    await sign_in(client, "morioka-drafter")
    detail = await client.get(f"/contracts/{contract_id}")
    assert "ロック中" in detail.text
    link = f"/contracts/{contract_id}/parties/{party.id}/password"
    assert f'href="{link}"' in detail.text

    form = await client.get(link)
    assert form.status_code == 200
    assert "電話または書面" in form.text
    assert "同じメール" in form.text
    soup = BeautifulSoup(form.text, "html.parser")
    field = soup.find("input", attrs={"name": "password"})
    assert field is not None
    assert soup.find("label", attrs={"for": field["id"]})
    suggestion = str(field["value"])
    assert re.fullmatch(r"[a-hj-km-np-z2-9]{10}", suggestion), suggestion

    csrf = await csrf_token(client)
    short = await client.post(link, data={"password": "abc", "_csrf_token": csrf})
    assert short.status_code == 400
    assert "8文字以上" in short.text
    assert (await _first_party(db_session)).locked

    done = await client.post(link, data={"password": "tel-0422-new", "_csrf_token": csrf})
    assert done.status_code == 200, done.text  # followed the redirect back to the screen
    assert "新しいアクセスパスワードを設定しました" in done.text

    party = await _first_party(db_session)
    assert (party.locked, party.failed_attempts) == (False, 0)
    [audit] = await _password_audits(db_session, party)
    assert audit.actor.startswith(f"staff:{drafter_id} ")
    assert str(audit.ip) == "127.0.0.1"
    assert str(audit.contract_id) == contract_id

    await _the_contractor_needs_the_new_password(client, token, link, csrf)


async def _the_contractor_needs_the_new_password(client: AsyncTestClient, token: str, link: str, csrf: str) -> None:
    # The browser that passed with the old password must pass again; the old one no longer works.
    gate = await client.get(f"/c/{token}")
    assert gate.status_code == 200
    assert 'name="password"' in gate.text
    assert "この契約に同意する" not in gate.text
    old = await client.post(f"/c/{token}/password", data={"password": "secret-pw", "_csrf_token": csrf})
    assert old.status_code == 400
    assert "パスワードが正しくありません" in old.text
    await _open(client, token, "tel-0422-new")
    assert "この契約に同意する" in (await client.get(f"/c/{token}")).text

    # Once the contractor answered, there is nothing to reset.
    assert (await client.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"})).status_code == 200
    late = await client.post(link, data={"password": "another-one", "_csrf_token": csrf})
    assert late.status_code == 409
    assert "回答済み" in late.text
    contract_page = link.partition("/parties/")[0]
    assert f'href="{link}"' not in (await client.get(contract_page)).text


async def test_only_staff_who_may_send_set_passwords(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    signer = office.signers_a[0].login_id
    contract_id = await _sent(client, office)
    party = await _first_party(db_session)
    link = f"/contracts/{contract_id}/parties/{party.id}/password"
    await sign_in(client, signer)  # signer: contract:view, no contract:send
    assert "パスワードを再設定" not in (await client.get(f"/contracts/{contract_id}")).text
    assert (await client.get(link)).status_code == 403
    refused = await client.post(link, data={"password": "signer-pass", "_csrf_token": await csrf_token(client)})
    assert refused.status_code == 403
    assert await _password_audits(db_session, party) == []


async def test_staff_of_another_member_cannot_reset_a_password(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    contract_id = await _sent(client, office)
    token = (await _links(db_session, settings))[FIRST]
    await _lock(client, token)
    party = await _first_party(db_session)
    await system_access(db_session)
    events_before = await db_session.scalar(select(func.count()).select_from(AuditEvent))

    await sign_in(client, "hachimantai-admin")  # member B's administrator holds contract:send in B
    link = f"/contracts/{contract_id}/parties/{party.id}/password"
    shown = await client.get(link)
    assert shown.status_code == 404
    assert FIRST not in shown.text
    tried = await client.post(link, data={"password": "b-took-over", "_csrf_token": await csrf_token(client)})
    assert tried.status_code == 404
    assert "見つかりません" in tried.text

    party = await _first_party(db_session)
    assert party.locked
    await system_access(db_session)
    assert await db_session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
    # Member A's own party id under a made-up contract of B's answers the same.
    await sign_in(client, "morioka-admin")
    assert (await client.get(f"/contracts/{party.id}/parties/{party.id}/password")).status_code == 404


async def test_member_signers_have_no_access_password(client: AsyncTestClient, office: Office) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={"subject": "庁舎清掃業務委託", "title_id": str(office.title_a.id)},
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    contract_id = created.json()["id"]
    signer = await client.post(
        f"/api/v1/contracts/{contract_id}/parties",
        headers=api,
        json={"order_no": 1, "kind": "staff", "staff_id": str(office.signers_a[0].id)},
    )
    assert signer.status_code == 201, signer.text
    link = f"/contracts/{contract_id}/parties/{signer.json()['id']}/password"
    await sign_in(client, "morioka-admin")
    assert "パスワードを再設定" not in (await client.get(f"/contracts/{contract_id}")).text
    for response in (
        await client.get(link),
        await client.post(link, data={"password": "staff-pass", "_csrf_token": await csrf_token(client)}),
    ):
        assert response.status_code == 400
        assert "アクセスパスワードを設定できるのは事業者だけです" in response.text
