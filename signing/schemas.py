"""What the contracts API returns (documented in the OpenAPI schema at /schema).

What it takes is the services' own input (:class:`signing.services.PartyInput`,
:class:`~signing.services.TextBoxInput`, :class:`~signing.services.PasswordInput`),
the same that the staff screens fill from their forms.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.i18n import gettext as _
from signing.labels import failure_message
from signing.models import AuditEvent, Contract, ContractDocument, Party, SealedDocument, TextBox
from signing.services import BatchView, BulkPreview, FinanceImport, FinanceRow

__all__ = [
    "AuditEventOut",
    "AuditTrailOut",
    "BulkBatchOut",
    "BulkBatchRowOut",
    "BulkPreviewOut",
    "BulkPreviewRowOut",
    "BulkProblemOut",
    "ContractOut",
    "ContractPage",
    "ContractStatusOut",
    "DocumentOut",
    "FinanceImportOut",
    "FinanceProblemOut",
    "FinanceRowOut",
    "PartyOut",
    "TextBoxOut",
]


@dataclass
class DocumentOut:
    """A file of a contract: ``sha256`` and ``size`` are those of the file a download returns.

    Once the contract is concluded that is the newest sealed version (``sealed``
    true); before, the uploaded original, which is not the concluded contract.
    """

    id: uuid.UUID
    file_name: str
    sha256: str
    size: int
    pages: int
    sealed: bool
    sealed_version: int | None
    original_sha256: str
    original_size: int

    @classmethod
    def of(cls, d: ContractDocument, sealed: Sequence[SealedDocument] = ()) -> DocumentOut:
        mine = [s for s in sealed if s.document_id == d.id]
        latest = max(mine, key=lambda s: s.version) if mine else None
        return cls(
            id=d.id,
            file_name=d.file_name,
            sha256=latest.sha256 if latest else d.sha256,
            size=latest.size if latest else d.size,
            pages=d.page_count,
            sealed=latest is not None,
            sealed_version=latest.version if latest else None,
            original_sha256=d.sha256,
            original_size=d.size,
        )


@dataclass
class PartyOut:
    """A party and its progress."""

    id: uuid.UUID
    order_no: int
    kind: str
    company: str
    name: str
    email: str
    status: str
    staff_id: uuid.UUID | None
    title_id: uuid.UUID | None

    @classmethod
    def of(cls, p: Party) -> PartyOut:
        return cls(
            id=p.id,
            order_no=p.order_no,
            kind=p.kind.value,
            company=p.company,
            name=p.name,
            email=p.email,
            status=p.status.value,
            staff_id=p.staff_id,
            title_id=p.title_id,
        )


@dataclass
class ContractOut:
    """A contract with its documents and parties."""

    id: uuid.UUID
    subject: str
    contract_number: str
    amount: int | None
    transaction_date: dt.date | None
    counterparty: str
    title_id: uuid.UUID
    department_id: uuid.UUID | None
    status: str
    created_at: dt.datetime
    concluded_at: dt.datetime | None = None
    """When the seal was stored (締結日時); null until then."""
    seal_failure: str | None = None
    """Why the contract could not be sealed (status ``seal_failed``), in the caller's language."""
    version: int = 1
    """1, or one more than the declined contract this one revises (``previous_id``)."""
    previous_id: uuid.UUID | None = None
    documents: list[DocumentOut] = field(default_factory=list)
    parties: list[PartyOut] = field(default_factory=list)

    @classmethod
    def of(cls, c: Contract, *, full: bool = True) -> ContractOut:
        return cls(
            id=c.id,
            subject=c.subject,
            contract_number=c.contract_number,
            amount=c.amount,
            transaction_date=c.transaction_date,
            counterparty=c.counterparty,
            title_id=c.title_id,
            department_id=c.department_id,
            status=c.status.value,
            created_at=c.created_at,
            concluded_at=c.concluded_at,
            seal_failure=failure_message(c.seal_failure) or None,
            version=c.version,
            previous_id=c.previous_id,
            documents=[DocumentOut.of(d, c.sealed_documents) for d in c.documents] if full else [],
            parties=[PartyOut.of(p) for p in c.parties] if full else [],
        )


@dataclass
class ContractPage:
    """One page of a list or search."""

    items: list[ContractOut]
    page: int
    per_page: int
    has_next: bool


