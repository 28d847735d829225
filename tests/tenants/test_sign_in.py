"""Sign-in: ID and password, lockout, IP ranges, session rotation and timeouts (ACC-5, ACC-6, SEC-5)."""

from __future__ import annotations

import dataclasses

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import SecuritySettings, Settings
from kyodo.app import create_app
from tenants.models import SecurityEvent, SecurityEventKind, Staff
from tests import factories as f
from tests.conftest import PEER_HEADER, TwoMembers, _session_maker, sign_in
from tests.scope import system_access


async def _login(client: AsyncTestClient[Litestar], login_id: str, password: str):
    await client.get("/login")
    return await client.post(
        "/login",
        data={"login_id": login_id, "password": password, "_csrf_token": client.cookies.get("kyodo_csrf", "")},
        follow_redirects=False,
    )


async def test_staff_signs_in_and_sees_their_member(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    page = await client.get("/app")
    assert page.status_code == 200
    assert "盛岡市" in page.text
    assert "八幡平市" not in page.text
    assert "団体管理者" in page.text


async def test_wrong_password_says_so_without_revealing_which_part(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    wrong_password = await _login(client, "morioka-admin", "nope")
    unknown_id = await _login(client, "nobody", "nope")
    assert wrong_password.status_code == unknown_id.status_code == 400
    assert "IDまたはパスワードが正しくありません" in wrong_password.text
    assert "IDまたはパスワードが正しくありません" in unknown_id.text
    assert "kyodo_session" not in client.cookies


async def test_five_wrong_passwords_lock_the_account(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    for _ in range(4):
        assert "正しくありません" in (await _login(client, "morioka-admin", "wrong")).text
    locked = await _login(client, "morioka-admin", "wrong")
    assert "ロック" in locked.text
    # Even the right password is refused while locked.
    still_locked = await _login(client, "morioka-admin", f.PASSWORD)
    assert still_locked.status_code == 400
    assert "ロック" in still_locked.text
    await system_access(db_session)
    kinds = (
        await db_session.scalars(select(SecurityEvent.kind).where(SecurityEvent.member_id == two_members.a.id))
    ).all()
    assert kinds.count(SecurityEventKind.LOGIN_FAILED) == 5
    assert kinds.count(SecurityEventKind.ACCOUNT_LOCKED) == 1


async def test_login_ids_cannot_be_enumerated_from_outside_the_members_networks(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.ip_range(db_session, two_members.a, "10.20.0.0/16")
    real = await _login(client, "morioka-admin", "wrong-password")  # from 127.0.0.1, outside the range
    unknown = await _login(client, "nobody-at-all", "wrong-password")
    assert real.status_code == unknown.status_code
    assert "このネットワーク" not in real.text
    assert "IDまたはパスワードが正しくありません。" in real.text
    assert "IDまたはパスワードが正しくありません。" in unknown.text
    # Only the right password learns why it cannot sign in from here.
    refused = await _login(client, "morioka-admin", f.PASSWORD)
    assert refused.status_code == 403
    assert "このネットワークからのアクセスは" in refused.text


async def test_access_from_outside_the_members_networks_is_refused(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.ip_range(db_session, two_members.a, "10.20.0.0/16")
    refused = await _login(client, "morioka-admin", f.PASSWORD)  # from 127.0.0.1
    assert refused.status_code == 403
    assert "このネットワークからのアクセスは" in refused.text
    # From inside the range the same person gets in.
    client.headers[PEER_HEADER] = "10.20.3.4"
    await sign_in(client, "morioka-admin")
    assert (await client.get("/app")).status_code == 200
    # Member B has no ranges set: its staff sign in from anywhere.
    client.headers[PEER_HEADER] = "203.0.113.9"
    await sign_in(client, "hachimantai-admin")


async def test_signed_in_session_is_refused_once_the_range_excludes_it(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    assert (await client.get("/app")).status_code == 200
    await f.ip_range(db_session, two_members.a, "192.0.2.0/24")
    refused = await client.get("/app")
    assert refused.status_code == 403
    assert "このネットワーク" in refused.text


async def test_login_rotates_the_session_and_logout_ends_it(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    first = client.cookies.get("kyodo_session")
    await sign_in(client, "morioka-admin")
    second = client.cookies.get("kyodo_session")
    assert first
    assert second
    assert first != second
    # The old token no longer opens anything.
    client.cookies.set("kyodo_session", first)
    assert (await client.get("/app", follow_redirects=False)).status_code == 303
    client.cookies.set("kyodo_session", second)
    assert (await client.get("/app")).status_code == 200
    await client.post("/logout", data={"_csrf_token": client.cookies.get("kyodo_csrf", "")})
    client.cookies.set("kyodo_session", second)
    assert (await client.get("/app", follow_redirects=False)).headers["location"].startswith("/login")


async def test_absolute_timeout_ends_the_session(settings: Settings, db_connection, two_members: TwoMembers) -> None:
    quick = dataclasses.replace(settings, security=SecuritySettings(session_absolute_hours=0))
    async with AsyncTestClient(app=create_app(quick, session_maker=_session_maker(db_connection))) as client:
        await sign_in(client, "morioka-admin")
        response = await client.get("/app", follow_redirects=False)
    assert response.status_code == 303


async def test_suspended_staff_lose_access_at_once(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    await system_access(db_session)
    staff = await db_session.get(Staff, two_members.admin_a.id)
    assert staff is not None
    staff.status = staff.status.SUSPENDED
    await db_session.flush()
    assert (await client.get("/app", follow_redirects=False)).status_code == 303


async def test_secretariat_signs_in_to_the_consortium(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "jimukyoku")
    page = await client.get("/app")
    assert page.status_code == 200
    assert "事務局" in page.text


async def test_login_form_without_csrf_token_is_refused(client: AsyncTestClient, two_members: TwoMembers) -> None:
    response = await client.post("/login", data={"login_id": "morioka-admin", "password": f.PASSWORD})
    assert response.status_code == 403


async def test_the_api_refuses_keys_used_from_outside_the_members_networks(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    key = await f.api_key(db_session, two_members.a, roles=("drafter",))
    await f.ip_range(db_session, two_members.a, "10.20.0.0/16")
    auth = {"Authorization": f"Bearer {key}"}
    refused = await client.get("/api/v1/contracts/", headers={**auth, PEER_HEADER: "203.0.113.9"})
    assert refused.status_code == 403
    assert "このネットワーク" in refused.json()["detail"]
    allowed = await client.get("/api/v1/contracts/", headers={**auth, PEER_HEADER: "10.20.1.2"})
    assert allowed.status_code == 200
    await system_access(db_session)
    kinds = (
        await db_session.scalars(select(SecurityEvent.kind).where(SecurityEvent.member_id == two_members.a.id))
    ).all()
    assert SecurityEventKind.IP_REFUSED in kinds
