"""Drafting through the API: contracts with PDFs, checks of every upload (WF-4), parties, boxes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from signing.blobs import BlobStore
from signing.models import AuditEvent, Contract, ContractDocument
from tests import factories as f
from tests.helpers import stored_blobs
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.pdfgen import make_pdf


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _create(client: AsyncTestClient, office: Office, files: list[tuple[str, bytes]]) -> Any:
    return await client.post(
        "/api/v1/contracts/",
        headers=_auth(office.key_a),
        data={
            "subject": "道路補修工事請負契約",
            "title_id": str(office.title_a.id),
            "contract_number": "R8-001",
            "amount": "12500000",
            "transaction_date": "2026-11-20",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", (name, data, "application/pdf")) for name, data in files],
    )


async def _state(session: AsyncSession, settings: Settings) -> tuple[int, int, int, list]:
    await system_access(session)
    counts = [
        await session.scalar(select(func.count()).select_from(model))
        for model in (Contract, ContractDocument, AuditEvent)
    ]
    return (*counts, stored_blobs(settings))  # type: ignore[return-value]


async def test_api_creates_a_contract_with_pdfs(client: AsyncTestClient, office: Office, settings: Settings) -> None:
    response = await _create(client, office, [("契約書.pdf", f.pdf(2)), ("仕様書.pdf", f.pdf(1))])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert [d["file_name"] for d in body["documents"]] == ["契約書.pdf", "仕様書.pdf"]
    assert body["documents"][0]["pages"] == 2
    assert len(body["documents"][0]["sha256"]) == 64
    # Stored encrypted: the blob on disk is not the PDF.
    path = BlobStore(settings).path(office.members.a.id, body["documents"][0]["sha256"])
    assert path.exists()
    assert b"%PDF" not in path.read_bytes()[:64]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("memo.pdf", b"hello, this is text", "PDFファイルではありません"),
        ("locked.pdf", f.pdf(password="secret"), "暗号化"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R", "読み取れません"),
        ("script.pdf", f.pdf(javascript=True), "スクリプト"),
        ("attached.pdf", f.pdf(attachment=True), "スクリプト"),
    ],
)
async def test_bad_uploads_are_refused_and_leave_nothing(
    *, client: AsyncTestClient, office: Office, settings: Settings, db_session: AsyncSession, name, data, message
) -> None:
    before = await _state(db_session, settings)
    response = await _create(client, office, [("good.pdf", f.pdf()), (name, data)])
    assert response.status_code in (400, 413), response.text
    assert message in response.json()["detail"]
    assert name in response.json()["detail"]
    assert await _state(db_session, settings) == before


async def test_oversize_file_is_refused(
    client: AsyncTestClient, office: Office, settings: Settings, db_session: AsyncSession
) -> None:
    before = await _state(db_session, settings)
    big = b"%PDF-1.4\n" + b"0" * (settings.contracts.max_file_mb * 1024 * 1024 + 1)
    response = await _create(client, office, [("huge.pdf", big)])
    assert response.status_code == 413, response.text
    assert "20 MB" in response.json()["detail"]
    assert await _state(db_session, settings) == before


async def test_a_file_of_twenty_megabytes_is_accepted(client: AsyncTestClient, office: Office) -> None:
    # A scan-like file: one page holding a 20 MB image, brought to the limit exactly with
    # line ends after its end marker (fewer than the 1 KB in which a reader looks for it).
    limit = 20 * 1024 * 1024
    short = limit - len(make_pdf(1, filler_bytes=limit - 20_000, title="C"))
    data = make_pdf(1, filler_bytes=limit - 20_000, title="C" * (short - 50))
    padded = data + b"\n" * (limit - len(data))
    assert len(padded) == limit
    assert limit - len(data) < 1_000
    response = await _create(client, office, [("big.pdf", padded)])
    assert response.status_code == 201, response.text


async def test_sixth_file_is_refused(
    client: AsyncTestClient, office: Office, settings: Settings, db_session: AsyncSession
) -> None:
    created = await _create(client, office, [(f"{i}.pdf", f.pdf()) for i in range(5)])
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    before = await _state(db_session, settings)
    response = await client.post(
        f"/api/v1/contracts/{contract_id}/documents",
        headers=_auth(office.key_a),
        files=[("files", ("sixth.pdf", f.pdf(3), "application/pdf"))],
    )
    assert response.status_code == 413
    assert "最大5ファイル" in response.json()["detail"]
    assert await _state(db_session, settings) == before


async def test_limits_are_never_below_the_requirement(monkeypatch) -> None:
    monkeypatch.setenv("KYODO_MAX_FILE_MB", "1")
    monkeypatch.setenv("KYODO_MAX_FILES", "2")
    monkeypatch.setenv("KYODO_MAX_CONTRACT_MB", "3")
    limits = Settings().contracts
    assert (limits.max_file_mb, limits.max_files, limits.max_contract_mb) == (20, 5, 50)
    monkeypatch.setenv("KYODO_MAX_FILES", "8")
    assert dataclasses.replace(Settings().contracts).max_files == 8
