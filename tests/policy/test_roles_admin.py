"""Roles (ACC-2): built-in and custom roles, assignment, and never more than the editor holds."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.scope import for_member
from policy.models import MemberRole, PolicyRule
from policy.permissions import Permission
from policy.services import RoleIn, RoleService
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form
from tests.scope import system_access


async def test_builtin_roles_are_listed_in_japanese(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    page = await client.get("/admin/roles")
    for label in ("団体管理者", "起案者", "締結権限者", "閲覧者", "監査担当"):
        assert label in page.text
    assert "事務局" not in page.text
    names = [r["name"] for r in (await api(client, "GET", "/api/v1/roles")).json()]
    assert names == ["admin", "drafter", "signer", "viewer", "auditor"]


async def test_custom_role_created_assigned_and_effective(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    clerk = await f.staff(db_session, two_members.a, "morioka-jimu", roles=())
    await sign_in(client, "morioka-admin")
    created = await form(
        client, "/admin/roles", name="meibo", label="名簿係", permissions=["staff:view", "addressbook:view"]
    )
    assert created.status_code == 303
    assert "名簿係" in (await client.get("/admin/roles")).text
    assert (await form(client, f"/admin/staff/{clerk.id}/roles", role="custom:meibo")).status_code == 303

    await sign_in(client, "morioka-jimu")
    assert (await client.get("/admin/staff")).status_code == 200
    assert (await client.get("/address-book")).status_code == 200
    assert (await client.get("/admin/titles")).status_code == 403

    await sign_in(client, "morioka-admin")
    assert (await api(client, "DELETE", f"/api/v1/staff/{clerk.id}/roles/custom:meibo")).status_code == 204
    await sign_in(client, "morioka-jimu")
    assert (await client.get("/admin/staff")).status_code == 403


async def test_never_more_than_the_editor_holds(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    # A role manager who is not an administrator: may manage roles and view staff, nothing else.
    created = await api(
        client,
        "POST",
        "/api/v1/roles",
        {"name": "role-mgr", "label": "ロール係", "permissions": ["role:manage", "staff:view", "contract:view"]},
    )
    assert created.status_code == 201, created.text
    await f.staff(db_session, two_members.a, "morioka-rolemgr", roles=("custom:role-mgr",))
    target = await f.staff(db_session, two_members.a, "morioka-target", roles=())

    await sign_in(client, "morioka-rolemgr")
    too_much = await api(
        client,
        "POST",
        "/api/v1/roles",
        {"name": "sneaky", "label": "x", "permissions": ["contract:view", "contract:sign"]},
    )
    assert too_much.status_code == 400
    assert "持っていない権限" in too_much.json()["detail"]
    assert "契約名義で締結する" in too_much.json()["detail"]
    ok = await api(
        client, "POST", "/api/v1/roles", {"name": "reader", "label": "閲覧係", "permissions": ["contract:view"]}
    )
    assert ok.status_code == 201
    # viewer = contract:view + contract:download; the manager lacks download.
    refused = await api(client, "PUT", f"/api/v1/staff/{target.id}/roles/viewer")
    assert refused.status_code == 400
    admin_refused = await form(client, f"/admin/staff/{target.id}/roles", role="admin")
    assert admin_refused.status_code == 400
    assert "持っていない権限" in admin_refused.text
    # Nor may they take the administrator role away from someone.
    assert (await api(client, "DELETE", f"/api/v1/staff/{two_members.admin_a.id}/roles/admin")).status_code == 400
    assert (await api(client, "PUT", f"/api/v1/staff/{target.id}/roles/custom:reader")).status_code == 200
    # Deleting the role that lets them manage roles would shut them out.
    own_role = await api(client, "DELETE", f"/api/v1/roles/{created.json()['id']}")
    assert own_role.status_code == 400
    assert "自分自身から" in own_role.json()["detail"]

    await system_access(db_session)
    rules = (
        await db_session.scalars(
            select(PolicyRule.v1).where(PolicyRule.v0 == f"staff:{target.id}", PolicyRule.ptype == "g")
        )
    ).all()
    assert rules == ["role:custom:reader"]
    assert (
        await db_session.scalar(
            select(MemberRole).where(MemberRole.name == "sneaky", MemberRole.member_id == two_members.a.id)
        )
    ) is None


async def test_service_refuses_a_role_beyond_the_editor(two_members: TwoMembers, db_session: AsyncSession) -> None:
    await for_member(db_session, two_members.a.id)
    service = RoleService(db_session, two_members.a.id)
    editor = frozenset({Permission("contract", "view"), Permission("role", "manage")})
    with pytest.raises(Invalid, match="監査ログを閲覧する"):
        await service.create(editor, RoleIn(name="x-role", label="x", permissions=["audit:view"]))
    with pytest.raises(Invalid, match="締結する"):
        await service.assign(editor=editor, subject=f"staff:{two_members.admin_a.id}", role_name="signer")
    assert [r.name for r in await service.roles() if not r.builtin] == []


async def test_deleting_a_custom_role_removes_its_assignments(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    role = (
        await api(client, "POST", "/api/v1/roles", {"name": "temp", "label": "臨時", "permissions": ["staff:view"]})
    ).json()
    clerk = await f.staff(db_session, two_members.a, "morioka-rinji", roles=("custom:temp",))
    assert (await form(client, f"/admin/roles/{role['id']}/delete")).status_code == 303
    await system_access(db_session)
    left = (await db_session.scalars(select(PolicyRule).where(PolicyRule.v0 == f"staff:{clerk.id}"))).all()
    assert left == []
    await sign_in(client, "morioka-rinji")
    assert (await client.get("/admin/staff")).status_code == 403


async def test_another_members_roles_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "hachimantai-admin")
    theirs = (
        await api(
            client, "POST", "/api/v1/roles", {"name": "hachi", "label": "八幡平係", "permissions": ["staff:view"]}
        )
    ).json()
    await sign_in(client, "morioka-admin")
    assert "八幡平係" not in (await client.get("/admin/roles")).text
    assert "八幡平係" not in (await api(client, "GET", "/api/v1/roles")).text
    assert (await form(client, f"/admin/roles/{theirs['id']}/delete")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/roles/{theirs['id']}")).status_code == 404
    # Their role name means nothing here.
    assert (await api(client, "PUT", f"/api/v1/staff/{two_members.admin_a.id}/roles/custom:hachi")).status_code == 400
    await system_access(db_session)
    assert await db_session.get(MemberRole, theirs["id"]) is not None
