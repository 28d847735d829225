"""Searches are staff operations and are logged (DAT-6): who searched for what, in the member's own audit trail.

The event keeps the search keys as typed and the page, never anything of the
contracts found; another member's auditors see nothing of it.
"""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from signing.models import AuditEvent, AuditKind
from tests import factories as f
from tests.conftest import sign_in
from tests.signing.conftest import Office


def _trail(html: str) -> list[list[str]]:
    table = BeautifulSoup(html, "html.parser").find("table", id="audit-events")
    assert table is not None
    return [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in table.select("tbody tr")]


async def _searches(session: AsyncSession) -> list[AuditEvent]:
    async with elevated(session):
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.kind == AuditKind.SEARCHED.value).order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_a_search_is_logged_with_its_terms_in_the_members_trail(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    a, b = office.members.a, office.members.b
    await f.staff(db_session, a, "morioka-kansa", roles=("auditor",))
    await f.staff(db_session, b, "hachimantai-kansa", roles=("auditor",))
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={"subject": "市道補修工事の秘密", "title_id": str(office.title_a.id), "counterparty": "盛岡舗装"},
        files=[("files", ("道路契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text

    await sign_in(client, "morioka-drafter")
    assert (await client.get("/contracts/")).status_code == 200  # the list without keys is no search
    assert await _searches(db_session) == []
    found = await client.get("/contracts/", params={"word": "道路", "counterparty": "盛岡"})
    assert "市道補修工事の秘密" in found.text
    partial = await client.get("/contracts/", params={"word": "補修"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    api = await client.get(
        "/api/v1/contracts/", params={"amount_min": "1000"}, headers={"Authorization": f"Bearer {office.key_a}"}
    )
    assert api.status_code == 200
    await sign_in(client, "hachimantai-admin")
    assert (await client.get("/contracts/", params={"word": "八幡平だけの語"})).status_code == 200

    searches = await _searches(db_session)
    assert [(e.member_id, e.contract_id, e.detail) for e in searches] == [
        (a.id, None, {"terms": {"word": "道路", "counterparty": "盛岡"}, "page": 1}),
        (a.id, None, {"terms": {"word": "補修"}, "page": 1}),
        (a.id, None, {"terms": {"amount_min": "1000"}, "page": 1}),
        (b.id, None, {"terms": {"word": "八幡平だけの語"}, "page": 1}),
    ]
    assert searches[0].actor.endswith("起案 太郎")
    assert searches[2].actor.startswith("apikey:")
    assert "市道補修工事の秘密" not in str([e.detail for e in searches])  # nothing of what was found

    # Member A's auditor sees A's searches with their keys, and nothing of B's.
    await sign_in(client, "morioka-kansa")
    page = await client.get("/contracts/audit")
    assert page.status_code == 200
    assert "ハッシュチェーンを検証しました" in page.text  # the searches are links of the member's chain
    logged = [row for row in _trail(page.text) if row[1] == "検索"]
    assert len(logged) == 3
    assert "ファイル名・件名の語句: 道路 / 取引先: 盛岡" in [row[-1] for row in logged]
    assert "金額（円）から: 1000" in [row[-1] for row in logged]
    assert "八幡平だけの語" not in page.text
    await sign_in(client, "hachimantai-kansa")
    other = await client.get("/contracts/audit")
    assert [row[-1] for row in _trail(other.text) if row[1] == "検索"] == ["ファイル名・件名の語句: 八幡平だけの語"]
    assert "道路" not in other.text