@dataclass
class ContractStatusOut:
    """Where a contract stands."""

    id: uuid.UUID
    status: str
    parties: list[PartyOut]
    concluded_at: dt.datetime | None = None
    seal_failure: str | None = None

    @classmethod
    def of(cls, c: Contract) -> ContractStatusOut:
        return cls(
            id=c.id,
            status=c.status.value,
            parties=[PartyOut.of(p) for p in c.parties],
            concluded_at=c.concluded_at,
            seal_failure=failure_message(c.seal_failure) or None,
        )


@dataclass
class TextBoxOut:
    """A placed box."""

    id: uuid.UUID
    document_id: uuid.UUID
    party_id: uuid.UUID
    page: int
    x: float
    y: float
    width: float
    height: float
    label: str
    required: bool

    @classmethod
    def of(cls, b: TextBox) -> TextBoxOut:
        return cls(
            id=b.id,
            document_id=b.document_id,
            party_id=b.party_id,
            page=b.page,
            x=b.x,
            y=b.y,
            width=b.width,
            height=b.height,
            label=b.label,
            required=b.required,
        )


@dataclass
class AuditEventOut:
    """One event of a contract's audit trail: who (staff, API key, party or system), when, from where, what.

    ``hash`` covers the event and ``prev_hash``, the hash of the event before it
    in the contract's chain; ``documents`` are the SHA-256 of the contract's
    files at that moment.
    """

    id: int
    kind: str
    occurred_at: dt.datetime
    actor: str
    email: str
    ip: str | None
    user_agent: str
    documents: list[str]
    detail: dict[str, object]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            id=e.id,
            kind=e.kind,
            occurred_at=e.occurred_at,
            actor=e.actor,
            email=e.email,
            ip=str(e.ip) if e.ip is not None else None,
            user_agent=e.user_agent,
            documents=list(e.documents or []),
            detail=dict(e.detail or {}),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


@dataclass
class AuditTrailOut:
    """One page of a contract's audit trail, newest first."""

    contract_id: uuid.UUID
    items: list[AuditEventOut]
    page: int
    per_page: int
    has_next: bool


@dataclass
class FinanceProblemOut:
    """A problem of the file as a whole: its line (0: the file, 1: the header row) and what is wrong, in Japanese."""

    line: int
    message: str


@dataclass
class FinanceRowOut:
    """A row of the finance CSV as checked: ``action`` is ``create``, ``update``, ``unchanged`` or ``error``."""

    line: int
    action: str
    contract_id: uuid.UUID | None
    contract_number: str
    subject: str
    amount: int | None
    transaction_date: dt.date | None
    counterparty: str
    department: str
    changed: list[str]
    """The particulars the row changes (their names in the caller's language)."""
    problems: list[str]

    @classmethod
    def of(cls, row: FinanceRow) -> FinanceRowOut:
        return cls(
            line=row.line,
            action=row.action if not row.problems else "error",
            contract_id=row.contract_id,
            contract_number=row.contract_number,
            subject=row.subject,
            amount=row.amount,
            transaction_date=row.transaction_date,
            counterparty=row.counterparty,
            department=row.department,
            changed=list(row.changed),
            problems=list(row.problems),
        )


@dataclass
class FinanceImportOut:
    """What an import of the finance CSV did, or (``dry_run``) would do; ``applied`` only when rows were written.

    Any problem, in the file or in one row, means nothing was written.
    """

    dry_run: bool
    applied: bool
    encoding: str
    created: int
    updated: int
    unchanged: int
    problems: list[FinanceProblemOut]
    rows: list[FinanceRowOut]

    @classmethod
    def of(cls, result: FinanceImport, *, dry_run: bool) -> FinanceImportOut:
        return cls(
            dry_run=dry_run,
            applied=result.applied,
            encoding=result.encoding,
            created=result.count("create"),
            updated=result.count("update"),
            unchanged=result.count("unchanged"),
            problems=[FinanceProblemOut(line, message) for line, message in result.problems],
            rows=[FinanceRowOut.of(r) for r in result.rows],
        )


@dataclass
class BulkProblemOut:
    """A problem of the file or the list as a whole: its line (0: the whole request) and why, in Japanese."""

    line: int
    message: str


