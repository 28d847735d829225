"""A member leaves (DAT-1, DAT-3): full export with a hash manifest, deletion of everything, a sealed report.

The export's readable contents (decrypted PDFs, CSV in both encodings, encryption) are tested in
``test_export.py``; here every member-owned table is exported and then deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import undefer

from core.db import metadata
from core.outbox import relay_pending
from core.scope import elevated, for_member, member_owned_tables
from core.settings import Settings, SigningSettings, to_psycopg_url
from onboarding import stages
from onboarding.leaving import member_blob_dir, request_deletion
from onboarding.metering import record_conclusion
from onboarding.models import DeletionReport, DeletionRequest, DeletionStatus, StaffImport
from onboarding.staff_import import preview
from policy.models import MemberRole
from signing.models import BulkBatch, BulkBatchRow, BulkRowState
from signing.verification import verify_async
from tenants import oplog
from tenants.idempotency import IdempotencyKey
from tenants.models import (
    AddressBookEntry,
    ApiKey,
    Member,
    MemberStatus,
    OperationKind,
    SecurityEvent,
    SecurityEventKind,
)
from testpki import settings_environment
from tests import factories as f
from tests.conftest import PROJECT_DIR, TwoMembers, csrf_token, sign_in, start_worker, task_sender
from tests.helpers import text_at
from tests.onboarding.conftest import worker_deletes


async def _populate(session: AsyncSession, member: Member, settings: Settings, tag: str) -> None:
    """Something in every kind of member-owned table, and two stored files."""
    parent = await f.department(session, member, "SOMU", "総務部")
    child = await f.department(session, member, "KEIYAKU", "契約課", parent=parent)
    clerk = await f.staff(session, member, f"{tag}-clerk", roles=("drafter",), department=child)
    mayor = await f.title(session, member, "MAYOR", "市長", f"{member.name}長")
    await f.grant(session, clerk, mayor)
    await f.ip_range(session, member, "192.0.2.0/24")
    company = await _company(session, member)
    session.add(AddressBookEntry(member_id=member.id, company_id=company[0], contact_id=company[1]))
    session.add(ApiKey(member_id=member.id, prefix=uuid.uuid4().hex[:12], key_hash="0" * 64, label="文書管理"))
    session.add(MemberRole(member_id=member.id, name="custom:keiri", label="経理"))
    session.add(SecurityEvent(member_id=member.id, kind=SecurityEventKind.LOGIN_FAILED, subject=f"{tag}-clerk"))
    await oplog.record(session, member_id=member.id, kind=OperationKind.SIGNED_IN, who=oplog.Who(f"{tag}-clerk"))
    await _integrations(session, member, clerk.id)
    await _concluded_contract(session, settings, member, clerk, mayor)
    await _reporting_rows(session, member)
    await record_conclusion(session, member, uuid.uuid4(), occurred_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    await stages.record_trial_run(session, member.id, uuid.uuid4())
    await for_member(session, member.id)  # an administrator of the member uploads a file
    await preview(session, member, filename="s.csv", data=b"name,email\n", uploaded_by_id=clerk.id)
    folder = member_blob_dir(settings, member.id)
    (folder / "ab").mkdir(parents=True, exist_ok=True)
    (folder / "ab" / "sealed.pdf").write_bytes(b"%PDF-1.7 sealed " + tag.encode())
    (folder / "certificate.pdf").write_bytes(b"%PDF-1.7 certificate " + tag.encode())


async def _concluded_contract(
    session: AsyncSession, settings: Settings, member: Member, clerk: Any, mayor: Any
) -> None:
    """A contract through circulation, with its sealed file and certificate of conclusion stored."""
    from core.scope import Principal, PrincipalKind
    from signing import services as svc
    from signing.audit import Actor
    from signing.blobs import BlobStore
    from signing.models import ConclusionCertificate, PartyKind, SealedDocument
    from tests.signing.pdfgen import make_pdf

    principal = Principal(
        kind=PrincipalKind.STAFF, id=clerk.id, name=clerk.name, consortium_id=member.consortium_id, member_id=member.id
    )
    who = Actor(actor=clerk.name, email=clerk.email)
    contract = await svc.create_contract(
        session,
        principal,
        svc.ContractInput(
            subject="庁舎清掃業務委託",
            title_id=mayor.id,
            amount=500_000,
            transaction_date=dt.date(2026, 11, 1),
            counterparty="岩手建設",
        ),
        who,
    )
    documents = await svc.add_documents(session, settings, contract, [("委託契約書.pdf", make_pdf(1))], who)
    party = await svc.add_party(
        session,
        contract,
        svc.PartyInput(
            order_no=1, kind=PartyKind.STAFF, name=clerk.name, email=clerk.email, staff_id=clerk.id, title_id=mayor.id
        ),
        who,
    )
    box = await svc.add_text_box(
        session,
        contract,
        svc.TextBoxInput(
            document_id=documents[0].id, party_id=party.id, page=0, x=72, y=72, width=200, height=20, label="記名"
        ),
        who,
    )
    await svc.send(session, settings, contract, who)
    await session.refresh(contract, ["documents", "parties", "sealed_documents"])
    await svc.staff_agree(
        session, settings, contract=contract, principal=principal, values={str(box.id): "市長"}, who=who
    )
    store = BlobStore(settings)
    sealed = await store.put(session, member.id, b"%PDF-1.7 sealed contract of " + member.lg_code.encode())
    certificate = await store.put(session, member.id, b"%PDF-1.7 certificate of " + member.lg_code.encode())
    session.add(
        SealedDocument(
            member_id=member.id, contract_id=contract.id, document_id=documents[0].id, sha256=sealed, size=40
        )
    )
    session.add(ConclusionCertificate(member_id=member.id, contract_id=contract.id, sha256=certificate, size=40))
    session.add(
        IdempotencyKey(
            member_id=member.id, caller=f"staff:{clerk.id}", key="create-1", fingerprint="0" * 64, status_code=201
        )
    )
    batch = BulkBatch(
        member_id=member.id,
        draft_id=contract.id,
        draft_subject=contract.subject,
        started_by=f"staff:{clerk.id}",
        passwords_until=dt.datetime.now(dt.UTC),
        sealed_passwords=b"sealed",
    )
    session.add(batch)
    await session.flush()
    session.add(
        BulkBatchRow(
            member_id=member.id,
            batch_id=batch.id,
            line=2,
            data={"company": "岩手建設"},
            state=BulkRowState.SENT,
            contract_id=contract.id,
        )
    )
    await session.flush()


async def _integrations(session: AsyncSession, member: Member, staff_id: uuid.UUID) -> None:
    """A staff invitation, a notification address and a webhook endpoint with one delivery attempt."""
    from signing.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
    from tenants.invitations import StaffInvitation
    from tenants.notification_addresses import NotificationAddress

    session.add(StaffInvitation(member_id=member.id, staff_id=staff_id))
    session.add(NotificationAddress(member_id=member.id, email=f"keiyaku-{member.lg_code}@example.lg.jp"))
    endpoint = WebhookEndpoint(
        member_id=member.id, label="文書管理", url="https://docs.example.lg.jp/hook", sealed_secret="sealed"
    )
    session.add(endpoint)
    await session.flush()
    delivery = WebhookDelivery(member_id=member.id, endpoint_id=endpoint.id, event="contract.concluded", payload={})
    session.add(delivery)
    await session.flush()
    session.add(
        WebhookAttempt(
            member_id=member.id, delivery_id=delivery.id, attempted_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        )
    )
    await session.flush()


async def _reporting_rows(session: AsyncSession, member: Member) -> None:
    """Telemetry, an incident and the member's report of one, a plan, report sections and an issued monthly report."""
    from reporting.models import (
        Incident,
        IncidentMember,
        IncidentReport,
        MonthlyReport,
        ReportPlan,
        ReportRelease,
        ReportSecurity,
        RequestMinute,
    )

    at = dt.datetime(2026, 10, 5, 10, 0, tzinfo=dt.UTC)
    incident = Incident(title=f"{member.name} 応答遅延", started_at=at, detected_at=at, all_members=False)
    session.add(incident)
    await session.flush()
    session.add(IncidentMember(member_id=member.id, incident_id=incident.id))
    session.add(
        IncidentReport(
            member_id=member.id,
            incident_id=incident.id,
            reported_by="管理者",
            reported_at=at,
            what="画面が遅い",
            since=at,
            affected="契約一覧",
            urgency="normal",
            phone="019-000-0000",
        )
    )
    month = dt.date(2026, 10, 1)
    session.add(
        ReportRelease(
            member_id=member.id, month=month, released_on=month, change="様式更新", impact="", written_by="運用"
        )
    )
    session.add(
        ReportSecurity(member_id=member.id, month=month, detected="試行", done="遮断", planned="", written_by="運用")
    )
    session.add(
        RequestMinute(
            member_id=member.id, minute=at, requests=3, server_errors=0, latency_ms_sum=90, histogram=[3] + [0] * 17
        )
    )
    session.add(
        ReportPlan(
            member_id=member.id,
            month=dt.date(2026, 10, 1),
            item="response",
            reason="遅延",
            plan="増強",
            written_by="運用",
        )
    )
    session.add(
        MonthlyReport(
            member_id=member.id,
            month=dt.date(2026, 9, 1),
            issued_by="運用",
            figures={},
            pdf=b"%PDF-1.7",
            csv=b"a,b",
            pdf_sha256="0" * 64,
            csv_sha256="1" * 64,
        )
    )
    await session.flush()


