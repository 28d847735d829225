"""Accessible markup of the administration screens: one heading, labelled fields, captioned tables."""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api


def _check(html: str, path: str) -> None:
    page = BeautifulSoup(html, "html.parser")
    assert len(page.find_all("h1")) == 1, path
    for field in page.find_all(["input", "select", "textarea"]):
        if field.get("type") in ("hidden", "submit"):
            continue
        labelled = (field.get("id") and page.find("label", attrs={"for": field["id"]})) or field.find_parent("label")
        assert labelled, f"{path}: unlabelled {field}"
    for table in page.find_all("table"):
        assert table.find("caption") is not None, f"{path}: table without caption"
        assert table.find("th", attrs={"scope": "col"}) is not None, path


async def test_member_administration_screens(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    department = await f.department(db_session, two_members.a, "100", "総務課")
    person = await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",), department=department)
    await f.title(db_session, two_members.a, "mayor", "市長", "盛岡市長")
    await f.ip_range(db_session, two_members.a, "127.0.0.0/8")
    await sign_in(client, "morioka-admin")
    await api(client, "POST", "/api/v1/api-keys", {"label": "連携"})
    await api(
        client,
        "POST",
        "/api/v1/address-book",
        {"company_name": "株式会社A", "contact_name": "A", "email": "a@a.example.jp"},
    )
    for path in (
        "/admin/departments",
        "/admin/staff",
        f"/admin/staff/{person.id}",
        "/admin/titles",
        "/admin/ip-ranges",
        "/admin/contact",
        "/admin/api-keys",
        "/admin/roles",
        "/address-book",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        _check(response.text, path)
    await sign_in(client, "jimukyoku")
    for path in ("/secretariat/members", "/secretariat/companies"):
        response = await client.get(path)
        assert response.status_code == 200, path
        _check(response.text, path)
