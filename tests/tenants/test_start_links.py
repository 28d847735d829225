"""The start page offers each person the screens their permissions open, and no others."""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.conftest import TwoMembers, sign_in


async def _links(client: AsyncTestClient) -> set[str]:
    page = BeautifulSoup((await client.get("/app")).text, "html.parser")
    return {str(a["href"]) for a in page.select("ul.entry-points a")}


async def test_links_follow_permissions(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    await f.staff(db_session, two_members.a, "morioka-etsuran", roles=("viewer",))
    await sign_in(client, "morioka-admin")
    admin = await _links(client)
    assert {
        "/admin/staff",
        "/admin/departments",
        "/admin/titles",
        "/admin/roles",
        "/admin/ip-ranges",
        "/admin/api-keys",
        "/address-book",
    } <= admin
    assert "/secretariat/members" not in admin
    for href in admin:
        assert (await client.get(href)).status_code == 200, href
    await sign_in(client, "morioka-keiyaku")
    assert await _links(client) == {"/address-book", "/contracts", "/contracts/drafts/new"}
    await sign_in(client, "morioka-etsuran")
    assert await _links(client) == {"/contracts"}
    await sign_in(client, "jimukyoku")
    secretariat = await _links(client)
    assert secretariat == {
        "/secretariat/members",
        "/secretariat/companies",
        "/secretariat/onboarding/",
        "/secretariat/billing/",
        "/secretariat/leaving/",
        "/secretariat/reports",
    }
    for href in secretariat:
        assert (await client.get(href)).status_code == 200, href
