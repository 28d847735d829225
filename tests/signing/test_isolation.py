"""Member isolation of every contract route: B's staff and API keys never see or touch A's contracts.

Row-level security is the second line: even the unscoped session sees nothing of
another member. Department scope (SAP-6(9)): staff limited to their department
see only its contracts unless they hold contract:view_all.
"""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import for_member
from kyodo.routes import route_handlers
from signing.controllers import (
    BulkSendingApiController,
    BulkSendingController,
    ContractApiController,
    ContractorController,
    ContractPagesController,
    ContractRecordsApiController,
    ContractRecordsController,
    FinanceCsvController,
    PortalController,
)
from signing.models import Contract
from tenants.models import ViewScope
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.signing.conftest import Office


async def _contract_of_a(client: AsyncTestClient, office: Office, **fields: str) -> tuple[str, str]:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={
            "subject": "盛岡市の秘密の契約",
            "title_id": str(office.title_a.id),
            "counterparty": "盛岡商事",
            "amount": "1000",
            **fields,
            "transaction_date": "2026-04-01",
        },
        files=[("files", ("盛岡契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["documents"][0]["id"]


async def test_api_of_member_b_cannot_reach_member_a(client: AsyncTestClient, office: Office) -> None:
    contract_id, document_id = await _contract_of_a(client, office)
    b = {"Authorization": f"Bearer {office.key_b}"}
    listed = await client.get("/api/v1/contracts/", headers=b)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    searched = await client.get("/api/v1/contracts/", headers=b, params={"word": "盛岡", "counterparty": "盛岡"})
    assert searched.json()["items"] == []
    base = f"/api/v1/contracts/{contract_id}"
    for response in (
        await client.get(base, headers=b),
        await client.get(f"{base}/status", headers=b),
        await client.get(f"{base}/documents/{document_id}", headers=b),
        await client.post(f"{base}/send", headers=b),
        await client.post(f"{base}/cancel", headers=b),
        await client.post(
            f"{base}/parties",
            headers=b,
            json={"order_no": 1, "kind": "contractor", "name": "x", "email": "x@example.jp", "password": "secret-pw"},
        ),
        await client.post(
            f"{base}/text-boxes",
            headers=b,
            json={
                "document_id": document_id,
                "party_id": document_id,
                "page": 0,
                "x": 1,
                "y": 1,
                "width": 50,
                "height": 20,
                "label": "x",
            },
        ),
        await client.post(f"{base}/documents", headers=b, files=[("files", ("x.pdf", f.pdf(), "application/pdf"))]),
    ):
        assert response.status_code == 404, response.text
        assert "見つかりません" in response.json()["detail"]
    # Still a draft with one document: nothing was changed by B.
    mine = await client.get(base, headers={"Authorization": f"Bearer {office.key_a}"})
    assert mine.json()["status"] == "draft"
    assert len(mine.json()["documents"]) == 1
    assert mine.json()["parties"] == []


async def test_member_b_cannot_create_under_member_a_title(client: AsyncTestClient, office: Office) -> None:
    response = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_b}"},
        data={
            "subject": "なりすまし",
            "title_id": str(office.title_a.id),
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("x.pdf", f.pdf(), "application/pdf"))],
    )
    assert response.status_code == 400
    assert "契約名義" in response.json()["detail"]


async def test_staff_of_member_b_cannot_reach_member_a(client: AsyncTestClient, office: Office) -> None:
    contract_id, document_id = await _contract_of_a(client, office)
    await sign_in(client, "hachimantai-admin")
    listing = await client.get("/contracts/", params={"word": "盛岡"})
    assert listing.status_code == 200
    assert "盛岡市の秘密の契約" not in listing.text
    csv = await client.get("/contracts/export.csv")
    assert csv.content.startswith("\ufeff".encode())
    assert "盛岡" not in csv.content.decode("utf-8-sig")
    token = await csrf_token(client)
    base = f"/contracts/{contract_id}"
    for response in (
        await client.get(base),
        await client.get(f"{base}/documents/{document_id}"),
        await client.get(f"{base}/documents/{document_id}/pages/0"),
        await client.post(f"{base}/send", data={"_csrf_token": token}),
        await client.post(f"{base}/cancel", data={"_csrf_token": token}),
        await client.post(f"{base}/sign", data={"_csrf_token": token}),
        await client.post(f"{base}/check", data={"_csrf_token": token}),
        await client.post(
            f"{base}/parties",
            data={"_csrf_token": token, "kind": "contractor", "order_no": "1", "name": "x", "email": "x@example.jp"},
        ),
        await client.post(
            f"{base}/text-boxes",
            data={"_csrf_token": token, "document_id": document_id, "party_id": document_id, "page": "1"},
        ),
        await client.post(
            f"{base}/documents",
            data={"_csrf_token": token},
            files=[("files", ("x.pdf", f.pdf(), "application/pdf"))],
        ),
    ):
        assert response.status_code == 404, response.text
        assert "見つかりません" in response.text


async def test_staff_of_member_a_see_and_preview_their_own(client: AsyncTestClient, office: Office) -> None:
    contract_id, document_id = await _contract_of_a(client, office)
    await sign_in(client, "morioka-admin")
    listing = await client.get("/contracts/", params={"word": "契約書", "counterparty": "盛岡"})
    assert "盛岡市の秘密の契約" in listing.text
    page = await client.get(f"/contracts/{contract_id}")
    assert page.status_code == 200
    preview = await client.get(f"/contracts/{contract_id}/documents/{document_id}/pages/0")
    assert preview.status_code == 200
    assert preview.content.startswith(b"\x89PNG")
    download = await client.get(f"/contracts/{contract_id}/documents/{document_id}")
    assert download.content.startswith(b"%PDF")


