"""Allowed networks (ACC-6): validated, and never an edit that shuts out the editor."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import IpRange
from tests import factories as f
from tests.conftest import PEER_HEADER, TwoMembers, sign_in
from tests.helpers import api, form
from tests.scope import system_access


async def _cidrs(session: AsyncSession, member_id) -> list[str]:
    await system_access(session)
    return sorted(str(c) for c in await session.scalars(select(IpRange.cidr).where(IpRange.member_id == member_id)))


async def test_ranges_are_validated_and_normalised(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    client.headers[PEER_HEADER] = "10.20.3.4"
    await sign_in(client, "morioka-admin")
    wrong = await form(client, "/admin/ip-ranges", cidr="10.20.0.0/33", label="庁舎")
    assert wrong.status_code == 400
    assert "アドレス範囲ではありません" in wrong.text
    assert (await form(client, "/admin/ip-ranges", cidr="10.20.3.9/16", label="本庁舎")).status_code == 303
    added = await api(client, "POST", "/api/v1/ip-ranges", {"cidr": "2001:db8::/48", "label": "IPv6"})
    assert added.status_code == 201
    assert await _cidrs(db_session, two_members.a.id) == ["10.20.0.0/16", "2001:db8::/48"]
    page = await client.get("/admin/ip-ranges")
    assert "10.20.0.0/16" in page.text
    assert "10.20.3.4" in page.text  # the editor sees their own address


async def test_an_edit_that_would_lock_the_editor_out_is_refused(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    client.headers[PEER_HEADER] = "10.20.3.4"
    await sign_in(client, "morioka-admin")
    first = await form(client, "/admin/ip-ranges", cidr="192.0.2.0/24", label="支所")
    assert first.status_code == 409
    assert "あなたの現在のアドレス（10.20.3.4）" in first.text
    assert await _cidrs(db_session, two_members.a.id) == []
    await form(client, "/admin/ip-ranges", cidr="10.20.0.0/16")
    await form(client, "/admin/ip-ranges", cidr="192.0.2.0/24")
    ranges = {r["cidr"]: r["id"] for r in (await api(client, "GET", "/api/v1/ip-ranges")).json()}
    refused = await api(client, "DELETE", f"/api/v1/ip-ranges/{ranges['10.20.0.0/16']}")
    assert refused.status_code == 409
    assert "10.20.3.4" in refused.json()["detail"]
    assert (await api(client, "DELETE", f"/api/v1/ip-ranges/{ranges['192.0.2.0/24']}")).status_code == 204
    assert await _cidrs(db_session, two_members.a.id) == ["10.20.0.0/16"]
    assert (await client.get("/admin/ip-ranges")).status_code == 200


async def test_another_members_ranges_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    theirs = await f.ip_range(db_session, two_members.b, "198.51.100.0/24")
    await sign_in(client, "morioka-admin")
    assert "198.51.100.0" not in (await client.get("/admin/ip-ranges")).text
    assert (await api(client, "GET", "/api/v1/ip-ranges")).json() == []
    assert (await form(client, f"/admin/ip-ranges/{theirs.id}/delete")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/ip-ranges/{theirs.id}")).status_code == 404
    assert await _cidrs(db_session, two_members.b.id) == ["198.51.100.0/24"]
