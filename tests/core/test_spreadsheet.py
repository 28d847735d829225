"""Exports opened in Excel never run an outsider's text as a formula (CSV injection, SEC-1)."""

from __future__ import annotations

import csv
import io

import pytest
from litestar.testing import AsyncTestClient

from core import spreadsheet
from tests import factories as f
from tests.conftest import sign_in
from tests.signing.conftest import Office, office

__all__ = ["office"]  # the signing tests' fixture, used here too

ATTACK = "=cmd|' /C calc'!A0"
USER_AGENT = '=HYPERLINK("http://evil.example/","click")'


@pytest.mark.parametrize("text", ["=1+1", "+81-3-0000", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1"])
def test_text_that_would_run_is_made_plain(text: str) -> None:
    out = io.StringIO()
    spreadsheet.writer(out).writerow([text, 42, -7, "髙橋建設", ""])
    cells = next(csv.reader(io.StringIO(out.getvalue())))
    assert cells == ["'" + text, "42", "-7", "髙橋建設", ""]


async def test_the_contract_and_audit_exports_neutralise_an_attackers_text(
    client: AsyncTestClient, office: Office
) -> None:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}", "user-agent": USER_AGENT},
        data={"subject": ATTACK, "title_id": str(office.title_a.id), "counterparty": "@株式会社"},
        files=[("files", ("a.pdf", f.pdf(1), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    await sign_in(client, "morioka-admin")
    contracts = list(csv.reader(io.StringIO((await client.get("/contracts/export.csv")).content.decode("utf-8-sig"))))
    row = next(r for r in contracts[1:] if ATTACK in "".join(r))
    assert "'" + ATTACK in row
    assert "'@株式会社" in row
    assert not [cell for r in contracts[1:] for cell in r if cell.startswith(("=", "+", "@"))]
    trail = list(csv.reader(io.StringIO((await client.get("/contracts/audit.csv")).content.decode("utf-8-sig"))))
    cells = [cell for r in trail[1:] for cell in r]
    assert "'" + USER_AGENT in cells
    assert "'" + ATTACK in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]
