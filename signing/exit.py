"""A leaving member's data, readable without Kyodo, and the sealed deletion report (DAT-1, DAT-3).

The export is one ZIP archive written to a file, entry by entry (never the
whole archive in memory). Documents are decrypted with the member's data key
on the way out, so every PDF opens in any viewer and its seal can be checked
there (Adobe Acrobat Reader, ``pdfsig``)::

    README.txt                  what is where, the columns, how to verify (Japanese)
    contracts.csv               one line per contract (metadata, status, dates)
    parties.csv                 one line per party of each contract
    files.csv                   every PDF of the archive: kind, version, SHA-256
    corrections.csv             every correction of a concluded contract's search keys (before, after, why)
    audit_trail.csv             the audit trail of every contract with its hash chain
    contracts/0001/original/…   the uploaded files
    contracts/0001/sealed/…     every sealed version (PAdES, timestamped)
    contracts/0001/certificate_v1.pdf   the certificate of conclusion (締結証明書), sealed
    other_files/…               stored files no contract refers to (nothing is left behind)
    tables/<table>.csv          every member-owned table as stored (UTF-8), for a migration
    cp932_unmappable.csv        CP932 archives only: characters CP932 lacks
    SHA256SUMS.txt, manifest.json   SHA-256 of every other entry

The human-readable CSV files are UTF-8 with BOM (Excel opens them) or, on
request, CP932 (Shift_JIS as Windows has it). A character CP932 lacks is written
as 〓 and listed, with file, line, column and code point, in
``cp932_unmappable.csv`` and in the outcome (the command prints it); a few
characters that only differ in how JIS and Windows map them (〜, −, ‖ …) are
written as their Windows form, as README says.

With a passphrase the archive is AES-256 encrypted (WinZip AE-2, through
pyzipper): 7-Zip, WinZip, Explorzip and macOS/Linux ``7z`` open it, it is a
plain ZIP otherwise, and no tool of ours is needed. Entry names are not
encrypted in that format, so an encrypted archive names its contracts by
number only.

The deletion report is a PDF (fpdf2, IPAexGothic embedded) sealed with the
platform's PAdES seal (:class:`signing.sealing.Sealer`); :func:`deletion_report_sealer`
hands :func:`onboarding.leaving.delete_member` the function that makes it.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyzipper  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.db import system_session
from core.errors import Invalid
from core.fonts import add_japanese_font, pdf_bytes
from core.i18n import format_date
from core.i18n import gettext as _
from core.settings import Settings
from onboarding import leaving
from onboarding.models import DeletionReport, MemberExport
from onboarding.operations import UnknownMember, operator, run_delete
from signing.blobs import BlobNotFoundError, BlobStore
from signing.fonts import japanese_font_path
from signing.labels import audit_kind_label, contract_status_label, party_status_label, speaking
from signing.models import AuditEvent, Contract, ContractDocument, PartyKind
from signing.repositories.exit import ExitRepository
from signing.sealing import Sealer
from signing.services import particulars_labels
from tenants import oplog
from tenants.models import Member, OperationKind

__all__ = [
    "ENCODINGS",
    "MIN_PASSPHRASE",
    "ExportOptions",
    "ExportOutcome",
    "Unmappable",
    "deletion_report_sealer",
    "export_options",
    "give_up_deletion",
    "render_deletion_report",
    "run_deletion_request",
    "run_member_delete",
    "run_member_export",
    "write_export",
]

ENCODINGS = {"utf-8": "utf-8-sig", "cp932": "cp932"}
"""Encodings the CSV files can be written in (the form's value → Python's codec)."""

MIN_PASSPHRASE = 10
"""Shortest passphrase accepted for an encrypted archive."""

GETA = "〓"
"""Written in place of a character CP932 lacks (the traditional placeholder), always reported."""

CP932_FORMS = {
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − MINUS SIGN → －
    "\u00a2": "\uffe0",  # ¢ → ￠
    "\u00a3": "\uffe1",  # £ → ￡
    "\u00ac": "\uffe2",  # ¬ → ￢
    "\u2014": "\u2015",  # — EM DASH → ―
}
"""Characters whose JIS mapping differs from Windows': written in their CP932 form, as README says."""

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass(frozen=True)
class ExportOptions:
    """What the administrator (or the operator) chose for the archive."""

    encoding: str = "utf-8"
    """``utf-8`` (with BOM) or ``cp932``."""
    passphrase: str = ""
    """Empty: a plain ZIP; otherwise AES-256 with this passphrase."""