@dataclass
class BulkPreviewRowOut:
    """A row as it would be sent (the draft's values where the row leaves one empty), with its problems."""

    line: int
    """The line of the CSV file (the header is line 1), or the place in the JSON list (from 1)."""
    company: str
    person: str
    email: str
    amount: int | None
    contract_number: str
    subject: str
    transaction_date: dt.date | None
    problems: list[str]


@dataclass
class BulkPreviewOut:
    """The check of a bulk sending (a dry run: nothing was written): ``sendable`` when no problem remains."""

    draft_id: uuid.UUID
    sendable: bool
    problem_count: int
    problems: list[BulkProblemOut]
    rows: list[BulkPreviewRowOut]
    encoding: str
    """How the file was read (``utf-8``, ``utf-8-sig``, ``cp932``); empty for JSON rows."""

    @classmethod
    def of(cls, result: BulkPreview) -> BulkPreviewOut:
        return cls(
            draft_id=result.draft.id,
            sendable=result.sendable,
            problem_count=result.problem_count,
            problems=[BulkProblemOut(line=line, message=message) for line, message in result.problems],
            rows=[
                BulkPreviewRowOut(
                    line=r.line,
                    company=r.company,
                    person=r.person,
                    email=r.email,
                    amount=r.amount,
                    contract_number=r.contract_number,
                    subject=r.subject,
                    transaction_date=r.transaction_date,
                    problems=list(r.problems),
                )
                for r in result.rows
            ],
            encoding=result.encoding,
        )


@dataclass
class BulkBatchRowOut:
    """One row of a batch and what became of it."""

    line: int
    state: str
    """``pending`` (not yet processed), ``sent`` (its contract is in circulation) or ``failed`` (nothing kept)."""
    company: str
    person: str
    email: str
    contract_id: uuid.UUID | None
    contract_number: str
    error: str
    """Why the row failed, in Japanese (empty otherwise)."""
    password: str | None
    """The contractor's access password: only in the first answer after the batch is done, never again."""


@dataclass
class BulkBatchOut:
    """A bulk sending: progress, counts and every row's outcome; the access passwords once."""

    id: uuid.UUID
    draft_id: uuid.UUID | None
    draft_subject: str
    status: str
    """``queued``, ``running`` or ``done``."""
    total: int
    processed: int
    sent: int
    failed: int
    created_at: dt.datetime | None
    finished_at: dt.datetime | None
    passwords_included: bool
    """True in the one answer that carries the rows' ``password``; keep them now, they are not shown again."""
    passwords_note: str
    """What became of the passwords, in Japanese (shown now, shown before, or dropped unseen after 7 days)."""
    rows: list[BulkBatchRowOut]

    @classmethod
    def of(cls, batch: BatchView) -> BulkBatchOut:
        if batch.passwords_shown:
            note = _(
                "The access passwords are in this answer only and cannot be shown again: keep them now and pass "
                "each one on by phone or on paper. A lost one is replaced with a new access password for that party."
            )
        elif batch.passwords_gone and batch.passwords_shown_before:
            note = _(
                "The access passwords were shown once and can no longer be shown. If one was lost, set a new "
                "password for that contract's party (POST /api/v1/contracts/{id}/parties/{party_id}/password)."
            )
        elif batch.passwords_gone:
            note = _(
                "The access passwords were not looked at within seven days and have been deleted. Set a new "
                "password for each contract's party (POST /api/v1/contracts/{id}/parties/{party_id}/password)."
            )
        elif batch.running or batch.sent:
            note = _(
                "The access passwords come in the first answer of GET /api/v1/bulk/{id} once every row is done, "
                "and only in that one."
            )
        else:
            note = ""
        return cls(
            id=uuid.UUID(batch.id),
            draft_id=uuid.UUID(batch.draft_id) if batch.draft_id else None,
            draft_subject=batch.draft_subject,
            status=batch.status,
            total=len(batch.rows),
            processed=batch.processed,
            sent=len(batch.sent),
            failed=len(batch.failed),
            created_at=batch.created_at,
            finished_at=batch.finished_at,
            passwords_included=batch.passwords_shown,
            passwords_note=note,
            rows=[
                BulkBatchRowOut(
                    line=r.row.line,
                    state=r.state.value,
                    company=r.row.company,
                    person=r.row.person,
                    email=r.row.email,
                    contract_id=uuid.UUID(r.contract_id) if r.contract_id else None,
                    contract_number=r.contract_number,
                    error=r.error,
                    password=r.password or None,
                )
                for r in batch.rows
            ],
        )
