"""Everyone with a password changes it themselves; a change or an administrator's reset signs out other devices."""

from __future__ import annotations

import httpx
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.sessions import SESSION_COOKIE
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in

NEW = "hayachine-2027-kogen"


async def _change(client: AsyncTestClient, current: str, new: str, confirm: str | None = None) -> httpx.Response:
    return await client.post(
        "/account/password",
        data={
            "current": current,
            "new": new,
            "confirm": new if confirm is None else confirm,
            "_csrf_token": await csrf_token(client),
        },
    )


async def _login_status(client: AsyncTestClient, login_id: str, password: str) -> int:
    """Sign-in attempt from a fresh browser (the client's cookies are put back afterwards)."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies()
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"login_id": login_id, "password": password, "_csrf_token": str(client.cookies.get("kyodo_csrf"))},
        follow_redirects=False,
    )
    client.cookies = saved
    return response.status_code


async def _second_device(client: AsyncTestClient, login_id: str) -> str:
    """Sign in on "another device" and return its session token (this client then starts afresh)."""
    await sign_in(client, login_id)
    token = str(client.cookies.get(SESSION_COOKIE))
    client.cookies = httpx.Cookies()
    return token


async def _app_status(client: AsyncTestClient, token: str) -> int:
    """What the start page answers to the device holding ``token``."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = httpx.Cookies({SESSION_COOKIE: token})
    status = (await client.get("/app", follow_redirects=False)).status_code
    client.cookies = saved
    return status


async def test_staff_change_their_own_password_and_other_devices_are_signed_out(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    phone = await _second_device(client, "morioka-admin")
    assert await _app_status(client, phone) == 200
    await sign_in(client, "morioka-admin")
    form = await client.get("/account/password")
    assert form.status_code == 200
    assert 'autocomplete="current-password"' in form.text

    for current, new, confirm, message in (
        ("wrong-password-1", NEW, None, "現在のパスワードが正しくありません"),
        (f.PASSWORD, "short", None, "10文字以上"),
        (f.PASSWORD, NEW, NEW + "x", "確認用"),
        (f.PASSWORD, f.PASSWORD, None, "現在のパスワードと異なる"),
        (f.PASSWORD, "morioka-admin", None, "ログインIDと同じ"),
    ):
        refused = await _change(client, current, new, confirm)
        assert refused.status_code == 400, (new, refused.text[:300])
        assert message in refused.text, (message, refused.text[-1500:])

    changed = await _change(client, f.PASSWORD, NEW)
    assert changed.status_code == 200
    assert "パスワードを変更しました" in changed.text
    assert "他の端末（1）" in changed.text
    # This browser carries on with a new session; the phone is signed out.
    assert (await client.get("/app", follow_redirects=False)).status_code == 200
    assert await _app_status(client, phone) != 200
    assert await _login_status(client, "morioka-admin", f.PASSWORD) == 400
    assert await _login_status(client, "morioka-admin", NEW) == 303


async def test_the_secretariat_and_operators_change_theirs_too(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.operator(db_session)
    for login_id in ("jimukyoku", "kyodo-unyo"):
        await sign_in(client, login_id)
        changed = await _change(client, f.PASSWORD, NEW)
        assert changed.status_code == 200, changed.text[-800:]
        assert await _login_status(client, login_id, NEW) == 303


async def test_an_administrators_reset_signs_the_person_out_everywhere(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    staff = await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    desk = await _second_device(client, "morioka-keiyaku")
    assert await _app_status(client, desk) == 200
    await sign_in(client, "morioka-admin")
    reset = await client.post(
        f"/admin/staff/{staff.id}/password",
        data={"password": NEW, "_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    assert await _app_status(client, desk) != 200
    assert await _login_status(client, "morioka-keiyaku", NEW) == 303


async def test_a_password_chosen_by_the_administrator_must_be_replaced_first(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    staff = await f.staff(db_session, two_members.a, "morioka-shinnin", roles=("drafter",))
    await sign_in(client, "morioka-admin")
    await client.post(
        f"/admin/staff/{staff.id}/password",
        data={"password": "given-by-admin-01", "_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    client.cookies = httpx.Cookies()
    await sign_in(client, "morioka-shinnin", "given-by-admin-01")
    for path in ("/app", "/contracts", "/address-book"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/password"
    api = await client.get("/api/v1/contracts")
    assert api.status_code == 403
    assert "先にご自身のパスワードに変更してください" in api.json()["detail"]
    page = await client.get("/account/password")
    assert "管理者が設定したパスワードでログインしました" in page.text
    changed = await _change(client, "given-by-admin-01", NEW)
    assert changed.status_code == 200
    assert (await client.get("/contracts", follow_redirects=False)).status_code == 200
    await db_session.refresh(staff)
    assert staff.must_change_password is False
