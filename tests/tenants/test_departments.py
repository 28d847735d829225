"""Departments: nested, create, rename, move, delete only when empty; never another member's."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import Department
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form, text_at
from tests.scope import system_access


async def _departments(session: AsyncSession, member_id) -> dict[str, Department]:
    await system_access(session)
    rows = (await session.scalars(select(Department).where(Department.member_id == member_id))).all()
    for row in rows:
        await session.refresh(row)
    return {r.code: r for r in rows}


async def test_admin_builds_a_nested_department_tree(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    assert (await form(client, "/admin/departments", code="100", name="総務部")).status_code == 303
    top = (await _departments(db_session, two_members.a.id))["100"]
    await form(client, "/admin/departments", code="110", name="総務課", parent_id=str(top.id))
    page = await client.get("/admin/departments")
    assert page.status_code == 200
    assert text_at(page.text, "label[for='new-name']") == "所属名", "a department's name, not a person's (氏名)"
    assert "総務部" in page.text
    assert "総務課" in page.text
    child = (await _departments(db_session, two_members.a.id))["110"]
    assert child.parent_id == top.id

    # Rename and move to the top level.
    await form(client, f"/admin/departments/{child.id}", name="総務企画課", parent_id="")
    child = (await _departments(db_session, two_members.a.id))["110"]
    assert child.name == "総務企画課"
    assert child.parent_id is None

    # A department cannot go inside its own child.
    await form(client, f"/admin/departments/{child.id}", name="総務企画課", parent_id=str(top.id))
    refused = await form(client, f"/admin/departments/{top.id}", name="総務部", parent_id=str(child.id))
    assert refused.status_code == 400
    assert "自分自身" in refused.text


async def test_delete_only_when_empty(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    top = await f.department(db_session, two_members.a, "100", "総務部")
    child = await f.department(db_session, two_members.a, "110", "総務課", parent=top)
    await f.staff(db_session, two_members.a, "morioka-somu", roles=("viewer",), department=child)
    await sign_in(client, "morioka-admin")
    has_children = await form(client, f"/admin/departments/{top.id}/delete")
    assert has_children.status_code == 409
    assert "下位の所属" in has_children.text
    has_staff = await api(client, "DELETE", f"/api/v1/departments/{child.id}")
    assert has_staff.status_code == 409
    assert "1人" in has_staff.json()["detail"]
    assert set(await _departments(db_session, two_members.a.id)) == {"100", "110"}


async def test_api_creates_renames_moves_and_deletes(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    top = (await api(client, "POST", "/api/v1/departments", {"code": "200", "name": "財政部"})).json()
    sub = await api(client, "POST", "/api/v1/departments", {"code": "210", "name": "財政課", "parent_id": top["id"]})
    assert sub.status_code == 201
    assert sub.json()["parent_id"] == top["id"]
    moved = await api(
        client, "PATCH", f"/api/v1/departments/{sub.json()['id']}", {"name": "財政企画課", "parent_id": None}
    )
    assert moved.json() == {"id": sub.json()["id"], "code": "210", "name": "財政企画課", "parent_id": None}
    assert (await api(client, "DELETE", f"/api/v1/departments/{sub.json()['id']}")).status_code == 204
    listed = (await api(client, "GET", "/api/v1/departments")).json()
    assert [d["code"] for d in listed] == ["200"]


async def test_another_members_departments_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    theirs = await f.department(db_session, two_members.b, "100", "八幡平市総務課")
    await sign_in(client, "morioka-admin")
    assert "八幡平市総務課" not in (await client.get("/admin/departments")).text
    assert "八幡平市総務課" not in (await api(client, "GET", "/api/v1/departments")).text
    assert (await form(client, f"/admin/departments/{theirs.id}", name="x")).status_code == 404
    assert (await form(client, f"/admin/departments/{theirs.id}/delete")).status_code == 404
    assert (await api(client, "PATCH", f"/api/v1/departments/{theirs.id}", {"name": "x"})).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/departments/{theirs.id}")).status_code == 404
    # Nor can their department be used as a parent.
    assert (
        await api(client, "POST", "/api/v1/departments", {"code": "9", "name": "x", "parent_id": str(theirs.id)})
    ).status_code == 400
    assert (await _departments(db_session, two_members.b.id))["100"].name == "八幡平市総務課"


async def test_staff_without_the_permission_cannot_manage_departments(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-etsuran", roles=("viewer",))
    await sign_in(client, "morioka-etsuran")
    assert (await client.get("/admin/departments")).status_code == 403
    assert (await api(client, "POST", "/api/v1/departments", {"code": "1", "name": "x"})).status_code == 403
