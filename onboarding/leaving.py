"""A member leaves: full export, then deletion of everything of it, and a report (DAT-1, DAT-3).

Both steps find the member's data **from the metadata**: every table with a
``member_id`` column (contracts, sealed-document records, certificates, audit
trail, staff … whatever exists) is exported and deleted, so a domain that adds a
member-owned table is covered without touching this module. Blobs (documents,
sealed PDFs) are the document store's objects whose key begins with the member's
id, in the data folder or the bucket of ``KYODO_BLOB_URL`` (:mod:`core.blobstore`).

The export is one zip: ``tables/<table>.csv`` (UTF-8 with BOM, one file per
table, secrets such as password hashes left out), ``blobs/<path>`` and
``manifest.json`` listing the SHA-256 and size of every other entry.

Deletion removes the rows children-first (reverse foreign-key order), the
member's objects, marks the member ``left`` and writes a
:class:`~onboarding.models.DeletionReport` (counts per table, who, when), which is
a consortium record and therefore survives. The member row itself stays (name
and code of a public body, status ``left``) because invoices, agreements and the
report refer to it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.blobstore import backend_for
from core.dates import JST
from core.db import complete_metadata
from core.errors import Invalid
from core.i18n import gettext as _
from core.scope import elevated
from core.settings import Settings
from onboarding.models import DeletionReport, StageChange
from onboarding.repository import OnboardingRepository, member_tables_in_fk_order
from policy.services import policy_changed
from tenants.models import Member, MemberStatus

__all__ = [
    "EXCLUDED_COLUMNS",
    "DeletionRefused",
    "ExportResult",
    "delete_member",
    "deletion_reports",
    "export_member",
    "member_blob_dir",
]

EXCLUDED_COLUMNS = frozenset({"password_hash", "key_hash"})
"""Secrets that are never exported (they are useless elsewhere and dangerous if leaked)."""


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


@dataclass
class ExportResult:
    """What went into the archive."""

    sha256: str
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Archive entry → SHA-256."""


async def export_member(session: AsyncSession, member: Member, out: IO[bytes], settings: Settings) -> ExportResult:
    """Write the member's full export (zip with manifest) to ``out``.

    ``session`` must see the member's rows: scoped to the member (its
    administrator's request) or with system access (operator command).
    """
    repository = OnboardingRepository(session, member.id)
    result = ExportResult(sha256="")
    entries: dict[str, dict[str, Any]] = {}
    buffer = io.BytesIO() if not hasattr(out, "seek") else None
    target: IO[bytes] = buffer if buffer is not None else out
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            digest = hashlib.sha256(data).hexdigest()
            entries[name] = {"sha256": digest, "bytes": len(data)}
            result.files[name] = digest

        for name in member_tables_in_fk_order():
            table = complete_metadata().tables[name]
            columns = [c.name for c in table.columns if c.name not in EXCLUDED_COLUMNS]
            rows = await repository.export_rows(name, columns)
            buf = io.StringIO(newline="")
            writer = csv.writer(buf, lineterminator="\r\n")
            writer.writerow(columns)
            writer.writerows([_cell(v) for v in row] for row in rows)
            add(f"tables/{name}.csv", ("\ufeff" + buf.getvalue()).encode("utf-8"))
            result.row_counts[name] = len(rows)
        backend = backend_for(settings)
        prefix = f"{member.id}/"
        for key in await backend.keys(prefix):
            data = await backend.read(key)
            if data is not None:
                add(f"blobs/{key.removeprefix(prefix)}", data)
        manifest = {
            "member": {"id": str(member.id), "lg_code": member.lg_code, "name": member.name},
            "created_at": dt.datetime.now(JST).isoformat(),
            "row_counts": result.row_counts,
            "files": entries,
            "hash": "sha256",
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))
    if buffer is not None:
        out.write(buffer.getvalue())
        result.sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
    else:
        out.seek(0)
        result.sha256 = hashlib.sha256(out.read()).hexdigest()
    return result


class DeletionRefused(Invalid):
    """The member may not be deleted (yet), or the deletion was not confirmed."""


async def delete_member(
    session: AsyncSession,
    member: Member,
    settings: Settings,
    *,
    by: str,
    export_sha256: str = "",
    confirm: str | None = None,
) -> DeletionReport:
    """Delete every row and blob of ``member`` and keep a report; the member becomes ``left``.

    ``confirm``, when given, is the member's local government code typed again
    by the person deleting (the screens ask for it).

    Raises:
        DeletionRefused: the code typed does not match, or the member is not in
            the ``leaving`` stage.
    """
    if confirm is not None and confirm.strip() != member.lg_code:
        raise DeletionRefused(
            _("Type the member's local government code ({code}) to confirm the deletion.").format(code=member.lg_code)
        )
    if MemberStatus(member.status) is not MemberStatus.LEAVING:
        raise DeletionRefused(
            "構成団体のデータを削除できるのは「脱退手続中」の段階だけです。先に段階を変更してください。"
        )
    async with elevated(session):
        counts = await OnboardingRepository(session, member.id).delete_everything()
    backend = backend_for(settings)
    keys = await backend.keys(f"{member.id}/")
    size = 0
    for key in keys:
        size += len(await backend.read(key) or b"")
    await backend.delete(keys)
    blob_root = member_blob_dir(settings, member.id)
    if blob_root.exists():  # empty folders the file system backend leaves behind
        shutil.rmtree(blob_root)
    member.status = MemberStatus.LEFT
    member.left_on = dt.datetime.now(JST).date()
    report = DeletionReport(
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        member_name=member.name,
        lg_code=member.lg_code,
        deleted_by=by,
        row_counts=dict(sorted(counts.items())),
        blob_files=len(keys),
        blob_bytes=size,
        export_sha256=export_sha256,
    )
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
