"""A member leaves: full export, then deletion of everything of it, and a report (DAT-1, DAT-3).

Both steps find the member's data **from the metadata**: every table with a
``member_id`` column (contracts, sealed-document records, certificates, audit
trail, staff … whatever exists) is exported and deleted, so a domain that adds a
member-owned table is covered without touching this module. Blobs (documents,
sealed PDFs) are the document store's objects whose key begins with the member's
id, in the data folder or the bucket of ``KYODO_BLOB_URL`` (:mod:`core.blobstore`).

This module gives the raw tables as CSV (:func:`table_csvs`); the readable
archive a leaving member receives (decrypted PDFs, contracts, parties and
trail as CSV, manifest, README) is assembled by :mod:`signing.exit`, which
knows contracts and the document store. Every export is recorded
(:class:`~onboarding.models.MemberExport`).

Deletion removes the rows children-first (reverse foreign-key order), the
member's objects, marks the member ``left`` and writes a
:class:`~onboarding.models.DeletionReport` (counts per table, who asked, who
deleted, when, the export's hash, until when backups may still hold the data,
and the sealed PDF), which is a consortium record and therefore survives. The
member row itself stays (name and code of a public body, status ``left``)
because invoices, agreements and the report refer to it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer
from uuid_utils.compat import uuid7

from core.blobstore import backend_for
from core.dates import JST
from core.db import complete_metadata
from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import elevated
from core.settings import Settings
from onboarding.models import DeletionReport, DeletionRequest, DeletionStatus, MemberExport, StageChange
from onboarding.repository import OnboardingRepository, member_tables_in_fk_order
from policy.services import policy_changed
from tenants.models import Member, MemberStatus

__all__ = [
    "DELETION_TASK",
    "EXCLUDED_COLUMNS",
    "TABLE_KINDS",
    "DeletionRefused",
    "ReportSealer",
    "backups_until",
    "carry_out_deletion",
    "delete_member",
    "deletion_report",
    "deletion_reports",
    "deletion_requests",
    "exports_of",
    "fail_deletion",
    "member_blob_dir",
    "record_export",
    "request_deletion",
    "table_csvs",
]

EXCLUDED_COLUMNS = frozenset({"password_hash", "key_hash", "token_hash", "sealed_secret", "sealed_passwords"})
"""Secrets never exported (password, key and link-token hashes, sealed webhook secrets, the sealed access
passwords of a bulk sending not yet seen): useless elsewhere."""


def member_blob_dir(settings: Settings, member_id: uuid.UUID) -> Path:
    """The folder holding every stored file (blob) of a member."""
    return settings.app.data_dir / "blobs" / str(member_id)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


async def table_csvs(session: AsyncSession, member: Member) -> AsyncIterator[tuple[str, bytes, int]]:
    """Every member-owned table of ``member`` as CSV (UTF-8 with BOM): (table, bytes, rows).

    ``session`` must see the member's rows: scoped to the member (its
    administrator's request) or with system access (operator command). Secrets
    (:data:`EXCLUDED_COLUMNS`) are left out.
    """
    repository = OnboardingRepository(session, member.id)
    for name in member_tables_in_fk_order():
        table = complete_metadata().tables[name]
        columns = [c.name for c in table.columns if c.name not in EXCLUDED_COLUMNS]
        rows = await repository.export_rows(name, columns)
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in rows)
        yield name, ("\ufeff" + buf.getvalue()).encode("utf-8"), len(rows)


def record_export(
    session: AsyncSession,
    member: Member,
    *,
    by: str,
    sha256: str,
    size: int,
    files: int,
    encrypted: bool,
    encoding: str,
    unmappable: int,
) -> MemberExport:
    """Record that a full export of ``member`` was made (who, when, the archive's SHA-256)."""
    row = MemberExport(
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        exported_by=by,
        sha256=sha256,
        size=size,
        files=files,
        encrypted=encrypted,
        encoding=encoding,
        unmappable=unmappable,
    )
    session.add(row)
    return row


async def exports_of(session: AsyncSession, member_id: uuid.UUID) -> list[MemberExport]:
    """Every recorded export of the member, newest first."""
    return list(
        (
            await session.scalars(
                select(MemberExport)
                .where(MemberExport.member_ref_id == member_id)
                .order_by(MemberExport.exported_at.desc(), MemberExport.id.desc())
            )
        ).all()
    )


def backups_until(settings: Settings, deleted_on: dt.date) -> dt.date:
    """The last day a backup generation may still hold data deleted on ``deleted_on``.

    Backups are taken once a day and ``KYODO_BACKUP_KEEP`` generations are
    kept, so the newest generation taken before the deletion is deleted after
    that many newer ones: at the latest ``keep`` days later.
    """
    return deleted_on + dt.timedelta(days=max(settings.backup.keep, 1))


TABLE_KINDS: dict[str, str] = {
    "contract": "契約",
    "contract_document": "契約ファイル（原本）",
    "contract_party": "当事者",
    "contract_text_box": "入力欄",
    "contract_sealed_document": "締結済みファイル（封緘版）",
    "contract_certificate": "締結証明書",
    "contract_audit_event": "契約の監査記録",
    "document_key": "文書暗号鍵",
    "staff": "職員",
    "department": "部署",
    "contract_title": "契約名義",
    "staff_import": "職員一括登録",
    "api_key": "APIキー",
    "ip_range": "接続元IPアドレス範囲",
    "security_event": "セキュリティ記録",
    "address_book_entry": "アドレス帳",
    "bulk_batch": "一括送信",
    "bulk_batch_row": "一括送信の行（結果）",
}
"""What each table holds, as the deletion report names it (always in Japanese, like the report)."""


ReportSealer = Callable[[DeletionReport], Awaitable[bytes]]
"""Renders a deletion report as a PDF and seals it (provided by the signing domain)."""


class DeletionRefused(Invalid):
    """The member may not be deleted (yet), or the deletion was not confirmed."""


DELETION_TASK = "signing.delete_leaving_member"
"""The worker task that carries out a :class:`~onboarding.models.DeletionRequest` (it seals the report)."""


def _check_deletable(member: Member, confirm: str | None) -> None:
    if confirm is not None and confirm.strip() != member.lg_code:
        raise DeletionRefused(
            _("Type the member's local government code ({code}) to confirm the deletion.").format(code=member.lg_code)
        )
    if MemberStatus(member.status) is not MemberStatus.LEAVING:
        raise DeletionRefused(_("A member's data can be deleted only in the “leaving” stage. Change its stage first."))


async def _newest_export_hash(session: AsyncSession, member_id: uuid.UUID) -> str:
    exports = await exports_of(session, member_id)
    return exports[0].sha256 if exports else ""


async def request_deletion(
    session: AsyncSession, member: Member, *, by: str, confirm: str, requested_by: str
) -> DeletionRequest:
    """Record the secretariat's confirmed deletion of ``member``; a worker carries it out after the commit.

    The checks are those of :func:`delete_member` (code typed again, ``leaving``
    stage) plus who asked. A member with a request still queued gets that one
    back: a second click, or two secretariat staff at once, delete once.

    Raises:
        DeletionRefused: the code typed does not match, the member is not
            leaving, or who asked is missing.
    """
    _check_deletable(member, confirm)
    if not requested_by.strip():
        raise DeletionRefused(
            _("Enter who asked for the deletion (the member's request), to be printed in the report.")
        )
    await session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    queued = await session.scalar(
        select(DeletionRequest).where(
            DeletionRequest.member_ref_id == member.id, DeletionRequest.status == DeletionStatus.QUEUED.value
        )
    )
    if queued is not None:
        return queued
    request = DeletionRequest(
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        status=DeletionStatus.QUEUED.value,
        requested_by=requested_by.strip()[:300],
        confirmed_by=by,
        export_sha256=await _newest_export_hash(session, member.id),
    )
    session.add(request)
    await session.flush()
    enqueue(session, DELETION_TASK, request_id=str(request.id))
    return request


async def carry_out_deletion(
    session: AsyncSession, settings: Settings, request_id: uuid.UUID, *, seal_report: ReportSealer
) -> DeletionRequest | None:
    """The worker's part: delete the requested member and keep the sealed report; safe to run twice.

    The request row is locked, so two deliveries of the task never delete twice;
    a request already done or failed is left as it is. A member that stopped
    leaving in the meantime is not deleted (the request fails, saying why).
    Sealing errors propagate: the transaction rolls back, nothing is deleted,
    and the task retries.
    """
    request = await session.scalar(select(DeletionRequest).where(DeletionRequest.id == request_id).with_for_update())
    if request is None or request.status != DeletionStatus.QUEUED.value:
        return request
    member = await session.scalar(select(Member).where(Member.id == request.member_ref_id).with_for_update())
    assert member is not None, "a requested member's row stays"
    try:
        report = await delete_member(
            session,
            member,
            settings,
            by=request.confirmed_by,
            export_sha256=request.export_sha256,
            requested_by=request.requested_by,
            seal_report=seal_report,
        )
    except DeletionRefused as exc:
        request.status = DeletionStatus.FAILED.value
        request.error = exc.message
    else:
        request.status = DeletionStatus.DONE.value
        request.report_id = report.id
    request.finished_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return request


async def fail_deletion(session: AsyncSession, request_id: uuid.UUID, message: str) -> None:
    """Give up a queued request (its report could not be sealed after every retry); nothing was deleted."""
    request = await session.scalar(select(DeletionRequest).where(DeletionRequest.id == request_id).with_for_update())
    if request is not None and request.status == DeletionStatus.QUEUED.value:
        request.status = DeletionStatus.FAILED.value
        request.error = message
        request.finished_at = dt.datetime.now(dt.UTC)


async def deletion_requests(session: AsyncSession, consortium_id: uuid.UUID) -> dict[uuid.UUID, DeletionRequest]:
    """Member id → its newest deletion request, for the consortium's leaving screen."""
    rows = await session.scalars(
        select(DeletionRequest)
        .where(DeletionRequest.consortium_id == consortium_id)
        .order_by(DeletionRequest.created_at)
    )
    return {r.member_ref_id: r for r in rows}


async def delete_member(
    session: AsyncSession,
    member: Member,
    settings: Settings,
    *,
    by: str,
    export_sha256: str = "",
    confirm: str | None = None,
    requested_by: str = "",
    seal_report: ReportSealer | None = None,
) -> DeletionReport:
    """Delete every row and blob of ``member`` and keep a report; the member becomes ``left``.

    ``confirm``, when given, is the member's local government code typed again
    by the person deleting (the screens ask for it). ``export_sha256`` defaults
    to the newest recorded export of the member. ``seal_report`` turns the
    report into the sealed PDF handed to the member; it runs in the same
    transaction, so when sealing fails nothing is deleted.

    Raises:
        DeletionRefused: the code typed does not match, or the member is not in
            the ``leaving`` stage.
    """
    _check_deletable(member, confirm)
    if not export_sha256:
        export_sha256 = await _newest_export_hash(session, member.id)
    async with elevated(session):
        counts = await OnboardingRepository(session, member.id).delete_everything()
    backend = backend_for(settings)
    keys = await backend.keys(f"{member.id}/")
    size = 0
    for key in keys:
        size += len(await backend.read(key) or b"")
    deleted_at = dt.datetime.now(JST)
    member.status = MemberStatus.LEFT
    member.left_on = deleted_at.date()
    report = DeletionReport(
        id=uuid7(),  # printed on the sealed report, so known before the row is written
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        member_name=member.name,
        lg_code=member.lg_code,
        deleted_by=by,
        row_counts=dict(sorted(counts.items())),
        blob_files=len(keys),
        blob_bytes=size,
        export_sha256=export_sha256,
        requested_by=requested_by.strip(),
        deleted_at=deleted_at,
        backups_until=backups_until(settings, deleted_at.date()),
    )
    if seal_report is not None:
        pdf = await seal_report(report)
        report.pdf = pdf
        report.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    # Only once the report exists are the files removed: a report that cannot be
    # sealed rolls the rows back and leaves every file where it was.
    await backend.delete(keys)
    blob_root = member_blob_dir(settings, member.id)
    if blob_root.exists():  # empty folders the file system backend leaves behind
        shutil.rmtree(blob_root)
    policy_changed(session, member.id)  # its roles are gone: every process forgets them after the commit
    session.add(report)
    session.add(
        StageChange(
            consortium_id=member.consortium_id,
            member_ref_id=member.id,
            from_status=MemberStatus.LEAVING,
            to_status=MemberStatus.LEFT,
            changed_by=by,
            effective_on=member.left_on,
            detail={"deleted_rows": sum(counts.values())},
        )
    )
    await session.flush()
    return report


async def deletion_report(session: AsyncSession, consortium_id: uuid.UUID, report_id: uuid.UUID) -> DeletionReport:
    """One deletion report of the consortium (with its PDF).

    Raises:
        NotFound: no such report in this consortium.
    """
    report = await session.scalar(
        select(DeletionReport)
        .where(DeletionReport.id == report_id, DeletionReport.consortium_id == consortium_id)
        .options(undefer(DeletionReport.pdf))
    )
    if report is None:
        raise NotFound(_("No such deletion report."))
    return report


async def deletion_reports(session: AsyncSession, consortium_id: uuid.UUID) -> list[DeletionReport]:
    """Every deletion report of the consortium, newest first."""
    return list(
        (
            await session.scalars(
                select(DeletionReport)
                .where(DeletionReport.consortium_id == consortium_id)
                .order_by(DeletionReport.deleted_at.desc())
            )
        ).all()
    )
