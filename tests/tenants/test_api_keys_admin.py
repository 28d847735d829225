"""API keys: shown once, only the digest kept, used, listed with last use, revoked and refused."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import ApiKey
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form, shown_once
from tests.scope import system_access


async def test_create_use_revoke_refuse(
    client: AsyncTestClient, app: Litestar, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    created = await api(client, "POST", "/api/v1/api-keys", {"label": "文書管理システム", "roles": ["auditor"]})
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(f"kyd_{body['prefix']}_")
    await system_access(db_session)
    row = await db_session.get(ApiKey, body["id"])
    assert row is not None
    assert key not in row.key_hash
    assert row.key_hash != key

    # The listing never shows the key again.
    listed = await api(client, "GET", "/api/v1/api-keys")
    assert key not in listed.text
    assert listed.json()[0]["last_used_at"] is None

    other_system = {"Authorization": f"Bearer {key}"}
    async with AsyncTestClient(app=app) as system:  # no cookies at all: only the key
        staff = await system.get("/api/v1/staff", headers=other_system)
        assert staff.status_code == 200, staff.text  # the auditor role may view staff
        assert "morioka-admin" in staff.text
    first_use = (await api(client, "GET", "/api/v1/api-keys")).json()[0]["last_used_at"]
    assert first_use is not None
    async with AsyncTestClient(app=app) as system:
        assert (
            await system.post("/api/v1/departments", json={"code": "1", "name": "x"}, headers=other_system)
        ).status_code == 403
    listed = await api(client, "GET", "/api/v1/api-keys")
    # Kept to the minute: a second call within it writes nothing.
    assert listed.json()[0]["last_used_at"] == first_use
    assert listed.json()[0]["roles"] == ["auditor"]

    assert (await api(client, "DELETE", f"/api/v1/api-keys/{body['id']}")).status_code == 204
    refused = await client.get("/api/v1/staff", headers=other_system)
    assert refused.status_code == 401
    assert "無効" in refused.json()["detail"] or "失効" in refused.json()["detail"]


async def test_screen_shows_the_key_once(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    issued = await form(client, "/admin/api-keys", label="財務会計システム", role="viewer")
    assert issued.status_code == 200
    key = shown_once(issued.text)[-1]
    assert key.startswith("kyd_")
    page = await client.get("/admin/api-keys")
    assert "財務会計システム" in page.text
    assert key not in page.text
    assert key.split("_")[1] in page.text  # the prefix identifies it
    rows = (await api(client, "GET", "/api/v1/api-keys")).json()
    assert (await form(client, f"/admin/api-keys/{rows[0]['id']}/revoke")).status_code == 303
    assert "失効済み" in (await client.get("/admin/api-keys")).text


async def test_another_members_keys_are_out_of_reach(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "hachimantai-admin")
    theirs = (await api(client, "POST", "/api/v1/api-keys", {"label": "八幡平の連携", "roles": ["viewer"]})).json()
    await sign_in(client, "morioka-admin")
    assert "八幡平の連携" not in (await client.get("/admin/api-keys")).text
    assert (await api(client, "GET", "/api/v1/api-keys")).json() == []
    assert (await form(client, f"/admin/api-keys/{theirs['id']}/revoke")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/api-keys/{theirs['id']}")).status_code == 404
    assert (await api(client, "PUT", f"/api/v1/api-keys/{theirs['id']}/roles/admin")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/api-keys/{theirs['id']}/roles/viewer")).status_code == 404
    assert (await form(client, f"/admin/api-keys/{theirs['id']}/roles", role="admin")).status_code == 404
    # Their key still works, with its role unchanged, and only for their member.
    still = await client.get("/api/v1/departments", headers={"Authorization": f"Bearer {theirs['key']}"})
    assert still.status_code == 403  # a viewer key may not list departments
    await sign_in(client, "hachimantai-admin")
    mine = (await api(client, "GET", "/api/v1/api-keys")).json()
    assert [(k["revoked_at"], k["roles"]) for k in mine] == [(None, ["viewer"])]


async def test_roles_of_a_key_given_and_taken_on_the_screen(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    key = (await api(client, "POST", "/api/v1/api-keys", {"label": "電子入札"})).json()
    assert (await form(client, f"/admin/api-keys/{key['id']}/roles", role="drafter")).status_code == 303
    assert "起案者" in (await client.get("/admin/api-keys")).text
    assert (
        await client.get("/api/v1/address-book", headers={"Authorization": f"Bearer {key['key']}"})
    ).status_code == 200
    await form(client, f"/admin/api-keys/{key['id']}/roles", role="drafter", action="remove")
    assert (await api(client, "GET", "/api/v1/api-keys")).json()[0]["roles"] == []
    assert (
        await client.get("/api/v1/address-book", headers={"Authorization": f"Bearer {key['key']}"})
    ).status_code == 403


async def test_a_key_cannot_take_its_own_role_management_through_the_api(
    client: AsyncTestClient, app: Litestar, two_members: TwoMembers
) -> None:
    """The guard of the screens holds on the JSON API too: a key never takes away its own right to manage roles."""
    await sign_in(client, "morioka-admin")
    created = (await api(client, "POST", "/api/v1/api-keys", {"label": "人事システム", "roles": ["admin"]})).json()
    own_key = {"Authorization": f"Bearer {created['key']}"}
    async with AsyncTestClient(app=app) as system:  # the other system itself, with its key only
        refused = await system.delete(f"/api/v1/api-keys/{created['id']}/roles/admin", headers=own_key)
        assert refused.status_code == 400, refused.text
        assert "自分自身から" in refused.json()["detail"]
        still = await system.get("/api/v1/api-keys", headers=own_key)
        assert still.status_code == 200  # it may still manage keys and roles
        assert [k["roles"] for k in still.json() if k["id"] == created["id"]] == [["admin"]]
        # Another key's roles it may still take, within what it holds.
        other = (
            await system.post("/api/v1/api-keys", json={"label": "財務", "roles": ["viewer"]}, headers=own_key)
        ).json()
        assert (await system.delete(f"/api/v1/api-keys/{other['id']}/roles/viewer", headers=own_key)).status_code == 204
    # The screen path answers the same for a staff member and their own administrator role.
    me = two_members.admin_a
    screen = await form(client, f"/admin/staff/{me.id}/roles", role="admin", action="remove")
    assert screen.status_code == 400
    assert "自分自身から" in screen.text
    own_api = await api(client, "DELETE", f"/api/v1/staff/{me.id}/roles/admin")
    assert own_api.status_code == 400
    assert "admin" in (await api(client, "GET", f"/api/v1/staff/{me.id}")).json()["roles"]
