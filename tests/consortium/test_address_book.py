"""The member's address book (SAP-6(22)) over contractor companies shared by the consortium (CON-6)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from tenants.models import AddressBookEntry, ContractorCompany, ContractorContact
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.helpers import api, form

ENTRY = {
    "company_name": "盛岡建設株式会社",
    "corporate_number": "8400001000001",
    "contact_name": "営業 一郎",
    "email": "eigyo@morioka-kensetsu.co.jp",
}


async def _count(session: AsyncSession, model) -> int:
    """Rows of ``model`` in the database, every member's (a second session on the test's connection)."""
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        return int(await fresh.scalar(select(func.count()).select_from(model)) or 0)


async def test_two_members_share_one_company_and_contact(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-keiyaku", roles=("drafter",))
    await f.staff(db_session, two_members.b, "hachimantai-keiyaku", roles=("drafter",))
    await sign_in(client, "morioka-keiyaku")
    assert (await form(client, "/address-book", **ENTRY, note="道路工事")).status_code == 303
    page = await client.get("/address-book")
    assert "盛岡建設株式会社" in page.text
    assert "道路工事" in page.text
    again = await api(client, "POST", "/api/v1/address-book", ENTRY)
    assert again.status_code == 409
    assert "既にアドレス帳にあります" in again.json()["detail"]

    await sign_in(client, "hachimantai-keiyaku")
    assert "盛岡建設" not in (await client.get("/address-book")).text  # books are per member
    same = await api(client, "POST", "/api/v1/address-book", ENTRY | {"company_name": "盛岡建設（株）"})
    assert same.status_code == 201, same.text
    assert same.json()["company_name"] == "盛岡建設株式会社"  # the shared record is reused
    # A new person at the same company (found by 法人番号).
    colleague = await api(
        client,
        "POST",
        "/api/v1/address-book",
        ENTRY | {"contact_name": "工務 二郎", "email": "komu@morioka-kensetsu.co.jp"},
    )
    assert colleague.json()["company_id"] == same.json()["company_id"]
    assert await _count(db_session, ContractorCompany) == 1
    assert await _count(db_session, ContractorContact) == 2
    assert await _count(db_session, AddressBookEntry) == 3


async def test_viewers_read_only_and_others_cannot_see(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-shocho", roles=("signer",))
    await f.staff(db_session, two_members.a, "morioka-etsuran", roles=("viewer",))
    await sign_in(client, "morioka-admin")
    await api(client, "POST", "/api/v1/address-book", ENTRY)
    await sign_in(client, "morioka-shocho")  # signer: addressbook:view only
    page = await client.get("/address-book")
    assert "盛岡建設株式会社" in page.text
    assert 'action="/address-book"' not in page.text
    assert (await api(client, "POST", "/api/v1/address-book", ENTRY | {"email": "b@example.co.jp"})).status_code == 403
    await sign_in(client, "morioka-etsuran")  # viewer: no address book at all
    assert (await client.get("/address-book")).status_code == 403


async def test_another_members_entries_are_out_of_reach(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "hachimantai-admin")
    theirs = (await api(client, "POST", "/api/v1/address-book", ENTRY)).json()
    await sign_in(client, "morioka-admin")
    assert (await api(client, "GET", "/api/v1/address-book")).json() == []
    assert (await form(client, f"/address-book/{theirs['id']}/delete")).status_code == 404
    assert (await api(client, "DELETE", f"/api/v1/address-book/{theirs['id']}")).status_code == 404
    await sign_in(client, "hachimantai-admin")
    assert [e["id"] for e in (await api(client, "GET", "/api/v1/address-book")).json()] == [theirs["id"]]
    assert (await api(client, "DELETE", f"/api/v1/address-book/{theirs['id']}")).status_code == 204
    assert (await api(client, "GET", "/api/v1/address-book")).json() == []