async def test_department_scope_limits_what_staff_see(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    a = office.members.a
    roads = await f.department(db_session, a, "roads", "道路課")
    schools = await f.department(db_session, a, "schools", "学校教育課")
    await f.staff(db_session, a, "roads-viewer", roles=("viewer",), department=roads, view_scope=ViewScope.DEPARTMENT)
    await f.staff(db_session, a, "auditor", roles=("auditor",), department=roads, view_scope=ViewScope.DEPARTMENT)
    roads_id, _ = await _contract_of_a(client, office, subject="道路の契約", department_id=str(roads.id))
    schools_id, _ = await _contract_of_a(client, office, subject="学校の契約", department_id=str(schools.id))
    await sign_in(client, "roads-viewer")
    listing = await client.get("/contracts/")
    assert "道路の契約" in listing.text
    assert "学校の契約" not in listing.text
    assert (await client.get(f"/contracts/{schools_id}")).status_code == 404
    assert (await client.get(f"/contracts/{roads_id}")).status_code == 200
    await sign_in(client, "auditor")  # contract:view_all
    assert "学校の契約" in (await client.get("/contracts/")).text


async def test_row_level_security_hides_other_members_contracts(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await _contract_of_a(client, office)
    await for_member(db_session, office.members.b.id)
    assert (await db_session.scalars(select(Contract))).all() == []
    await for_member(db_session, office.members.a.id)
    assert len((await db_session.scalars(select(Contract))).all()) == 1


async def test_contractor_pages_need_a_valid_link(client: AsyncTestClient, office: Office) -> None:
    contract_id, document_id = await _contract_of_a(client, office)
    for path in (f"/c/{contract_id}", f"/c/guess/documents/{document_id}", f"/c/{document_id}/documents/{document_id}"):
        response = await client.get(path)
        assert response.status_code == 404


def test_every_contract_route_is_covered_here() -> None:
    """A new route of these controllers must be added to the tests above."""
    covered = {
        ContractApiController: {
            "",
            "/{contract_id:uuid}",
            "/{contract_id:uuid}/status",
            "/{contract_id:uuid}/send",
            "/{contract_id:uuid}/cancel",
            "/{contract_id:uuid}/parties",
            "/{contract_id:uuid}/text-boxes",
            "/{contract_id:uuid}/documents",
            "/{contract_id:uuid}/documents/{document_id:uuid}",
            "/{contract_id:uuid}/certificate",
            "/{contract_id:uuid}/parties/{party_id:uuid}/password",  # cross-member: test_contractor_errors
            "/{contract_id:uuid}/documents/{document_id:uuid}/replace",  # cross-member: test_seal_failures
            "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction",  # cross-member: test_seal_failures
            # cross-member: test_draft_editing.test_member_b_reaches_none_of_the_editing_routes
            "/{contract_id:uuid}/copy",
            "/{contract_id:uuid}/revise",
            "/{contract_id:uuid}/audit-trail",
            "/{contract_id:uuid}/parties/order",
            "/{contract_id:uuid}/parties/{party_id:uuid}",
            "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}",
            # cross-member: test_finance_csv.test_another_member_neither_sees_nor_touches_the_contracts
            "/export.csv",
            "/import",
        },
    }
    assert ContractApiController in route_handlers()
    assert ContractPagesController in route_handlers()
    assert ContractorController in route_handlers()
    paths = set()
    for handler in ContractApiController.__dict__.values():
        for path in getattr(handler, "paths", ()):
            paths.add(path.rstrip("/"))
    assert paths <= covered[ContractApiController], paths - covered[ContractApiController]


def test_every_record_and_portal_route_is_covered() -> None:
    """Routes of the record, bulk-sending and portal controllers, each with the test that walks it as another member."""
    covered = {
        ContractRecordsController: {
            "/{contract_id:uuid}/record",  # cross-member: test_metadata, test_reorganisation
            "/{contract_id:uuid}/corrections",  # cross-member: test_metadata
            "/{contract_id:uuid}/department",  # cross-member: test_reorganisation
        },
        ContractRecordsApiController: {
            "/{contract_id:uuid}/corrections",  # cross-member: test_metadata
            "/{contract_id:uuid}/department",  # cross-member: test_reorganisation
        },
        # cross-member and another clerk: test_bulk_sending.test_another_member_or_clerk_reaches_neither_…
        BulkSendingController: {
            "/{contract_id:uuid}/bulk",
            "/{contract_id:uuid}/bulk/preview",
            "/{contract_id:uuid}/bulk/send",
            "/bulk/{batch_id:uuid}",
            "/bulk/{batch_id:uuid}/progress",
        },
        # cross-member and another API key: test_bulk_api.test_another_member_or_key_reaches_neither_…
        BulkSendingApiController: {
            "/contracts/{contract_id:uuid}/bulk/preview",
            "/contracts/{contract_id:uuid}/bulk",
            "/bulk/{batch_id:uuid}",
        },
        # cross-member: test_finance_csv.test_another_member_neither_sees_nor_touches_the_contracts
        FinanceCsvController: {"/export.csv", "/import", "/import/preview"},
        # Not a member's: an address's own contracts only (test_portal, other addresses and forged cookies).
        PortalController: {
            "",
            "/sign-in/{token:str}",
            "/sign-out",
            "/contracts",
            "/contracts/{contract_id:uuid}/documents/{document_id:uuid}",
            "/contracts/{contract_id:uuid}/certificate",
        },
    }
    for controller, paths in covered.items():
        assert controller in route_handlers()
        found = {path.rstrip("/") for handler in controller.__dict__.values() for path in getattr(handler, "paths", ())}
        assert found <= paths, found - paths
