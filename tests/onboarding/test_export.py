"""A leaving member's export can be read without Kyodo, and its deletion report is sealed (DAT-1, DAT-3).

Contracts are concluded for real (sealed by the test PKI's provider seal and
TSA, then renewed once so that a second version exists); the export is made
through ``kyodo member export`` and through the administrator's screen, and
every PDF in it is validated as a viewer would (pyHanko, the trust root only).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import pyzipper  # type: ignore[import-untyped]
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.dates import JST
from core.settings import Settings, SigningSettings, to_psycopg_url
from onboarding import stages
from onboarding.models import DeletionReport, MemberExport
from signing.models import Contract
from signing.seal_service import SealerPool, SealOutcome, renew_due, seal_contract
from signing.verification import verify_async
from tenants.models import Member, MemberStatus, OperationKind, OperationLog
from testpki import settings_environment
from tests import factories as f
from tests.conftest import PROJECT_DIR, TwoMembers, csrf_token, sign_in
from tests.onboarding.conftest import worker_deletes
from tests.scope import system_access
from tests.signing.concluded import agreed_by_its_signer
from tests.signing.pdfgen import make_pdf

SUBJECT = "髙﨑地区庁舎清掃業務委託"
COUNTERPARTY = "株式会社𠮷野建設"
SIGNER = "髙橋 﨑子"
PASSPHRASE = "correct horse battery 髙"


async def conclude(
    session: AsyncSession,
    settings: Settings,
    pool: SealerPool,
    member: Member,
    *,
    login: str,
    number: str,
) -> uuid.UUID:
    """A contract of ``member`` through circulation and sealed by the provider seal; its id."""
    contract = await agreed_by_its_signer(
        session,
        settings,
        member,
        files=[("委託契約書.pdf", make_pdf(1)), ("仕様書.pdf", make_pdf(2))],
        subject=SUBJECT,
        contract_number=number,
        counterparty=COUNTERPARTY,
        amount=1_980_000,
        transaction_date=dt.date(2026, 11, 30),
        login=login,
        signer_name=SIGNER,
        title_code=f"mayor-{login}",
        formal_name=f"{member.name}長 {SIGNER}",
        value="盛岡市長",
    )
    assert await seal_contract(session, settings, pool, contract.id) is SealOutcome.SEALED
    return contract.id


_VALIDATED: set[str] = set()
"""SHA-256 of the sealed PDFs already validated in this run (the hash above ties the bytes to it)."""


def _rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


async def check_archive(
    z: zipfile.ZipFile, trust: SigningSettings, *, encoding: str = "utf-8-sig", versions: int = 1
) -> dict[str, Any]:
    """Every manifest hash matches, every sealed PDF validates; the manifest."""
    manifest: dict[str, Any] = json.loads(z.read("manifest.json"))
    names = set(z.namelist()) - {"manifest.json", "SHA256SUMS.txt"}
    assert names == set(manifest["files"])
    sums: dict[str, str] = {}
    for line in z.read("SHA256SUMS.txt").decode().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == names
    for name in names:
        data = z.read(name)
        assert hashlib.sha256(data).hexdigest() == manifest["files"][name]["sha256"] == sums[name], name
    readme = z.read("README.txt").decode("utf-8-sig")
    assert "pdfsig" in readme
    assert "Adobe Acrobat Reader" in readme
    files = _rows(z.read("files.csv"), encoding)
    heading, listed = files[0], files[1:]
    kinds = [r[heading.index("種類")] for r in listed]
    # Two uploads, each sealed in `versions` versions, and a certificate per version.
    assert kinds.count("原本") == 2
    assert kinds.count("締結済み（封緘版）") == 2 * versions
    assert kinds.count("締結証明書") == versions
    for row in listed:
        data = z.read(row[heading.index("アーカイブ内のパス")])
        assert data.startswith(b"%PDF")
        assert hashlib.sha256(data).hexdigest() == row[heading.index("SHA-256")]
        if row[heading.index("種類")] == "原本" or row[heading.index("SHA-256")] in _VALIDATED:
            continue
        report = await verify_async(data, trust_roots=trust.trust_root_paths)
        assert report.ok, (row, report.problems)
        assert report.certified
        _VALIDATED.add(row[heading.index("SHA-256")])  # the same bytes in another archive need no second run
    trail = _rows(z.read("audit_trail.csv"), encoding)
    head, events = trail[0], trail[1:]
    by_contract: dict[str, list[list[str]]] = {}
    for event in events:
        by_contract.setdefault(event[head.index("契約ID")], []).append(event)
    for chain in by_contract.values():  # each contract's trail is one unbroken hash chain
        for before, after in itertools.pairwise(chain):
            assert after[head.index("直前のハッシュ")] == before[head.index("ハッシュ")]
    assert any(e[head.index("種類")] == "sealed" for e in events)
    return manifest


def _kyodo(settings: Settings, trust: SigningSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        **settings_environment(trust),
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


async def test_the_command_exports_readable_pdfs_csv_in_both_encodings_and_an_encrypted_zip(  # noqa: PLR0915 - one story
    fresh_database: Settings, seal: SigningSettings, tmp_path: Path
) -> None:
    settings = fresh_database
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    pool = SealerPool(seal)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            b = await f.member(session, group, "032140", "八幡平市")
            await conclude(session, settings, pool, a, login="morioka-shocho", number="R8-0042")
            await conclude(session, settings, pool, b, login="hachimantai-shocho", number="H8-0007")
            await session.commit()
        async with maker() as session:  # every sealed file and certificate gets a second version
            await system_access(session)
            far = dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 30)
            assert await renew_due(session, settings, pool, now=far, margin=dt.timedelta(0)) == 6
            await session.commit()
    finally:
        await pool.aclose()

    # UTF-8 (the default): every character as typed.
    plain = tmp_path / "morioka.zip"
    done = _kyodo(settings, seal, "member", "export", "--member", "032018", "--out", str(plain))
    assert done.returncode == 0, done.stderr
    plain_hash = hashlib.sha256(plain.read_bytes()).hexdigest()
    assert plain_hash in done.stdout
    with zipfile.ZipFile(plain) as z:
        manifest = await check_archive(z, seal, versions=2)
        assert manifest["contracts"] == 1
        contracts = _rows(z.read("contracts.csv"), "utf-8-sig")
        assert z.read("contracts.csv").startswith(b"\xef\xbb\xbf")
        assert contracts[1][contracts[0].index("相手方")] == COUNTERPARTY
        assert contracts[1][contracts[0].index("件名")] == SUBJECT
        assert contracts[1][contracts[0].index("状態")] == "締結済み"
        parties = _rows(z.read("parties.csv"), "utf-8-sig")
        assert parties[1][parties[0].index("氏名")] == SIGNER
        assert "H8-0007" not in z.read("contracts.csv").decode("utf-8-sig")  # nothing of the other member
        assert any("委託契約書" in n for n in z.namelist())
        assert "cp932_unmappable.csv" not in z.namelist()

    # CP932 on request, encrypted with the administrator's passphrase: 𠮷 is reported (command
    # output and report file), 髙 and 﨑 pass; the archive opens with the passphrase, not without.
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    locked = tmp_path / "morioka-cp932.zip"
    done = _kyodo(
        settings, seal, "member", "export", "--member", "032018", "--out", str(locked), "--encoding", "cp932",
        "--passphrase-file", str(secret),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "𠮷 (U+20BB7)" in done.stdout
    assert "CP932 で表せない文字が 1 件" in done.stdout
    with pyzipper.AESZipFile(locked) as z:
        with pytest.raises(RuntimeError, match="password"):
            z.read("contracts.csv")
        z.setpassword(b"wrong passphrase")
        with pytest.raises(RuntimeError, match=r"[Bb]ad password"):
            z.read("contracts.csv")
        z.setpassword(PASSPHRASE.encode())
        await check_archive(z, seal, encoding="cp932", versions=2)
        assert not any("委託契約書" in n for n in z.namelist())  # entry names are not encrypted: numbers only
        contracts = _rows(z.read("contracts.csv"), "cp932")
        assert contracts[1][contracts[0].index("件名")] == SUBJECT  # 髙 and 﨑 are CP932 characters
        assert contracts[1][contracts[0].index("相手方")] == "株式会社〓野建設"
        assert _rows(z.read("parties.csv"), "cp932")[1][5] == SIGNER
        report = _rows(z.read("cp932_unmappable.csv"), "utf-8-sig")
        assert {r[3] for r in report[1:]} == {"𠮷"}
        assert ["contracts.csv", "2", "相手方", "𠮷", "U+20BB7", COUNTERPARTY] in report
    with zipfile.ZipFile(locked) as z, pytest.raises((RuntimeError, NotImplementedError)):
        z.read("contracts.csv")

    # Every export is recorded: the member's operation log and the consortium's record.
    locked_hash = hashlib.sha256(locked.read_bytes()).hexdigest()
    async with maker() as session:
        await system_access(session)
        logged = (
            await session.scalars(
                select(OperationLog)
                .where(OperationLog.member_id == a.id, OperationLog.kind == OperationKind.EXPORTED.value)
                .order_by(OperationLog.id)
            )
        ).all()
        assert [row.detail["sha256"] for row in logged] == [plain_hash, locked_hash]
        assert logged[0].actor.startswith("cli")
        records = (await session.scalars(select(MemberExport).where(MemberExport.member_ref_id == a.id))).all()
        assert sorted((r.encoding, r.encrypted, r.unmappable) for r in records) == [
            ("cp932", True, 1),
            ("utf-8", False, 0),
        ]
        member = await session.get(Member, a.id)
        assert member is not None
        await stages.transition(session, member, MemberStatus.LEAVING, by="事務局")
        await session.commit()

    # Deletion by the command: the report is a sealed PDF naming the newest export.
    deleted = _kyodo(
        settings, seal, "member", "delete", "--member", "032018", "--confirm", "032018",
        "--requested-by", "盛岡市 総務部長 岩手 太郎（脱退届 令和8年11月30日）",
    )  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    printed = json.loads(deleted.stdout)
    assert printed["export_sha256"] == locked_hash
    async with maker() as session:
        kept = (await session.scalars(select(DeletionReport).where(DeletionReport.member_ref_id == a.id))).one()
        pdf = await session.scalar(select(DeletionReport.pdf).where(DeletionReport.id == kept.id))
    assert pdf is not None
    assert hashlib.sha256(pdf).hexdigest() == kept.pdf_sha256 == printed["report_pdf_sha256"]
    assert kept.requested_by.startswith("盛岡市 総務部長")
    assert kept.backups_until == kept.deleted_at.astimezone(JST).date() + dt.timedelta(days=settings.backup.keep)
    verified = await verify_async(pdf, trust_roots=seal.trust_root_paths)
    assert verified.ok, verified.problems
    await engine.dispose()


# --------------------------------------------------------------------------- through the screens


@pytest.fixture
async def concluded(
    db_session: AsyncSession, two_members: TwoMembers, settings: Settings, seal: SigningSettings
) -> TwoMembers:
    """Member A and member B, each with one concluded (sealed) contract."""
    pool = SealerPool(seal)
    try:
        await conclude(db_session, settings, pool, two_members.a, login="morioka-shocho", number="R8-0042")
        await conclude(db_session, settings, pool, two_members.b, login="hachimantai-shocho", number="H8-0007")
    finally:
        await pool.aclose()
    return two_members


@pytest.fixture
async def leaving_b(
    db_session: AsyncSession, two_members: TwoMembers, settings: Settings, seal: SigningSettings
) -> TwoMembers:
    """Member B with one concluded (sealed) contract; member A with none."""
    pool = SealerPool(seal)
    try:
        await conclude(db_session, settings, pool, two_members.b, login="hachimantai-shocho", number="H8-0007")
    finally:
        await pool.aclose()
    return two_members


async def _correct_amount(client: AsyncTestClient[Litestar], session: AsyncSession, number: str) -> None:
    """The administrator corrects the amount of a concluded contract on its page, with a reason."""
    await system_access(session)
    contract = await session.scalar(select(Contract).where(Contract.contract_number == number))
    assert contract is not None
    corrected = await client.post(
        f"/contracts/{contract.id}/corrections",
        data={
            "_csrf_token": await csrf_token(client),
            "transaction_date": "R8.4.10",
            "amount": "1320000",
            "counterparty": "岩手建設株式会社",
            "contract_number": number,
            "reason": "変更契約の締結による",
        },
        follow_redirects=False,
    )
    assert corrected.status_code == 303, corrected.text


def _corrected_amount(z: zipfile.ZipFile) -> dict[str, str]:
    """The line of corrections.csv for the corrected amount (README names the file)."""
    assert "corrections.csv" in z.read("README.txt").decode("utf-8-sig")
    corrections = list(csv.DictReader(io.StringIO(z.read("corrections.csv").decode("utf-8-sig"))))
    return next(r for r in corrections if r["項目"] == "金額")


async def _export(client: AsyncTestClient[Litestar], **form: str) -> Any:
    return await client.post("/admin/export/", data={"_csrf_token": await csrf_token(client), **form})


async def test_the_administrator_downloads_a_readable_export_of_their_own_member_only(  # noqa: PLR0915 - one story
    sealing_client: AsyncTestClient[Litestar],
    concluded: TwoMembers,
    db_session: AsyncSession,
    settings: Settings,
    seal: SigningSettings,
) -> None:
    client = sealing_client
    await sign_in(client, "morioka-admin")
    await _correct_amount(client, db_session, "R8-0042")  # the export keeps the history, before and after
    page = await client.get("/admin/export/")
    assert page.status_code == 200
    assert 'name="passphrase"' in page.text
    response = await _export(client, encoding="utf-8")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/zip"
    assert hashlib.sha256(response.content).hexdigest() == response.headers["x-kyodo-sha256"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        await check_archive(z, seal)
        text = z.read("contracts.csv").decode("utf-8-sig")
        assert "R8-0042" in text
        assert "H8-0007" not in text
        assert "hachimantai" not in z.read("tables/staff.csv").decode("utf-8-sig")
        amount = _corrected_amount(z)
        assert (amount["契約番号"], amount["訂正後"], amount["理由"]) == ("R8-0042", "1320000", "変更契約の締結による")
        assert amount["訂正日時"].endswith("+09:00")
    assert not list((settings.app.data_dir / "exports").glob("*.zip"))  # nothing left on the server once sent

    # CP932 and a passphrase, chosen on the screen.
    short = await _export(client, passphrase="short", passphrase_confirm="short")
    assert short.status_code == 400
    assert "10 文字以上" in short.text
    mismatch = await _export(client, encoding="cp932", passphrase=PASSPHRASE, passphrase_confirm=PASSPHRASE + "x")
    assert mismatch.status_code == 400
    assert "パスフレーズ" in mismatch.text
    locked = await _export(client, encoding="cp932", passphrase=PASSPHRASE, passphrase_confirm=PASSPHRASE)
    assert locked.status_code == 200, locked.text[:500]
    with pyzipper.AESZipFile(io.BytesIO(locked.content)) as z:
        with pytest.raises(RuntimeError):
            z.read("contracts.csv")
        z.setpassword(PASSPHRASE.encode())
        await check_archive(z, seal, encoding="cp932")
        assert "𠮷" in z.read("cp932_unmappable.csv").decode("utf-8-sig")
    listing = await client.get("/admin/export/")
    assert hashlib.sha256(locked.content).hexdigest() in listing.text
    async with db_session.begin_nested():
        await system_access(db_session)
        logged = (
            await db_session.scalars(
                select(OperationLog).where(
                    OperationLog.member_id == concluded.a.id, OperationLog.kind == OperationKind.EXPORTED.value
                )
            )
        ).all()
    assert len(logged) == 2
    assert logged[0].actor.startswith("staff:")

    # The other member's administrator sees none of it, and exports only its own data.
    await sign_in(client, "hachimantai-admin")
    other = await client.get("/admin/export/")
    assert hashlib.sha256(locked.content).hexdigest() not in other.text
    own = await _export(client)
    with zipfile.ZipFile(io.BytesIO(own.content)) as z:
        text = z.read("contracts.csv").decode("utf-8-sig")
        assert "H8-0007" in text
        assert "R8-0042" not in text
        assert "morioka" not in z.read("tables/staff.csv").decode("utf-8-sig")

    # The secretariat cannot export a member's data.
    await sign_in(client, "jimukyoku")
    assert (await client.get("/admin/export/")).status_code in {403, 404}
    assert (await _export(client)).status_code in {403, 404}


async def test_the_secretariat_deletes_and_hands_over_the_sealed_report_and_sees_no_contract(
    sealing_client: AsyncTestClient[Litestar],
    leaving_b: TwoMembers,
    db_session: AsyncSession,
    settings: Settings,
    seal: SigningSettings,
) -> None:
    client = sealing_client
    b = leaving_b.b
    await sign_in(client, "hachimantai-admin")
    exported = await _export(client)
    assert exported.status_code == 200
    export_hash = hashlib.sha256(exported.content).hexdigest()
    b.status = MemberStatus.LEAVING
    await db_session.flush()

    await sign_in(client, "jimukyoku")
    token = await csrf_token(client)
    listing = await client.get("/secretariat/leaving/")
    assert 'name="requested_by"' in listing.text
    assert export_hash in listing.text  # the export that will be named in the report
    nobody = await client.post(f"/secretariat/leaving/{b.id}/delete", data={"confirm": "032140", "_csrf_token": token})
    assert nobody.status_code == 400
    assert "依頼" in nobody.text
    done = await client.post(
        f"/secretariat/leaving/{b.id}/delete",
        data={"confirm": "032140", "requested_by": "八幡平市 総務課長 岩手 花子", "_csrf_token": token},
    )
    assert done.status_code == 200
    await worker_deletes(db_session, settings, seal, b.id)
    done = await client.get("/secretariat/leaving/")
    report = (await db_session.scalars(select(DeletionReport).where(DeletionReport.member_ref_id == b.id))).one()
    assert report.export_sha256 == export_hash
    assert report.requested_by == "八幡平市 総務課長 岩手 花子"
    assert f"/secretariat/leaving/reports/{report.id}/pdf" in done.text
    download = await client.get(f"/secretariat/leaving/reports/{report.id}/pdf")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    verified = await verify_async(download.content, trust_roots=seal.trust_root_paths)
    assert verified.ok, verified.problems
    assert verified.certified
    assert hashlib.sha256(download.content).hexdigest() == report.pdf_sha256

    # The secretariat sees the report, never a contract document of a member.
    for path in ("/contracts/", "/admin/export/", "/contracts/search"):
        assert (await client.get(path)).status_code in {403, 404}, path

    # Another consortium's secretariat and a member's administrator cannot download the report.
    other = await f.consortium(db_session, "群馬県電子契約共同利用", slug="gunma")
    await f.secretariat(db_session, other, "gunma-jimukyoku")
    await sign_in(client, "gunma-jimukyoku")
    assert (await client.get(f"/secretariat/leaving/reports/{report.id}/pdf")).status_code == 404
    refused = await client.post(
        f"/secretariat/leaving/{leaving_b.a.id}/delete",
        data={"confirm": "032018", "requested_by": "x", "_csrf_token": await csrf_token(client)},
    )
    assert refused.status_code == 404
    await sign_in(client, "morioka-admin")
    assert (await client.get(f"/secretariat/leaving/reports/{report.id}/pdf")).status_code in {403, 404}
