"""Verification through the public page, the API and `kyodo verify` (SIG-3, SIG-6)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import Settings, SigningSettings
from kyodo.app import create_app
from signing.sealing import Sealer, TextBoxFill
from testpki import TestPKI
from tests.conftest import _session_maker, csrf_token
from tests.helpers import text_at
from tests.signing.pdfgen import make_pdf

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sealed_pdf(signing_settings: SigningSettings) -> bytes:
    async with Sealer(signing_settings) as sealer:
        return await sealer.seal(
            make_pdf(1),
            [TextBoxFill(page=0, x=72, y=600, width=300, height=24, text="株式会社岩手建設 代表取締役 岩手太郎")],
            reason="盛岡市 市長 契約番号 R8-001",
            location="盛岡市",
        )


@pytest.fixture
async def verify_client(
    settings: Settings, db_connection: AsyncConnection, signing_settings: SigningSettings
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings, session_maker=_session_maker(db_connection), signing=signing_settings)
    async with AsyncTestClient(app=app) as client:
        yield client


def _tampered(pdf: bytes) -> bytes:
    index = pdf.index(b"Contract")  # a byte inside the signed range
    return pdf[:index] + b"X" + pdf[index + 1 :]


async def test_public_page_confirms_an_intact_seal(verify_client: AsyncTestClient, sealed_pdf: bytes) -> None:
    page = await verify_client.post(
        "/verify/",
        data={"_csrf_token": await csrf_token(verify_client)},
        files={"file": ("keiyaku.pdf", sealed_pdf, "application/pdf")},
    )
    assert page.status_code == 200
    assert "署名は有効で、封緘後に文書は変更されていません" in page.text
    assert "Kyodo Test Provider Seal" in page.text
    # The table is read by people: names, Japan time, what is covered in words.
    table = text_at(page.text, "table")
    for raw in ("entire_revision", "Common Name", "+00:00", "OK"):
        assert raw not in table, raw
    assert "封緘時点の文書全体" in table
    assert "長期にわたり検証できます" in table
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}|令和\d+年", table), table


async def test_public_page_reports_a_changed_byte(verify_client: AsyncTestClient, sealed_pdf: bytes) -> None:
    page = await verify_client.post(
        "/verify/",
        data={"_csrf_token": await csrf_token(verify_client)},
        files={"file": ("keiyaku.pdf", _tampered(sealed_pdf), "application/pdf")},
    )
    assert "署名を確認できませんでした" in page.text
    # Why, in Japanese: the reasons under the result and in the table, not the report's English.
    reasons = text_at(page.text, "[role=alert] + ul")
    assert "封緘された内容が変更されています" in reasons, reasons
    assert "the signed bytes were changed" not in page.text
    assert "封緘された内容が変更されています" in text_at(page.text, "table")


async def test_public_page_refuses_a_file_that_is_not_a_pdf(verify_client: AsyncTestClient) -> None:
    page = await verify_client.post(
        "/verify/",
        data={"_csrf_token": await csrf_token(verify_client)},
        files={"file": ("memo.txt", b"hello", "text/plain")},
    )
    assert page.status_code == 400
    assert "PDFファイルではありません" in page.text


async def test_api_reports_each_signature_and_timestamp(verify_client: AsyncTestClient, sealed_pdf: bytes) -> None:
    response = await verify_client.post("/api/v1/verify", files={"file": ("k.pdf", sealed_pdf, "application/pdf")})
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    kinds = [s["kind"] for s in body["signatures"]]
    assert kinds == ["signature", "document_timestamp"]
    seal = body["signatures"][0]
    assert seal["coverage"] == "entire_revision" or seal["coverage"].startswith("entire")
    assert seal["certification"]
    assert seal["timestamp_time"]
    tampered = await verify_client.post(
        "/api/v1/verify", files={"file": ("k.pdf", _tampered(sealed_pdf), "application/pdf")}
    )
    assert tampered.json()["ok"] is False


def test_cli_verify_exit_codes(sealed_pdf: bytes, signing_settings: SigningSettings, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(sealed_pdf)
    bad.write_bytes(_tampered(sealed_pdf))
    env = dict(os.environ, KYODO_SIGNING_TRUST_ROOTS=":".join(str(p) for p in signing_settings.trust_root_paths))

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kyodo", "verify", str(path)],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )

    ok = run(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout
    assert "Kyodo Test Provider Seal" in ok.stdout
    ng = run(bad)
    assert ng.returncode == 1
    assert "NOT valid" in ng.stdout


def test_cli_verify_finds_the_demo_test_root_and_says_so(sealed_pdf: bytes, pki: TestPKI, tmp_path: Path) -> None:
    sealed = tmp_path / "sealed.pdf"
    sealed.write_bytes(sealed_pdf)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYODO_SIGNING_")}

    def run(data_dir: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kyodo", "verify", str(sealed)],
            env={**env, "KYODO_DATA_DIR": str(data_dir)},
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )

    # Nothing configured and no demo here: it says what to do instead of guessing.
    lost = run(tmp_path / "empty")
    assert lost.returncode != 0
    assert "--trust-root" in lost.stderr
    # Next to a demo (its data folder holds the test PKI), it works out of the box and names the root.
    demo = tmp_path / "demo"
    (demo / "pki" / "certs").mkdir(parents=True)
    shutil.copy(pki.root_pem_path, demo / "pki" / "certs" / "root.pem")
    found = run(demo)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "demo's offline test root" in found.stdout
    assert str(demo / "pki" / "certs" / "root.pem") in found.stdout
    assert found.stdout.rstrip().endswith("valid")
