"""Staff accounts: list by department, create, edit, view scope, password reset, unlock (ACC-1..5)."""

from __future__ import annotations

import datetime as dt

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policy.models import PolicyRule
from tenants.models import Staff, StaffStatus, ViewScope
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form, replace_given_password, shown_once
from tests.scope import system_access


async def _staff(session: AsyncSession, login_id: str) -> Staff:
    await system_access(session)
    row = await session.scalar(select(Staff).where(Staff.login_id == login_id))
    assert row is not None
    await session.refresh(row)
    return row


async def test_list_filters_by_department_also_for_htmx(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    keiyaku = await f.department(db_session, two_members.a, "200", "契約課")
    await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",), department=keiyaku)
    await f.staff(db_session, two_members.a, "morioka-zaisei", roles=("viewer",))
    await sign_in(client, "morioka-admin")
    everyone = await client.get("/admin/staff")
    assert "morioka-keiyaku" in everyone.text
    assert "morioka-zaisei" in everyone.text
    only = await client.get(f"/admin/staff?department={keiyaku.id}", headers={"HX-Request": "true"})
    table = BeautifulSoup(only.text, "html.parser")
    assert table.find("html") is None  # just the table for htmx
    assert "morioka-keiyaku" in only.text
    assert "morioka-zaisei" not in only.text
    listed = await api(client, "GET", f"/api/v1/staff?department_id={keiyaku.id}")
    assert [s["login_id"] for s in listed.json()] == ["morioka-keiyaku"]


async def test_create_with_generated_password_shown_once_and_usable(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    created = await form(
        client, "/admin/staff", login_id="morioka-new", name="新任 職員", email="new@city.morioka.lg.jp", role="drafter"
    )
    assert created.status_code == 200
    password = shown_once(created.text)[-1]
    assert len(password) >= 10
    assert not set(password) & set("0Oo1lIi-_"), "no characters mistaken for each other when copied from the screen"
    assert "一度だけ表示" in created.text
    staff = await _staff(db_session, "morioka-new")
    assert password not in (staff.password_hash or "")
    await sign_in(client, "morioka-new", password)
    await replace_given_password(client, password, "morioka-new-own-2026")
    start = await client.get("/app")
    assert "起案者" in start.text


async def test_create_through_the_api_with_roles_and_a_chosen_password(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    created = await api(
        client,
        "POST",
        "/api/v1/staff",
        {
            "login_id": "morioka-shocho",
            "name": "締結 太郎",
            "email": "shocho@city.morioka.lg.jp",
            "password": "chosen-password-1",
            "roles": ["signer"],
            "view_scope": "department",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["roles"] == ["signer"]
    assert body["view_scope"] == "department"
    assert body["initial_password"] is None
    await sign_in(client, "morioka-shocho", "chosen-password-1")


async def test_duplicate_login_id_even_of_another_member_is_refused_plainly(
    client: AsyncTestClient, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    taken = await form(client, "/admin/staff", login_id="hachimantai-admin", name="x", email="x@example.lg.jp")
    assert taken.status_code == 409
    assert "ログインID hachimantai-admin は既に使われています" in taken.text
    short = await api(
        client,
        "POST",
        "/api/v1/staff",
        {"login_id": "a-b", "name": "x", "email": "y@example.lg.jp", "password": "short"},
    )
    assert short.status_code == 400
    assert "10文字以上" in short.json()["detail"]


async def test_edit_saves_department_status_and_view_scope(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    keiyaku = await f.department(db_session, two_members.a, "200", "契約課")
    person = await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    await sign_in(client, "morioka-admin")
    saved = await form(
        client,
        f"/admin/staff/{person.id}",
        name="契約 花子",
        email="keiyaku@city.morioka.lg.jp",
        department_id=str(keiyaku.id),
        status="active",
        view_scope="department",
    )
    assert saved.status_code == 303
    row = await _staff(db_session, "morioka-keiyaku")
    assert (row.name, row.department_id, row.view_scope) == ("契約 花子", keiyaku.id, ViewScope.DEPARTMENT)
    page = await client.get(f"/admin/staff/{person.id}")
    assert 'value="department" selected' in page.text
    suspended = await api(
        client, "PATCH", f"/api/v1/staff/{person.id}", {"status": "suspended", "view_scope": "member"}
    )
    assert suspended.json()["status"] == "suspended"
    row = await _staff(db_session, "morioka-keiyaku")
    assert (row.status, row.view_scope) == (StaffStatus.SUSPENDED, ViewScope.MEMBER)


async def test_unlock_and_password_reset(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    person = await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    person.locked_until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    await db_session.flush()
    await sign_in(client, "morioka-admin")
    page = await client.get(f"/admin/staff/{person.id}")
    assert "ロックされています" in page.text
    assert (await form(client, f"/admin/staff/{person.id}/unlock")).status_code == 303
    assert (await _staff(db_session, "morioka-keiyaku")).locked_until is None
    reset = await api(client, "POST", f"/api/v1/staff/{person.id}/password", {})
    new_password = reset.json()["initial_password"]
    assert new_password
    await sign_in(client, "morioka-keiyaku", new_password)


async def test_another_members_staff_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    theirs = two_members.admin_b
    await sign_in(client, "morioka-admin")
    assert "hachimantai-admin" not in (await client.get("/admin/staff")).text
    assert "hachimantai-admin" not in (await api(client, "GET", "/api/v1/staff")).text
    assert (await client.get(f"/admin/staff/{theirs.id}")).status_code == 404
    assert (await api(client, "GET", f"/api/v1/staff/{theirs.id}")).status_code == 404
    assert (
        await form(client, f"/admin/staff/{theirs.id}", name="乗っ取り", email="x@example.lg.jp")
    ).status_code == 404
    assert (await api(client, "PATCH", f"/api/v1/staff/{theirs.id}", {"status": "suspended"})).status_code == 404
    assert (await form(client, f"/admin/staff/{theirs.id}/password", password="taken-over-123")).status_code == 404
    assert (await api(client, "POST", f"/api/v1/staff/{theirs.id}/password", {})).status_code == 404
    assert (await form(client, f"/admin/staff/{theirs.id}/unlock")).status_code == 404
    assert (await api(client, "POST", f"/api/v1/staff/{theirs.id}/unlock")).status_code == 404
    assert (await form(client, f"/admin/staff/{theirs.id}/roles", role="viewer")).status_code == 404
    assert (await api(client, "PUT", f"/api/v1/staff/{theirs.id}/roles/viewer")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/staff/{theirs.id}/roles/admin")).status_code == 404
    row = await _staff(db_session, "hachimantai-admin")
    assert (row.name, row.status) == ("hachimantai-admin", StaffStatus.ACTIVE)
    await system_access(db_session)
    roles = (await db_session.scalars(select(PolicyRule.v1).where(PolicyRule.v0 == f"staff:{theirs.id}"))).all()
    assert roles == ["role:admin"]
    # Their admin still signs in with the same password.
    await sign_in(client, "hachimantai-admin")


async def test_viewer_may_not_see_the_staff_list(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-etsuran", roles=("viewer",))
    await sign_in(client, "morioka-etsuran")
    assert (await client.get("/admin/staff")).status_code == 403
    assert (await api(client, "GET", "/api/v1/staff")).status_code == 403
    start = await client.get("/app")
    assert "/admin/staff" not in start.text


async def test_an_administrator_cannot_shut_themselves_out(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    me = two_members.admin_a
    await sign_in(client, "morioka-admin")
    suspended = await api(client, "PATCH", f"/api/v1/staff/{me.id}", {"status": "suspended"})
    assert suspended.status_code == 400
    assert "自分のアカウント" in suspended.json()["detail"]
    retired = await form(client, f"/admin/staff/{me.id}", name="x", email="m@example.lg.jp", status="retired")
    assert retired.status_code == 400
    own_admin = await api(client, "DELETE", f"/api/v1/staff/{me.id}/roles/admin")
    assert own_admin.status_code == 400
    assert "ロールを管理する権限" in own_admin.json()["detail"]
    assert (await _staff(db_session, "morioka-admin")).status is StaffStatus.ACTIVE
    assert (await client.get("/admin/roles")).status_code == 200
