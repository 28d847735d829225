"""Every response carries the headers of IPA「安全なウェブサイトの作り方」 (SEC-1): no framing, sniffing or leaks."""

from __future__ import annotations

import dataclasses

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import Settings
from kyodo.app import create_app
from tests.conftest import _session_maker, csrf_token, sign_in
from tests.factories import PASSWORD


def _strict(headers: object) -> None:
    get = headers.get  # type: ignore[attr-defined]
    policy = get("content-security-policy")
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert get("x-frame-options") == "DENY"
    assert get("x-content-type-options") == "nosniff"
    assert get("referrer-policy") == "no-referrer"


@pytest.mark.parametrize("path", ["/", "/login", "/verify/", "/c/not-a-real-link", "/health/live"])
async def test_public_pages_cannot_be_framed_or_cached(client: AsyncTestClient[Litestar], path: str) -> None:
    response = await client.get(path)
    _strict(response.headers)
    assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in response.headers  # plain HTTP in tests: HSTS would be wrong


async def test_signed_in_pages_and_the_api_are_never_stored(
    client: AsyncTestClient[Litestar], two_members: object
) -> None:
    await sign_in(client, "morioka-admin", PASSWORD)
    for path in ("/app", "/contracts/", "/api/v1/contracts/"):
        response = await client.get(path)
        _strict(response.headers)
        assert response.headers["cache-control"] == "no-store", path


async def test_static_files_may_be_cached_and_downloads_keep_their_own_headers(
    client: AsyncTestClient[Litestar],
) -> None:
    page = await client.get("/login")
    script = next(part.split('"')[0] for part in page.text.split('src="')[1:] if part.startswith("/static/"))
    static = await client.get(script)
    assert static.status_code == 200
    assert static.headers.get("cache-control") != "no-store"
    _strict(static.headers)


async def test_behind_tls_every_cookie_is_secure_and_hsts_is_sent(
    settings: Settings, db_connection: AsyncConnection
) -> None:
    tls = dataclasses.replace(settings, security=dataclasses.replace(settings.security, secure_cookies=True))
    app = create_app(tls, session_maker=_session_maker(db_connection))
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        page = await client.get("/login")
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        switched = await client.post(
            "/language",
            data={"lang": "en", "next": "/login", "_csrf_token": await csrf_token(client)},
            follow_redirects=False,
        )
        cookies = switched.headers.get_list("set-cookie")
        assert cookies
        assert all("Secure" in cookie for cookie in cookies), cookies