async def _company(session: AsyncSession, member: Member) -> tuple[uuid.UUID, uuid.UUID]:
    from tenants.models import ContractorCompany, ContractorContact

    company = ContractorCompany(consortium_id=member.consortium_id, name=f"岩手建設 {member.lg_code}")
    session.add(company)
    await session.flush()
    contact = ContractorContact(company_id=company.id, name="岩手 一郎", email=f"ichiro-{member.lg_code}@example.co.jp")
    session.add(contact)
    await session.flush()
    return company.id, contact.id


async def _counts(session: AsyncSession, member_id: uuid.UUID) -> dict[str, int]:
    """The member's rows in every member-owned table, as stored (a second session on the same connection)."""
    counts = {}
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        for name in member_owned_tables(metadata):
            table = metadata.tables[name]
            query = select(func.count()).select_from(table).where(table.c.member_id == member_id)
            counts[name] = int(await fresh.scalar(query) or 0)
    return counts


def _kyodo(settings: Settings, *args: str, seal: SigningSettings | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        **(settings_environment(seal) if seal is not None else {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )


def _check_archive(archive: Path) -> dict:
    """The manifest, after checking that its hashes match the archive's contents."""
    with zipfile.ZipFile(archive) as z:
        manifest: dict = json.loads(z.read("manifest.json"))
        names = set(z.namelist()) - {"manifest.json", "SHA256SUMS.txt"}
        assert names == set(manifest["files"])
        for name, entry in manifest["files"].items():
            data = z.read(name)
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
            assert len(data) == entry["bytes"]
        assert {f"tables/{t}.csv" for t in member_owned_tables(metadata)} <= names
        # Files no row refers to are kept too (as stored when they cannot be decrypted).
        assert {"other_files/as_stored/ab_sealed.pdf", "other_files/as_stored/certificate.pdf"} <= names
        assert z.read("other_files/as_stored/ab_sealed.pdf") == b"%PDF-1.7 sealed morioka"
        # The contract's upload, sealed file and certificate, decrypted.
        assert z.read("contracts/0001/sealed/01_委託契約書_v1.pdf") == b"%PDF-1.7 sealed contract of 032018"
        assert z.read("contracts/0001/certificate_v1.pdf") == b"%PDF-1.7 certificate of 032018"
        staff_csv = z.read("tables/staff.csv").decode("utf-8-sig")
        assert "morioka-clerk" in staff_csv
        assert "hachimantai" not in staff_csv  # nothing of the other member
        assert "password_hash" not in staff_csv.splitlines()[0]  # secrets are not exported
        batches = z.read("tables/bulk_batch.csv").decode("utf-8-sig")
        assert "sealed_passwords" not in batches.splitlines()[0]  # nor a bulk sending's sealed passwords
        assert "岩手建設" in z.read("tables/bulk_batch_row.csv").decode(
            "utf-8-sig"
        )  # the rows and their outcomes are exported
    return manifest


async def test_export_then_delete_leaves_nothing_of_the_member(  # noqa: PLR0915 - one story, told in order
    fresh_database: Settings, seal: SigningSettings, tmp_path: Path
) -> None:
    settings = fresh_database
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            b = await f.member(session, group, "032140", "八幡平市")
            await _populate(session, a, settings, "morioka")
            await _populate(session, b, settings, "hachimantai")
            await stages.transition(session, a, MemberStatus.LEAVING, by="事務局")
            await session.commit()
        async with maker() as session:
            before_a = await _counts(session, a.id)
            before_b = await _counts(session, b.id)
        empty = sorted(t for t, n in before_a.items() if n == 0)
        assert not empty, empty  # every member-owned table has rows of A

        # Export with the real command; the manifest's hashes match the archive's contents.
        archive = tmp_path / "morioka.zip"
        exported = _kyodo(settings, "member", "export", "--member", "032018", "--out", str(archive))
        assert exported.returncode == 0, exported.stderr
        manifest = _check_archive(archive)
        assert manifest["row_counts"] == before_a
        export_hash = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert export_hash in exported.stdout

        # Deletion needs the code twice.
        wrong = _kyodo(
            settings, "member", "delete", "--member", "032018", "--confirm", "032140", "--requested-by", "x", seal=seal
        )
        assert wrong.returncode != 0
        assert "同じ地方公共団体コード" in wrong.stderr
        deleted = _kyodo(
            settings, "member", "delete", "--member", "032018", "--confirm", "032018",
            "--requested-by", "盛岡市長", "--export-sha256", export_hash, seal=seal,
        )  # fmt: skip
        assert deleted.returncode == 0, deleted.stderr
        # The export itself is in the member's operation log, deleted with the rest.
        deleted_rows = {**before_a, "operation_log": before_a["operation_log"] + 1}
        assert json.loads(deleted.stdout)["row_counts"] == deleted_rows

        async with maker() as session, elevated(session):
            after_a = await _counts(session, a.id)
            assert set(after_a.values()) == {0}, after_a  # nothing of A in any table
            assert await _counts(session, b.id) == before_b  # B untouched
            # Any column that could point at A's rows: none left either.
            leftovers = await session.scalar(text("SELECT count(*) FROM staff WHERE login_id LIKE 'morioka-%'"))
            assert leftovers == 0
            member = await session.get(Member, a.id)
            assert member is not None
            assert member.status is MemberStatus.LEFT
            report = (await session.scalars(select(DeletionReport).where(DeletionReport.member_ref_id == a.id))).one()
            assert report.row_counts == deleted_rows
            assert report.requested_by == "盛岡市長"
            assert report.pdf_sha256  # the sealed report (validated in test_export.py)
            # Two loose files, the uploaded contract, its sealed version and the certificate.
            assert report.blob_files == 5
            assert report.export_sha256 == export_hash
            assert report.deleted_by.startswith("cli")
            imports_b = await session.scalar(
                select(func.count()).select_from(StaffImport).where(StaffImport.member_id == b.id)
            )
            assert imports_b == 1
        assert not member_blob_dir(settings, a.id).exists()
        assert (member_blob_dir(settings, b.id) / "ab" / "sealed.pdf").read_bytes() == b"%PDF-1.7 sealed hachimantai"
    finally:
        await engine.dispose()


async def test_member_administrator_exports_only_their_own_data(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers, settings: Settings
) -> None:
    await f.department(db_session, two_members.a, "KEIYAKU", "契約課")
    await f.department(db_session, two_members.b, "ZAISEI", "財政課")
    await sign_in(client, "morioka-admin")
    response = await client.post("/admin/export/", data={"_csrf_token": await csrf_token(client)})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    path = Path(settings.app.data_dir) / "export-test.zip"
    path.write_bytes(response.content)
    with zipfile.ZipFile(path) as z:
        departments = z.read("tables/department.csv").decode("utf-8-sig")
        staff = z.read("tables/staff.csv").decode("utf-8-sig")
    assert "契約課" in departments
    assert "財政課" not in departments
    assert "hachimantai-admin" not in staff


async def test_secretariat_deletes_a_leaving_member_of_its_own_consortium(
    sealing_client: AsyncTestClient,
    db_session: AsyncSession,
    two_members: TwoMembers,
    settings: Settings,
    seal: SigningSettings,
) -> None:
    client = sealing_client
    b = two_members.b
    await f.department(db_session, b, "ZAISEI", "財政課")
    b.status = MemberStatus.LEAVING
    await db_session.flush()

    other = await f.consortium(db_session, "群馬県電子契約共同利用", slug="gunma")
    await f.secretariat(db_session, other, "gunma-jimukyoku")
    await sign_in(client, "gunma-jimukyoku")
    token = await csrf_token(client)
    listing = await client.get("/secretariat/leaving/")
    assert "八幡平市" not in listing.text
    refused = await client.post(
        f"/secretariat/leaving/{b.id}/delete",
        data={"confirm": "032140", "requested_by": "八幡平市長", "_csrf_token": token},
    )
    assert refused.status_code == 404

    await sign_in(client, "jimukyoku")
    token = await csrf_token(client)
    listing = await client.get("/secretariat/leaving/")
    assert "八幡平市" in listing.text
    mistyped = await client.post(
        f"/secretariat/leaving/{b.id}/delete",
        data={"confirm": "03214", "requested_by": "八幡平市長", "_csrf_token": token},
    )
    assert mistyped.status_code == 400
    assert "032140" in mistyped.text
    live = await client.post(
        f"/secretariat/leaving/{two_members.a.id}/delete",
        data={"confirm": "032018", "requested_by": "盛岡市長", "_csrf_token": token},
    )
    assert live.status_code == 400
    assert "脱退手続中" in live.text
    confirmed = {"confirm": "032140", "requested_by": "八幡平市長", "_csrf_token": token}
    queued = await client.post(f"/secretariat/leaving/{b.id}/delete", data=confirmed)
    assert queued.status_code == 200
    assert "削除しています" in text_at(queued.text, f"#deletion-queued-{b.id}"), "the page says it is under way"
    assert (await _counts(db_session, b.id))["department"] == 1, "nothing is deleted in the request"
    again = await client.post(f"/secretariat/leaving/{b.id}/delete", data=confirmed)
    assert again.status_code == 200, "a second click finds the first request"
    request = await worker_deletes(db_session, settings, seal, b.id)  # one request, one task
    assert request.status == "done"
    done = await client.get("/secretariat/leaving/")
    assert "八幡平市 (032140)" in text_at(done.text, "#reports")  # the deletion report
    assert set((await _counts(db_session, b.id)).values()) == {0}
    assert (await _counts(db_session, two_members.a.id))["staff"] == 1


async def test_a_real_worker_deletes_and_seals_the_report(
    fresh_database: Settings, seal: SigningSettings, tmp_path: Path
) -> None:
    settings = fresh_database
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    worker = start_worker(settings, tmp_path, name="deletion", extra_env=settings_environment(seal))
    try:
        async with maker() as session:
            group = await f.consortium(session)
            b = await f.member(session, group, "032140", "八幡平市")
            await _populate(session, b, settings, "hachimantai")
            await stages.transition(session, b, MemberStatus.LEAVING, by="事務局")
            await session.commit()
        async with maker() as session, elevated(session):
            member = await session.get(Member, b.id)
            assert member is not None
            request = await request_deletion(
                session, member, by="事務局 岩手 次郎", confirm="032140", requested_by="八幡平市長 佐々木 孝弘"
            )
            await session.commit()
        assert member_blob_dir(settings, b.id).exists(), "nothing deleted before the worker runs"
        async with maker() as session:
            assert await relay_pending(session, app=task_sender(settings)) >= 1  # with the mails _populate queued
            await session.commit()

        deadline = time.monotonic() + 180
        status = DeletionStatus.QUEUED.value
        while time.monotonic() < deadline and status == DeletionStatus.QUEUED.value:
            await asyncio.sleep(0.5)
            async with maker() as session:
                stored = await session.get(DeletionRequest, request.id)
                assert stored is not None
                status, report_id = stored.status, stored.report_id
        assert status == DeletionStatus.DONE.value, worker.log_path.read_text()[-3000:]

        async with maker() as session:
            assert set((await _counts(session, b.id)).values()) == {0}
            report = await session.scalar(
                select(DeletionReport).where(DeletionReport.id == report_id).options(undefer(DeletionReport.pdf))
            )
            assert report is not None
            assert (report.requested_by, report.deleted_by) == ("八幡平市長 佐々木 孝弘", "事務局 岩手 次郎")
            assert report.pdf is not None
        assert not member_blob_dir(settings, b.id).exists()
        verified = await verify_async(report.pdf, trust_roots=seal.trust_root_paths)
        assert verified.ok, verified.problems
    finally:
        worker.stop()
        await engine.dispose()