def export_options(encoding: str, passphrase: str = "", confirm: str | None = None) -> ExportOptions:
    """Check what was chosen on the screen or the command line.

    Raises:
        Invalid: unknown encoding, passphrase too short or not typed the same twice.
    """
    encoding = (encoding or "utf-8").strip().lower()
    if encoding not in ENCODINGS:
        raise Invalid(_("Choose UTF-8 or CP932 (Shift_JIS) for the CSV files."))
    if passphrase and len(passphrase) < MIN_PASSPHRASE:
        raise Invalid(_("The passphrase must be at least {count} characters long.").format(count=MIN_PASSPHRASE))
    if confirm is not None and passphrase != confirm:
        raise Invalid(_("The two passphrases differ. Type the same passphrase twice."))
    return ExportOptions(encoding=encoding, passphrase=passphrase)


@dataclass(frozen=True)
class Unmappable:
    """A character of a CSV value that CP932 cannot hold."""

    file: str
    line: int
    """Line of the CSV file (the heading is line 1)."""
    column: str
    character: str
    value: str

    @property
    def codepoint(self) -> str:
        """``U+20BB7``."""
        return f"U+{ord(self.character):04X}"


@dataclass
class ExportOutcome:
    """What went into the archive."""

    path: Path
    sha256: str
    size: int
    files: dict[str, str] = field(default_factory=dict)
    """Archive entry → SHA-256 of its contents."""
    row_counts: dict[str, int] = field(default_factory=dict)
    unmappable: list[Unmappable] = field(default_factory=list)
    contracts: int = 0
    pdfs: int = 0
    record: MemberExport | None = None


# --------------------------------------------------------------------------- writing the archive


