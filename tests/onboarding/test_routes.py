"""Every onboarding route refuses anonymous callers and members' staff where only the secretariat may go."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TwoMembers, csrf_token, sign_in

PREFIXES = ("/admin/import", "/admin/export", "/api/v1/staff-imports", "/secretariat/")


def _routes(app: Litestar) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not route.path.startswith(PREFIXES):
            continue
        path = re.sub(r"\{(\w+):uuid\}", str(uuid.uuid4()), route.path)
        path = re.sub(r"\{(\w+):str\}", "staff_briefing", path)
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


async def test_every_route_needs_a_caller(client: AsyncTestClient, app: Litestar) -> None:
    routes = _routes(app)
    assert len(routes) >= 20
    token = await csrf_token(client)
    for method, path in routes:
        response = await client.request(method, path, data={"_csrf_token": token}, follow_redirects=False)
        expected = 401 if path.startswith("/api/") else 303
        assert response.status_code == expected, (method, path, response.status_code)


async def test_secretariat_routes_refuse_member_staff(
    client: AsyncTestClient, app: Litestar, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    token = await csrf_token(client)
    for method, path in _routes(app):
        if path.startswith("/secretariat/"):
            response = await client.request(method, path, data={"_csrf_token": token}, follow_redirects=False)
            assert response.status_code == 403, (method, path)


async def test_member_routes_refuse_the_secretariat(
    client: AsyncTestClient, app: Litestar, two_members: TwoMembers
) -> None:
    await sign_in(client, "jimukyoku")
    token = await csrf_token(client)
    for method, path in _routes(app):
        if path.startswith(("/admin/", "/api/")):
            response = await client.request(
                method, path, data={"_csrf_token": token}, headers={"x-csrftoken": token}, follow_redirects=False
            )
            assert response.status_code == 403, (method, path)
