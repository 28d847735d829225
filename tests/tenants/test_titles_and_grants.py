"""Contract titles (契約名義, CON-2) and who may sign under them (契約締結権限, CON-3)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.models import ContractTitle, TitleGrant
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form, text_at
from tests.scope import system_access


async def test_any_number_of_titles_in_order(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    await form(client, "/admin/titles", code="mayor", name="市長", formal_name="盛岡市長 内舘 茂", sort_order="1")
    for i, (name, formal) in enumerate(
        [
            ("教育長", "盛岡市教育委員会教育長"),
            ("上下水道事業管理者", "盛岡市上下水道事業管理者"),
            ("病院事業管理者", "盛岡市病院事業管理者"),
        ]
    ):
        created = await api(
            client,
            "POST",
            "/api/v1/titles",
            {"code": f"t{i}", "name": name, "formal_name": formal, "sort_order": 2 + i},
        )
        assert created.status_code == 201
    listed = (await api(client, "GET", "/api/v1/titles")).json()
    assert [t["name"] for t in listed] == ["市長", "教育長", "上下水道事業管理者", "病院事業管理者"]
    page = await client.get("/admin/titles")
    assert "盛岡市長 内舘 茂" in page.text
    assert text_at(page.text, "label[for='n-name']") == "名称", "a title's name, not a person's (氏名)"
    duplicate = await form(client, "/admin/titles", code="mayor", name="x", formal_name="x")
    assert duplicate.status_code == 409
    assert "コード mayor は別の契約名義で使われています" in duplicate.text


async def test_edit_and_retire_a_title(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    title = await f.title(db_session, two_members.a, "mayor", "市長", "盛岡市長")
    await sign_in(client, "morioka-admin")
    await form(client, f"/admin/titles/{title.id}", name="市長", formal_name="盛岡市長 谷藤 裕明", sort_order="3")
    await db_session.refresh(title)
    assert (title.formal_name, title.sort_order, title.active) == ("盛岡市長 谷藤 裕明", 3, False)
    again = await api(client, "PATCH", f"/api/v1/titles/{title.id}", {"active": True})
    assert again.json()["active"] is True


async def test_grant_and_withdraw_signing_authority(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    mayor = await f.title(db_session, two_members.a, "mayor", "市長", "盛岡市長")
    water = await f.title(db_session, two_members.a, "water", "上下水道事業管理者", "盛岡市上下水道事業管理者")
    signer = await f.staff(db_session, two_members.a, "morioka-shocho", roles=("signer",))
    await sign_in(client, "morioka-admin")
    await form(client, f"/admin/staff/{signer.id}/titles", title_id=str(mayor.id))
    assert (await api(client, "PUT", f"/api/v1/titles/{water.id}/staff/{signer.id}")).status_code == 204
    page = await client.get(f"/admin/staff/{signer.id}")
    assert "盛岡市長" in page.text
    assert "盛岡市上下水道事業管理者" in page.text
    listed = {t["code"]: t["staff_ids"] for t in (await api(client, "GET", "/api/v1/titles")).json()}
    assert listed == {"mayor": [str(signer.id)], "water": [str(signer.id)]}
    await form(client, f"/admin/staff/{signer.id}/titles", title_id=str(mayor.id), action="revoke")
    assert (await api(client, "DELETE", f"/api/v1/titles/{water.id}/staff/{signer.id}")).status_code == 204
    await system_access(db_session)
    assert (await db_session.scalars(select(TitleGrant).where(TitleGrant.staff_id == signer.id))).all() == []


async def test_another_members_titles_and_grants_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    theirs = await f.title(db_session, two_members.b, "mayor", "市長", "八幡平市長")
    their_signer = await f.staff(db_session, two_members.b, "hachimantai-shocho", roles=("signer",))
    await f.grant(db_session, their_signer, theirs)
    mine = await f.title(db_session, two_members.a, "mayor", "市長", "盛岡市長")
    await sign_in(client, "morioka-admin")
    assert "八幡平市長" not in (await client.get("/admin/titles")).text
    assert "八幡平市長" not in (await api(client, "GET", "/api/v1/titles")).text
    assert (await form(client, f"/admin/titles/{theirs.id}", name="x", formal_name="x")).status_code == 404
    assert (await api(client, "PATCH", f"/api/v1/titles/{theirs.id}", {"name": "x"})).status_code == 404
    # Neither their title to my staff, nor my title to their staff, nor taking their grant away.
    assert (await api(client, "PUT", f"/api/v1/titles/{theirs.id}/staff/{two_members.admin_a.id}")).status_code == 404
    assert (await api(client, "PUT", f"/api/v1/titles/{mine.id}/staff/{their_signer.id}")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/titles/{theirs.id}/staff/{their_signer.id}")).status_code == 404
    assert (await form(client, f"/admin/staff/{their_signer.id}/titles", title_id=str(mine.id))).status_code == 404
    await system_access(db_session)
    await db_session.refresh(theirs)
    assert theirs.formal_name == "八幡平市長"
    grants = (await db_session.scalars(select(TitleGrant).where(TitleGrant.member_id == two_members.b.id))).all()
    assert [(g.staff_id, g.title_id) for g in grants] == [(their_signer.id, theirs.id)]
    assert (await db_session.scalars(select(ContractTitle).where(ContractTitle.member_id == two_members.a.id))).all()