class _Archive:
    """A ZIP file being written, entry by entry, off the event loop."""

    def __init__(self, path: Path, passphrase: str) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if passphrase:
            self.zip: zipfile.ZipFile = pyzipper.AESZipFile(
                path, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
            )
            self.zip.setpassword(passphrase.encode("utf-8"))
            self.zip.setencryption(pyzipper.WZ_AES, nbits=256)
        else:
            self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)

    def _write(self, name: str, data: bytes) -> None:
        # PDFs are already compressed: storing them costs nothing and saves the CPU.
        kind = zipfile.ZIP_STORED if name.endswith(".pdf") else zipfile.ZIP_DEFLATED
        self.zip.writestr(name, data, compress_type=kind)
        self.entries[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    async def add(self, name: str, data: bytes) -> None:
        """Compress (and encrypt) one entry in a worker thread."""
        if name in self.entries:
            raise ValueError(f"duplicate entry {name}")
        await asyncio.to_thread(self._write, name, data)

    async def close(self) -> None:
        await asyncio.to_thread(self.zip.close)


def _safe(name: str, limit: int = 80) -> str:
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned[:limit] or "file"


def _pdf_name(name: str) -> str:
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    return _safe(stem) + ".pdf"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(JST).isoformat(timespec="seconds") if value else ""


def _when_stored(value: object) -> str:
    """A moment kept as ISO text in a JSON column, in Japan time like every other column."""
    try:
        return _when(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value or "")


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


class _CsvWriter:
    """Human-readable CSV in the chosen encoding; CP932 gaps are reported, never hidden."""

    def __init__(self, encoding: str, unmappable: list[Unmappable]) -> None:
        self.encoding = encoding
        self.unmappable = unmappable

    def _cell(self, file: str, line: int, column: str, value: str) -> str:
        if self.encoding != "cp932":
            return value
        out: list[str] = []
        for typed in value:
            char = CP932_FORMS.get(typed, typed)
            try:
                char.encode("cp932")
            except UnicodeEncodeError:
                self.unmappable.append(Unmappable(file, line, column, char, value))
                char = GETA
            out.append(char)
        return "".join(out)

    def render(self, file: str, headings: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(headings)
        for line, row in enumerate(rows, start=2):
            writer.writerow(
                [self._cell(file, line, headings[i], "" if v is None else str(v)) for i, v in enumerate(row)]
            )
        text = buf.getvalue()
        if self.encoding == "cp932":
            return text.encode("cp932")
        return ("\ufeff" + text).encode("utf-8")


CONTRACT_COLUMNS = (
    "契約ID",
    "フォルダ",
    "契約番号",
    "件名",
    "状態",
    "契約名義",
    "部署",
    "契約金額（円）",
    "取引年月日",
    "相手方",
    "環境",
    "作成日時",
    "送信日時",
    "締結日時",
    "取消日時",
)
PARTY_COLUMNS = (
    "契約ID",
    "契約番号",
    "順番",
    "区分",
    "事業者名",
    "氏名",
    "メールアドレス",
    "状態",
    "回答日時",
    "辞退の理由",
)
CORRECTION_COLUMNS = ("契約ID", "契約番号", "訂正日時", "訂正者", "理由", "項目", "訂正前", "訂正後")
"""corrections.csv: one line per corrected search key of a concluded contract (電子帳簿保存法: the history)."""
FILE_COLUMNS = ("契約ID", "契約番号", "種類", "版", "元のファイル名", "アーカイブ内のパス", "SHA-256", "バイト数")
TRAIL_COLUMNS = (
    "連番",
    "契約ID",
    "契約番号",
    "日時",
    "種類",
    "種類（表示名）",
    "実行者",
    "メールアドレス",
    "IPアドレス",
    "ユーザーエージェント",
    "対象ファイルのSHA-256",
    "詳細（JSON）",
    "直前のハッシュ",
    "ハッシュ",
)


async def write_export(
    session: AsyncSession,
    member: Member,
    path: Path,
    settings: Settings,
    options: ExportOptions,
    *,
    by: str,
    who: oplog.Who | None = None,
) -> ExportOutcome:
    """Write the member's readable export to ``path`` and record it; the caller commits.

    ``session`` must see the member's rows (its administrator's request, or the
    operator's command with system access). The archive is written to a
    temporary file next to ``path`` and renamed when complete. The export is
    recorded in the member's operation log and as a consortium record
    (:class:`~onboarding.models.MemberExport`), which outlives the member's data.
    """
    part = path.with_name(f".{path.name}.part")
    try:
        outcome = await _write(session, member, part, settings, options)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    outcome.path = path
    outcome.sha256, outcome.size = await asyncio.to_thread(_digest, path)
    detail = {
        "sha256": outcome.sha256,
        "bytes": outcome.size,
        "files": len(outcome.files),
        "contracts": outcome.contracts,
        "encrypted": bool(options.passphrase),
        "encoding": options.encoding,
        "unmappable": len(outcome.unmappable),
    }
    outcome.record = leaving.record_export(
        session,
        member,
        by=by,
        sha256=outcome.sha256,
        size=outcome.size,
        files=len(outcome.files),
        encrypted=bool(options.passphrase),
        encoding=options.encoding,
        unmappable=len(outcome.unmappable),
    )
    await oplog.record(
        session,
        member_id=member.id,
        kind=OperationKind.EXPORTED,
        target=oplog.target("member", member.id, member.name),
        detail={"full_export": True, **detail},
        who=who or oplog.Who(by),
    )
    return outcome


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def _write(  # noqa: PLR0915 - one archive, written in order
    session: AsyncSession, member: Member, part: Path, settings: Settings, options: ExportOptions
) -> ExportOutcome:
    repo = ExitRepository(session, member.id)
    store = BlobStore(settings)
    outcome = ExportOutcome(path=part, sha256="", size=0)
    csvs = _CsvWriter(options.encoding, outcome.unmappable)
    encrypted = bool(options.passphrase)
    archive = _Archive(part, options.passphrase)
    try:
        contracts = await repo.contracts()
        titles = await repo.title_names()
        departments = await repo.department_names()
        folders = {c.id: f"contracts/{i:04d}" for i, c in enumerate(contracts, start=1)}
        numbers = {c.id: c.contract_number for c in contracts}
        outcome.contracts = len(contracts)
        referenced: set[str] = set()
        file_rows: list[list[object]] = []

        async def pdf(contract: Contract, kind: str, version: int | str, original: str, name: str, *, sha: str) -> None:
            data = await store.get(session, member.id, sha)
            entry = f"{folders[contract.id]}/{name}"
            await archive.add(entry, data)
            referenced.add(sha)
            outcome.pdfs += 1
            file_rows.append([contract.id, contract.contract_number, kind, version, original, entry, sha, len(data)])

        by_id = {c.id: c for c in contracts}
        documents: dict[Any, ContractDocument] = {}
        for document in await repo.documents():
            documents[document.id] = document
            label = f"{document.position:02d}" if encrypted else f"{document.position:02d}_{document.file_name}"
            await pdf(
                by_id[document.contract_id],
                "原本",
                "",
                document.file_name,
                f"original/{_pdf_name(label)}",
                sha=document.sha256,
            )
        for sealed in await repo.sealed_documents():
            document = documents[sealed.document_id]
            stem = f"{document.position:02d}" if encrypted else f"{document.position:02d}_{document.file_name}"
            name = _pdf_name(stem)[:-4] + f"_v{sealed.version}.pdf"
            await pdf(
                by_id[sealed.contract_id],
                "締結済み（封緘版）",
                sealed.version,
                document.file_name,
                f"sealed/{name}",
                sha=sealed.sha256,
            )
        for certificate in await repo.certificates():
            await pdf(
                by_id[certificate.contract_id],
                "締結証明書",
                certificate.version,
                "",
                f"certificate_v{certificate.version}.pdf",
                sha=certificate.sha256,
            )

        with speaking("ja"):
            await archive.add(
                "contracts.csv",
                csvs.render("contracts.csv", CONTRACT_COLUMNS, _contract_rows(contracts, folders, titles, departments)),
            )
            parties = await repo.parties()
            await archive.add(
                "parties.csv",
                csvs.render(
                    "parties.csv",
                    PARTY_COLUMNS,
                    (
                        [
                            p.contract_id,
                            numbers.get(p.contract_id, ""),
                            p.order_no,
                            "契約者" if p.kind is PartyKind.CONTRACTOR else "職員",
                            p.company,
                            p.name,
                            p.email,
                            party_status_label(p.status),
                            _when(p.answered_at),
                            p.decline_reason,
                        ]
                        for p in parties
                    ),
                ),
            )
            await archive.add(
                "corrections.csv",
                csvs.render("corrections.csv", CORRECTION_COLUMNS, _correction_rows(contracts, numbers)),
            )
            await archive.add("files.csv", csvs.render("files.csv", FILE_COLUMNS, file_rows))
            trail = await repo.trail()
            await archive.add(
                "audit_trail.csv", csvs.render("audit_trail.csv", TRAIL_COLUMNS, _trail_rows(trail, numbers))
            )

        # Stored files no row refers to: decrypted when they can be, as stored otherwise.
        prefix = f"{member.id}/"
        for key in await store.member_objects(member.id):
            sha = key.rsplit("/", 1)[-1]
            if sha in referenced:
                continue
            try:
                data = await store.get(session, member.id, sha)
                name = f"other_files/{sha}" + (".pdf" if data.startswith(b"%PDF") else "")
            except (BlobNotFoundError, ValueError, ArithmeticError, Exception):  # noqa: BLE001 - anything not decryptable is kept as stored
                raw = await store.backend.read(key)
                if raw is None:
                    continue
                data, name = raw, f"other_files/as_stored/{_safe(key.removeprefix(prefix).replace('/', '_'), 200)}"
            await archive.add(name, data)

        async for table, data, count in leaving.table_csvs(session, member):
            await archive.add(f"tables/{table}.csv", data)
            outcome.row_counts[table] = count

        if options.encoding == "cp932":
            report = _CsvWriter("utf-8", []).render(
                "cp932_unmappable.csv",
                ("ファイル", "行", "列", "文字", "コードポイント", "元の値"),
                ([u.file, u.line, u.column, u.character, u.codepoint, u.value] for u in outcome.unmappable),
            )
            await archive.add("cp932_unmappable.csv", report)
        await archive.add("README.txt", _readme(member, options, outcome, settings).encode("utf-8-sig"))

        sums = "".join(f"{e['sha256']}  {name}\n" for name, e in sorted(archive.entries.items()))
        manifest = {
            "member": {"id": str(member.id), "lg_code": member.lg_code, "name": member.name},
            "created_at": dt.datetime.now(JST).isoformat(),
            "encoding": options.encoding,
            "encrypted": encrypted,
            "contracts": outcome.contracts,
            "row_counts": outcome.row_counts,
            "files": dict(sorted(archive.entries.items())),
            "hash": "sha256",
        }
        outcome.files = {name: e["sha256"] for name, e in archive.entries.items()}
        await archive.add("SHA256SUMS.txt", sums.encode("utf-8"))
        await archive.add("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    finally:
        await archive.close()
    return outcome


def _contract_rows(
    contracts: Sequence[Contract], folders: dict[Any, str], titles: dict[Any, str], departments: dict[Any, str]
) -> Iterable[list[object]]:
    for c in contracts:
        yield [
            c.id,
            folders[c.id],
            c.contract_number,
            c.subject,
            contract_status_label(c.status),
            titles.get(c.title_id, ""),
            departments.get(c.department_id, "") if c.department_id else "",
            "" if c.amount is None else c.amount,
            _day(c.transaction_date),
            c.counterparty,
            "テスト" if str(c.environment) == "test" else "本番",
            _when(c.created_at),
            _when(c.sent_at),
            _when(c.concluded_at),
            _when(c.cancelled_at),
        ]


def _correction_rows(contracts: Sequence[Contract], numbers: dict[Any, str]) -> Iterable[list[object]]:
    """Every correction of every contract, oldest first, one line per field: before and after as corrected."""
    labels = particulars_labels()
    for c in contracts:
        for correction in c.corrections or []:
            changes = correction.get("changes")
            for name, change in (changes if isinstance(changes, dict) else {}).items():
                before, after = (change.get("before"), change.get("after")) if isinstance(change, dict) else ("", "")
                yield [
                    c.id,
                    numbers.get(c.id, ""),
                    _when_stored(correction.get("at")),
                    correction.get("by", ""),
                    correction.get("reason", ""),
                    labels.get(name, name),
                    "" if before is None else before,
                    "" if after is None else after,
                ]


def _trail_rows(trail: Sequence[AuditEvent], numbers: dict[Any, str]) -> Iterable[list[object]]:
    for e in trail:
        yield [
            e.id,
            e.contract_id or "",
            numbers.get(e.contract_id, "") if e.contract_id else "",
            e.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            e.kind,
            audit_kind_label(e.kind),
            e.actor,
            e.email,
            e.ip or "",
            e.user_agent,
            " ".join(e.documents),
            json.dumps(e.detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str),
            e.prev_hash,
            e.hash,
        ]


def _readme(member: Member, options: ExportOptions, outcome: ExportOutcome, settings: Settings) -> str:
    now = dt.datetime.now(JST)
    encoding = "CP932（Shift_JIS、Windows の標準）" if options.encoding == "cp932" else "UTF-8（BOM付き）"
    lines = [
        f"{member.name}（地方公共団体コード {member.lg_code}）の全データ",
        f"電子契約サービス「共同」から {format_date(now, era=True, locale='ja')} {now:%H:%M} に書き出しました。",
        "",
        "このアーカイブの中身はすべて一般的な形式（PDF・CSV・テキスト）で、「共同」がなくても読めます。",
        "",
        "■ 構成",
        "  README.txt           この説明",
        "  contracts.csv        契約の一覧（1行 = 1契約）",
        "  parties.csv          各契約の当事者（1行 = 1当事者）",
        "  corrections.csv      締結後に訂正した検索項目の履歴（1行 = 1項目の訂正、訂正前と訂正後）",
        "  files.csv            このアーカイブに入っているすべてのPDF（種類・版・SHA-256）",
        "  audit_trail.csv      各契約の監査記録（操作の履歴とハッシュ）",
        "  contracts/0001/ …    契約ごとのフォルダ（番号は contracts.csv の「フォルダ」列）",
        "      original/        アップロードされた元のファイル",
        "      sealed/          締結済み（封緘版）のファイル。_v1, _v2 … は版（タイムスタンプ更新ごとに版が増えます）",
        "      certificate_v1.pdf  締結証明書（版ごと）",
        "  other_files/         どの契約からも参照されていない保存ファイル（as_stored/ は保存時のまま）",
        "  tables/              データベースの全テーブル（移行用、UTF-8 BOM付き、列名は英語）",
    ]
    if options.encoding == "cp932":
        lines.append("  cp932_unmappable.csv  CP932 で表せない文字の一覧（UTF-8）")
    lines += [
        "  SHA256SUMS.txt       すべてのファイルの SHA-256（sha256sum -c で確認できます）",
        "  manifest.json        同じ内容を機械で読める形で（ファイル名・SHA-256・バイト数・件数）",
        "",
        "■ CSV の文字コード",
        f"  contracts.csv、parties.csv、corrections.csv、files.csv、audit_trail.csv は {encoding} です。"
        "日時は日本時間（ISO 8601）、",
        "  audit_trail.csv の日時はハッシュ計算と同じ UTC です。tables/ は常に UTF-8 です。",
    ]
    if options.encoding == "cp932":
        lines += [
            "  CP932 にない文字（例: 𠮷）は「〓」と書き、cp932_unmappable.csv にファイル・行・列・元の値とともに",
            "  すべて記載しています。元の文字は UTF-8 の tables/ にもそのまま残っています。",
            f"  今回該当した文字: {len(outcome.unmappable)} 件。",
            "  JIS と Windows で対応が異なる 〜 − ‖ ¢ £ ¬ — は、Windows の字形（～ － ∥ ￠ ￡ ￢ ―）で書いています。",
        ]
    lines += [
        "",
        "■ 列の意味",
        "  contracts.csv: " + "、".join(CONTRACT_COLUMNS),
        "    状態は画面と同じ名前です（下書き・回覧中・封緘待ち・締結済み・辞退・取消し など）。",
        "  parties.csv: " + "、".join(PARTY_COLUMNS),
        "  corrections.csv: " + "、".join(CORRECTION_COLUMNS),
        "    訂正のたびに理由とともに記録され、同じ内容が audit_trail.csv の「訂正」の行にもあります。",
        "  files.csv: " + "、".join(FILE_COLUMNS),
        "    種類: 原本 = アップロードされたファイル、締結済み（封緘版）= 電子署名とタイムスタンプ付きのファイル、",
        "    締結証明書 = 当事者・合意の記録・各ファイルの SHA-256 を記載し封緘した証明書。",
        "  audit_trail.csv: " + "、".join(TRAIL_COLUMNS),
        "",
        "■ 封緘（電子署名）の確認方法",
        "  締結済みファイルと締結証明書には、サービス提供者の電子署名（PAdES、DocMDP「変更不可」の認証署名）、",
        "  RFC 3161 タイムスタンプ、検証情報（証明書・OCSP 応答・CRL）、文書タイムスタンプが付いています。",
        "  ・Adobe Acrobat Reader: ファイルを開き「署名パネル」で署名とタイムスタンプが有効であることを確認します。",
        "    提供者の認証局が信頼済みでない場合は、その証明書を「信頼済み証明書」に追加してから確認します。",
        "  ・pdfsig（poppler-utils）: pdfsig ファイル名.pdf",
        "  ・pyHanko: pyhanko sign validate --pretty-print ファイル名.pdf",
        "  ファイルの SHA-256 は files.csv、締結証明書、audit_trail.csv の「対象ファイルのSHA-256」と一致します。",
        "",
        "■ 監査記録のハッシュ",
        "  各行の「ハッシュ」は、その行の内容と「直前のハッシュ」を並べた JSON の SHA-256 です",
        "  （キー: member_id, contract_id, kind, occurred_at, actor, email, ip, user_agent, documents, detail,",
        "  prev_hash。",
        "  キー順に並べ、区切りは , と : のみ、非 ASCII 文字はそのまま UTF-8）。",
        "  契約ごとに最初の行の直前のハッシュは 64 個の 0 で、行をたどると改ざんの有無を確かめられます。",
        "",
        "■ アーカイブ全体の確認",
        "  Linux/macOS: sha256sum -c SHA256SUMS.txt（macOS は shasum -a 256 -c SHA256SUMS.txt）",
        "  Windows: certutil -hashfile ファイル名 SHA256 で個々のファイルを確認できます。",
        "  アーカイブ自体の SHA-256 は、書き出した管理者の画面とコマンドの出力に表示され、",
        "  操作ログと削除報告書にも記録されます。",
    ]
    if options.passphrase:
        lines += [
            "",
            "■ 暗号化",
            "  このアーカイブは管理者が決めたパスフレーズで AES-256 暗号化されています",
            "  （ZIP の AES 暗号化、WinZip AE-2 形式）。7-Zip、WinZip、Lhaplus などで開けます",
            "  （Windows 標準の「すべて展開」は AES 暗号化 ZIP に対応していません）。",
            "  ZIP の AES 暗号化は広く使われ、無償のソフトで開けるため採用しています。",
            "  ファイル名は暗号化されないため、暗号化したアーカイブでは契約をフォルダ番号だけで表し、",
            "  件名・ファイル名は CSV（暗号化されています）にのみ記載しています。",
        ]
    lines += [
        "",
        f"契約 {outcome.contracts} 件、PDF {outcome.pdfs} ファイル。",
        f"バックアップは {settings.backup.keep} 世代保持されます。削除後もその期間はバックアップに残ることがあります。",
    ]
    return "\r\n".join(lines) + "\r\n"


# --------------------------------------------------------------------------- the deletion report


def _jst(moment: dt.datetime) -> str:
    local = moment.astimezone(JST)
    return f"{format_date(local, era=True, locale='ja')} {local:%H:%M:%S}"


class _Report(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        # Parsed once per process (core.fonts); table headings ask for bold, the one weight serves.
        font = japanese_font_path()
        add_japanese_font(self, "IPAexGothic", path=font)
        add_japanese_font(self, "IPAexGothic", "B", path=font)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title("構成団体データ削除報告書")
        self.set_creator("Kyodo")
        self.set_lang("ja")

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("IPAexGothic", size=8)
        self.cell(0, 6, f"{self.page_no()} / {{nb}}", align="C")


def render_deletion_report(report: DeletionReport, settings: Settings) -> bytes:
    """The deletion report as PDF bytes (not yet sealed), in Japanese."""
    pdf = _Report()
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("IPAexGothic", size=18)
    pdf.cell(0, 14, "構成団体データ削除報告書", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("IPAexGothic", size=10)
    pdf.multi_cell(
        0,
        6,
        "電子契約サービス「共同」に保存されていた下記構成団体のデータ（データベースの全行と保存ファイル）を"
        "削除したことを報告します。本書はサービス提供者の電子署名とタイムスタンプにより封緘されています。",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)
    until = report.backups_until
    rows = [
        ("団体", f"{report.member_name}（地方公共団体コード {report.lg_code}）"),
        ("削除を依頼した者", report.requested_by or "—"),
        ("削除を実施した者", report.deleted_by),
        ("削除日時", _jst(report.deleted_at)),
        ("引き渡したエクスポートの SHA-256", report.export_sha256 or "（記録なし）"),
        ("保存ファイル", f"{report.blob_files:,} ファイル、{report.blob_bytes:,} バイト"),
        (
            "バックアップに残る期限",
            (
                f"{format_date(until, era=True, locale='ja')}まで"
                f"（毎日のバックアップを {settings.backup.keep} 世代保持。"
                "この日を過ぎるとすべての世代から消えます）"
            )
            if until
            else "—",
        ),
        ("報告書ID", str(report.id)),
    ]
    _table(pdf, ["項目", "内容"], [list(r) for r in rows], [50, 130])
    pdf.ln(4)
    pdf.set_font("IPAexGothic", size=12)
    pdf.cell(0, 8, "削除した件数（種類ごと）", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    counts = [
        [leaving.TABLE_KINDS.get(table, table), table, f"{count:,}"]
        for table, count in sorted(report.row_counts.items())
    ]
    counts.append(["合計", "", f"{sum(report.row_counts.values()):,}"])
    _table(pdf, ["種類", "テーブル", "件数"], counts, [80, 70, 30])
    return pdf_bytes(pdf)


def _table(pdf: FPDF, headings: list[str], rows: list[list[str]], widths: list[int]) -> None:
    pdf.set_font("IPAexGothic", size=9)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=5.5, first_row_as_headings=True) as table:
        header = table.row()
        for heading in headings:
            header.cell(heading)
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(value)


def deletion_report_sealer(settings: Settings) -> leaving.ReportSealer:
    """What turns a deletion report into its PDF sealed with the platform's seal (the provider certificate)."""

    async def seal(report: DeletionReport) -> bytes:
        document = await asyncio.to_thread(render_deletion_report, report, settings)
        async with Sealer(settings.seal_key) as sealer:
            return await sealer.seal(
                document,
                [],
                reason=f"{report.member_name} データ削除報告書",
                location="電子契約サービス「共同」",
            )

    return seal


async def run_deletion_request(settings: Settings, request_id: uuid.UUID) -> str:
    """The worker's deletion of a leaving member the secretariat confirmed; the outcome's status.

    Sealing errors propagate (nothing is deleted; the task retries).
    """
    async with system_session(settings) as session:
        request = await leaving.carry_out_deletion(
            session, settings, request_id, seal_report=deletion_report_sealer(settings)
        )
        return request.status if request is not None else "missing"


async def give_up_deletion(settings: Settings, request_id: uuid.UUID) -> None:
    """Mark a deletion failed after every retry; nothing of the member was deleted."""
    async with system_session(settings) as session:
        await leaving.fail_deletion(
            session,
            request_id,
            _("The deletion report could not be sealed, so nothing was deleted. Try again later."),
        )


# --------------------------------------------------------------------------- operator commands


async def _member_by_code(session: AsyncSession, code: str) -> Member:
    member = await session.scalar(select(Member).where(Member.lg_code == code.strip()))
    if member is None:
        raise UnknownMember(f"地方公共団体コード {code} の構成団体は登録されていません。")
    return member


async def run_member_export(settings: Settings, code: str, out: Path, options: ExportOptions) -> ExportOutcome:
    """``kyodo member export``: write the member's readable export to ``out`` and record it."""
    async with system_session(settings) as session:
        member = await _member_by_code(session, code)
        return await write_export(session, member, out, settings, options, by=operator())


async def run_member_delete(
    settings: Settings, code: str, *, requested_by: str, export_sha256: str = ""
) -> DeletionReport:
    """``kyodo member delete``: delete everything of a leaving member; the report is sealed."""
    return await run_delete(
        settings,
        code,
        export_sha256=export_sha256,
        requested_by=requested_by,
        seal_report=deletion_report_sealer(settings),
    )
