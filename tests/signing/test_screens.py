"""Staff screens: create with files, parties from the address book, signers, boxes, send; search and CSV."""

from __future__ import annotations

import csv as csv_module
import io
import re

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import ViewScope
from signing.models import Contract, ContractStatus, Party, TextBox
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Office


async def test_drafter_prepares_and_sends_on_the_screens(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    entry = await f.address_book_entry(
        db_session, office.members.a, "岩手建設株式会社", "岩手 一郎", "ichiro@iwate.co.jp"
    )
    await sign_in(client, "morioka-drafter")
    form = await client.get("/contracts/new")
    assert form.status_code == 200
    soup = BeautifulSoup(form.text, "html.parser")
    for field in soup.select("input:not([type=hidden]), select"):
        assert soup.find("label", attrs={"for": field["id"]}), field
    token = await csrf_token(client)
    created = await client.post(
        "/contracts/",
        data={
            "_csrf_token": token,
            "subject": "公園清掃業務委託",
            "title_id": str(office.title_a.id),
            "amount": "1,200,000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("委託契約書.pdf", f.pdf(2), "application/pdf"))],
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    detail_url = created.headers["location"]
    contract_id = detail_url.rsplit("/", 1)[1]
    page = await client.get(detail_url)
    assert "公園清掃業務委託" in page.text
    assert "電話または書面" in page.text
    assert "岩手建設株式会社" in page.text  # offered from the address book
    added = await client.post(
        f"{detail_url}/parties",
        data={
            "_csrf_token": token,
            "kind": "contractor",
            "order_no": "1",
            "address_book_entry_id": str(entry.id),
            "password": "tel-pass-1",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    signer = office.signers_a[0]
    added = await client.post(
        f"{detail_url}/parties",
        data={"_csrf_token": token, "kind": "staff", "order_no": "2", "signer": f"{signer.id}:{office.title_a.id}"},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    await system_access(db_session)
    contract = await db_session.get(Contract, contract_id)
    assert contract is not None
    assert contract.amount == 1_200_000
    parties = (await db_session.scalars(select(Party).where(Party.contract_id == contract.id))).all()
    assert {p.email for p in parties} == {"ichiro@iwate.co.jp", signer.email}
    page = await client.get(detail_url)
    assert page.text.count("順番待ち") == 2  # party statuses in Japanese
    document_id = re.search(r'name="document_id"><option value="([0-9a-f\-]+)"', page.text)
    assert document_id, page.text
    contractor = next(p for p in parties if p.email == "ichiro@iwate.co.jp")
    placed = await client.post(
        f"{detail_url}/text-boxes",
        data={
            "_csrf_token": token,
            "document_id": document_id.group(1),
            "party_id": str(contractor.id),
            "page": "2",
            "x": "72",
            "y": "100",
            "width": "200",
            "height": "24",
            "label": "住所",
            "required": "on",
        },
        follow_redirects=False,
    )
    assert placed.status_code == 303, placed.text
    box = await db_session.scalar(select(TextBox).where(TextBox.contract_id == contract.id))
    assert box is not None
    assert (box.page, box.x, box.y, box.width, box.height) == (1, 72, 100, 200, 24)
    outside = await client.post(
        f"{detail_url}/text-boxes",
        data={
            "_csrf_token": token,
            "document_id": document_id.group(1),
            "party_id": str(contractor.id),
            "page": "1",
            "x": "500",
            "y": "800",
            "width": "300",
            "height": "100",
            "label": "はみ出し",
        },
    )
    assert outside.status_code == 400
    assert "ページの中に置き" in outside.text
    sent = await client.post(
        f"{detail_url}/send", data={"_csrf_token": token, "confirmed": "yes"}, follow_redirects=False
    )
    assert sent.status_code == 303
    await db_session.refresh(contract)
    assert contract.status is ContractStatus.CIRCULATING
    # After sending, the draft cannot change.
    late = await client.post(
        f"{detail_url}/documents", data={"_csrf_token": token}, files=[("files", ("x.pdf", f.pdf(), "application/pdf"))]
    )
    assert late.status_code == 409
    assert "送信済み" in late.text


async def test_search_combines_keys_and_exports_csv(client: AsyncTestClient, office: Office) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    rows = [
        ("道路補修", "2026-04-10", "5000000", "岩手建設"),
        ("道路補修", "2025-04-10", "5000000", "岩手建設"),
        ("学校給食", "2026-05-01", "300000", "盛岡食品"),
    ]
    for subject, day, amount, company in rows:
        created = await client.post(
            "/api/v1/contracts/",
            headers=api,
            data={
                "subject": subject,
                "title_id": str(office.title_a.id),
                "transaction_date": day,
                "amount": amount,
                "counterparty": company,
            },
            files=[("files", (f"{subject}_契約書.pdf", f.pdf(), "application/pdf"))],
        )
        assert created.status_code == 201
    found = await client.get(
        "/api/v1/contracts/",
        headers=api,
        params={"word": "道路", "date_from": "2026-01-01", "amount_min": "1000000", "counterparty": "岩手"},
    )
    assert [c["transaction_date"] for c in found.json()["items"]] == ["2026-04-10"]
    by_file = await client.get("/api/v1/contracts/", headers=api, params={"word": "給食_契約書"})
    assert [c["subject"] for c in by_file.json()["items"]] == ["学校給食"]
    bad = await client.get("/api/v1/contracts/", headers=api, params={"date_from": "令和8年"})
    assert bad.status_code == 400
    assert "YYYY-MM-DD" in bad.json()["detail"]
    paged = await client.get("/api/v1/contracts/", headers=api, params={"per_page": 2})
    assert paged.json()["has_next"] is True
    await sign_in(client, "morioka-admin")
    csv = await client.get("/contracts/export.csv", params={"counterparty": "岩手"})
    assert csv.content.startswith(b"\xef\xbb\xbf")
    text = csv.content.decode("utf-8-sig")
    assert len([line for line in text.splitlines() if "道路補修" in line]) == 2
    assert "学校給食" not in text
    row = next(r for r in csv_module.DictReader(io.StringIO(text)) if "道路補修" in r["件名"])
    assert row["作成日時"].endswith("+09:00"), "times in Japan time, as people read them"


async def test_openapi_documents_the_contracts_api(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path in ("/api/v1/contracts", "/api/v1/contracts/{contract_id}/send", "/api/v1/contracts/{contract_id}/cancel"):
        assert path in paths, sorted(paths)
    assert not any(p.startswith("/c/") or p.startswith("/contracts") for p in paths)


async def test_a_drafter_limited_to_their_department_creates_contracts_of_that_department_only(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    own = await f.department(db_session, office.members.a, "DORO", "道路管理課")
    other = await f.department(db_session, office.members.a, "KOEN", "公園緑地課")
    await f.staff(
        db_session,
        office.members.a,
        "doro-drafter",
        roles=("drafter",),
        department=own,
        view_scope=ViewScope.DEPARTMENT,
    )
    await sign_in(client, "doro-drafter")
    token = await csrf_token(client)

    def draft(department_id: object) -> dict[str, str]:
        return {
            "_csrf_token": token,
            "subject": "街路樹剪定業務委託",
            "title_id": str(office.title_a.id),
            "department_id": str(department_id),
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        }

    files = [("files", ("委託契約書.pdf", f.pdf(1), "application/pdf"))]
    refused = await client.post("/contracts/", data=draft(other.id), files=files, follow_redirects=False)
    assert refused.status_code == 403, refused.text
    assert "自分の所属の契約書だけ" in refused.text
    created = await client.post("/contracts/", data=draft(own.id), files=files, follow_redirects=False)
    assert created.status_code == 303, created.text
    assert (await client.get(created.headers["location"])).status_code == 200, "and they can open what they made"
