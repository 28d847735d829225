"""Behind a load balancer: X-Forwarded-For counts only when the peer is a trusted proxy."""

from __future__ import annotations

import dataclasses

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.settings import Settings
from kyodo.app import create_app
from tests import factories as f
from tests.conftest import PEER_HEADER, TwoMembers, _session_maker

PROXY = "10.9.0.5"
"""The load balancer's own address."""
OFFICE = "172.20.3.4"
"""A clerk's PC in the member's allowed range."""


def _app(settings: Settings, db_connection: AsyncConnection, trusted: tuple[str, ...]) -> Litestar:
    configured = dataclasses.replace(settings, security=dataclasses.replace(settings.security, trusted_proxies=trusted))
    return create_app(configured, session_maker=_session_maker(db_connection))


async def _login(client: AsyncTestClient[Litestar], *, peer: str, forwarded: str | None) -> int:
    headers = {PEER_HEADER: peer}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    await client.get("/login", headers=headers)
    response = await client.post(
        "/login",
        data={"login_id": "morioka-admin", "password": f.PASSWORD, "_csrf_token": client.cookies.get("kyodo_csrf", "")},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code


async def test_a_trusted_proxy_passes_the_clients_address_on(
    settings: Settings, db_connection: AsyncConnection, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.ip_range(db_session, two_members.a, "172.20.0.0/16")
    async with AsyncTestClient(app=_app(settings, db_connection, ("10.9.0.0/24",))) as client:
        # The office PC behind the load balancer is inside the member's range.
        assert await _login(client, peer=PROXY, forwarded=OFFICE) == 303
    async with AsyncTestClient(app=_app(settings, db_connection, ("10.9.0.0/24",))) as client:
        # The load balancer itself is not: without the header the request is refused.
        assert await _login(client, peer=PROXY, forwarded=None) == 403
        # A client outside the range is refused even through the trusted proxy.
        assert await _login(client, peer=PROXY, forwarded="203.0.113.50") == 403


async def test_the_header_from_anyone_else_is_ignored(
    settings: Settings, db_connection: AsyncConnection, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.ip_range(db_session, two_members.a, "172.20.0.0/16")
    # Nothing trusted (the default): an outsider claiming to be the office gets nowhere.
    async with AsyncTestClient(app=_app(settings, db_connection, ())) as client:
        assert await _login(client, peer="203.0.113.50", forwarded=OFFICE) == 403
    # A proxy is trusted, but this peer is not it.
    async with AsyncTestClient(app=_app(settings, db_connection, ("10.9.0.0/24",))) as client:
        assert await _login(client, peer="203.0.113.50", forwarded=OFFICE) == 403
        # Prepending a forged address in front of the proxy's entry does not help either.
        assert await _login(client, peer=PROXY, forwarded=f"{OFFICE}, 203.0.113.50") == 403
