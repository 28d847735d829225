"""Every role change, on the screens and through the API, is announced once after its commit, never if rolled back."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.settings import Settings
from policy.engine import CHANNEL
from policy.permissions import member_domain
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form


async def _announced(pubsub: Any, *, wait: float = 0.3) -> list[str]:
    """The domains announced within ``wait`` seconds, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
        if message and message["type"] == "message":
            seen.append(message["data"].decode())
    return seen


@pytest.fixture
async def channel(settings: Settings) -> Any:
    client = redis.asyncio.Redis.from_url(settings.redis.url)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=1.0)  # the subscription's confirmation
    try:
        yield pubsub
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


def _staff(login_id: str, roles: list[str]) -> dict[str, Any]:
    return {"login_id": login_id, "name": "岩手 花子", "email": f"{login_id}@example.lg.jp", "roles": roles}


async def test_a_request_that_fails_after_giving_a_role_announces_nothing(
    client: AsyncTestClient[Litestar], two_members: TwoMembers, channel: Any
) -> None:
    await sign_in(client, "morioka-admin")
    domain = member_domain(two_members.a.id)
    # The first role is written, the second does not exist: the request rolls back.
    failed = await api(client, "POST", "/api/v1/staff", _staff("morioka-rollback", ["viewer", "no-such-role"]))
    assert failed.status_code == 400, failed.text
    assert await _announced(channel, wait=0.5) == []
    assert "morioka-rollback" not in (await api(client, "GET", "/api/v1/staff")).text
    # The same request with roles that exist commits: announced once, for both roles.
    created = await api(client, "POST", "/api/v1/staff", _staff("morioka-commit", ["viewer", "drafter"]))
    assert created.status_code == 201, created.text
    assert await _announced(channel) == [domain]


async def test_every_role_change_of_either_interface_is_announced_once(
    client: AsyncTestClient[Litestar], two_members: TwoMembers, channel: Any
) -> None:
    await sign_in(client, "morioka-admin")
    domain = member_domain(two_members.a.id)
    clerk = (await api(client, "POST", "/api/v1/staff", _staff("morioka-clerk", []))).json()
    key = (await api(client, "POST", "/api/v1/api-keys", {"label": "文書管理"})).json()
    assert await _announced(channel) == [], "no role given, nothing to announce"
    staff_roles, key_roles = f"/admin/staff/{clerk['id']}/roles", f"/admin/api-keys/{key['id']}/roles"

    async def new_role_id() -> str:
        roles = (await api(client, "GET", "/api/v1/roles")).json()
        return str(next(r["id"] for r in roles if r["name"] == "custom:meibo"))

    changes: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("screen: give a staff role", lambda: form(client, staff_roles, role="viewer")),
        ("screen: take a staff role", lambda: form(client, staff_roles, role="viewer", action="remove")),
        ("api: give a staff role", lambda: api(client, "PUT", f"/api/v1/staff/{clerk['id']}/roles/signer")),
        ("api: take a staff role", lambda: api(client, "DELETE", f"/api/v1/staff/{clerk['id']}/roles/signer")),
        ("screen: give a key role", lambda: form(client, key_roles, role="auditor")),
        ("screen: take a key role", lambda: form(client, key_roles, role="auditor", action="remove")),
        ("api: give a key role", lambda: api(client, "PUT", f"/api/v1/api-keys/{key['id']}/roles/viewer")),
        ("api: take a key role", lambda: api(client, "DELETE", f"/api/v1/api-keys/{key['id']}/roles/viewer")),
        (
            "screen: new staff with a role",
            lambda: form(client, "/admin/staff", **_staff("morioka-s2", []), role="viewer"),
        ),
        (
            "api: new key with a role",
            lambda: api(client, "POST", "/api/v1/api-keys", {"label": "x", "roles": ["viewer"]}),
        ),
        ("screen: new key with a role", lambda: form(client, "/admin/api-keys", label="y", role="viewer")),
        (
            "screen: new custom role",
            lambda: form(client, "/admin/roles", name="meibo", label="名簿", permissions="staff:view"),
        ),
        ("api: delete the custom role", lambda: _delete_role(client, new_role_id)),
        (
            "api: new custom role",
            lambda: api(
                client, "POST", "/api/v1/roles", {"name": "meibo", "label": "名簿", "permissions": ["staff:view"]}
            ),
        ),
        ("screen: delete the custom role", lambda: _delete_role_on_screen(client, new_role_id)),
    ]
    for what, change in changes:
        response = await change()
        assert response.status_code < 400, f"{what}: {response.status_code} {response.text[:300]}"
        assert await _announced(channel) == [domain], what
    # Giving a role someone already holds changes nothing and announces nothing.
    await api(client, "PUT", f"/api/v1/staff/{clerk['id']}/roles/signer")
    assert await _announced(channel) == [domain]
    assert (await api(client, "PUT", f"/api/v1/staff/{clerk['id']}/roles/signer")).status_code == 200
    assert await _announced(channel) == []
    # A refused change is not announced either.
    refused = await api(client, "DELETE", f"/api/v1/staff/{two_members.admin_a.id}/roles/admin")
    assert refused.status_code == 400
    assert await _announced(channel) == []


async def _delete_role(client: AsyncTestClient[Litestar], role_id: Callable[[], Awaitable[str]]) -> Any:
    return await api(client, "DELETE", f"/api/v1/roles/{await role_id()}")


async def _delete_role_on_screen(client: AsyncTestClient[Litestar], role_id: Callable[[], Awaitable[str]]) -> Any:
    return await form(client, f"/admin/roles/{await role_id()}/delete")
