"""Onboarding, bulk staff import, metering, service agreements and billing.

Two kinds of tables live here:

* **Member-owned** (``member_id`` + row-level security, exported and deleted when
  the member leaves): :class:`StaffImport`, :class:`TrialRun`, :class:`UsageEvent`.
* **Consortium records about a member** (``consortium_id`` + ``member_ref_id``; the
  secretariat reads them and they outlive the member's data, like a deletion
  report or an issued invoice must): stage history, checklist, agreements,
  invoices, deletion reports. They never hold contract contents. The column is
  deliberately not called ``member_id``: the generic export/deletion of a leaving
  member (see :mod:`onboarding.leaving`) takes every ``member_id`` table, and
  these records must survive it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

from advanced_alchemy.base import BigIntBase, UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import APPEND_ONLY
from tenants.models import MemberOwned, MemberStatus

__all__ = [
    "CHECKLIST_ITEMS",
    "ChecklistItem",
    "ConsortiumBilling",
    "DeletionReport",
    "DeletionRequest",
    "DeletionStatus",
    "Environment",
    "ImportStatus",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "MemberExport",
    "ServiceAgreement",
    "StaffImport",
    "StageChange",
    "TrialRun",
    "UsageEvent",
    "UsageKind",
]


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Environment(enum.StrEnum):
    """Which environment of a member something happened in."""

    TEST = "test"
    """Sandbox and trial: mails marked テスト, test seals, never billed."""
    LIVE = "live"


# --------------------------------------------------------------------------- stages


class StageChange(UUIDv7AuditBase):
    """One move of a member from one stage to the next: who, when, and why."""

    __tablename__ = "stage_change"
    __table_args__ = ({"info": {APPEND_ONLY: True}},)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    from_status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus, "member_status"))
    to_status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus, "member_status"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    changed_by: Mapped[str] = mapped_column(String(200))
    """Name and login ID of the person (or ``cli:<user>``) who made the move."""
    effective_on: Mapped[dt.date] = mapped_column(Date)
    """The day the new stage starts (go-live date for ``live``: billing starts here)."""
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """What the move did, e.g. rows of test data cleared at promotion to live."""


CHECKLIST_ITEMS: tuple[str, ...] = (
    "staff_briefing",
    "contractor_briefing",
    "workflow_review",
    "regulation_review",
    "data_preparation",
    "trial_runs",
    "go_live_date",
)
"""Onboarding steps tracked per member (ONB-2), in the order they are shown."""


class ChecklistItem(UUIDv7AuditBase):
    """A ticked onboarding step of a member, with its date and a note."""

    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("member_ref_id", "item"),)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    item: Mapped[str] = mapped_column(String(40))
    done_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class TrialRun(MemberOwned, UUIDv7AuditBase):
    """A contract run through the whole flow in the test environment (ONB-1: about five)."""

    __tablename__ = "trial_run"
    __table_args__ = (UniqueConstraint("member_id", "contract_id"),)

    contract_id: Mapped[uuid.UUID] = mapped_column()
    """The test contract (no foreign key: contracts are defined by the signing domain)."""
    concluded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --------------------------------------------------------------------------- metering


class UsageKind(enum.StrEnum):
    """What is metered."""

    CONTRACT_CONCLUDED = "contract_concluded"


class UsageEvent(MemberOwned, BigIntBase):
    """A metered event: the contract service writes one when a contract is concluded.

    Billing counts only ``environment = live``; test rows are cleared at go-live.
    """

    __tablename__ = "usage_event"
    __table_args__ = (
        UniqueConstraint("member_id", "kind", "subject_id"),
        Index("ix_usage_event_member_time", "member_id", "occurred_at"),
    )

    kind: Mapped[UsageKind] = mapped_column(_enum(UsageKind, "usage_kind"))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    """The contract concerned: one event per contract and kind, however often it is reported."""
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    environment: Mapped[Environment] = mapped_column(_enum(Environment, "environment"))


# --------------------------------------------------------------------------- staff import


class ImportStatus(enum.StrEnum):
    """Where a bulk staff import stands."""

    PREVIEWED = "previewed"
    """Parsed and checked; nothing written yet."""
    REJECTED = "rejected"
    """The file has problems; it can never be committed."""
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class StaffImport(MemberOwned, UUIDv7AuditBase):
    """A CSV of staff uploaded by a member administrator (ACC-1, SAP-6(7))."""

    __tablename__ = "staff_import"

    filename: Mapped[str] = mapped_column(String(255))
    encoding: Mapped[str] = mapped_column(String(20))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus, "import_status"))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    """The checked rows, as they will be applied."""
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    """``{"line": n, "column": …, "message": …}`` for every problem found."""
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Counts once applied: created, updated, unchanged."""
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# --------------------------------------------------------------------------- agreements and billing


class ServiceAgreement(UUIDv7AuditBase):
    """One version of a member's service agreement with the provider (ONB-3).

    Append-only: a price change or an extension is a new version effective from
    a date; the terms in force on a day are those of the latest version whose
    ``effective_from`` is on or before it. Past versions are never rewritten.
    """

    __tablename__ = "service_agreement"
    __table_args__ = (UniqueConstraint("member_ref_id", "version"), {"info": {APPEND_ONLY: True}})

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    monthly_fee: Mapped[Decimal] = mapped_column(Numeric(12, 0))
    """Yen per full month, before consumption tax."""
    included_contracts: Mapped[int] = mapped_column(Integer)
    extra_contract_price: Mapped[Decimal] = mapped_column(Numeric(12, 0))
    """Yen per concluded contract beyond the included ones, before tax."""
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")


class ConsortiumBilling(UUIDv7AuditBase):
    """Billing set-up of a consortium: who pays, and the gap-free invoice counter."""

    __tablename__ = "consortium_billing"

    consortium_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consortium.id", ondelete="RESTRICT"), unique=True, index=True
    )
    payer_member_ref_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("member.id", ondelete="RESTRICT"), nullable=True
    )
    """When set, this member pays for all (MOR-8) and gets one consolidated invoice."""
    last_invoice_number: Mapped[int] = mapped_column(Integer, default=0)
    """The last number issued; the row is locked FOR UPDATE while a number is taken."""


class InvoiceKind(enum.StrEnum):
    """Invoice or credit note (corrections never edit an issued invoice)."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class Invoice(UUIDv7AuditBase):
    """An issued invoice or credit note: immutable (the application may only insert)."""

    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("consortium_id", "number"), {"info": {APPEND_ONLY: True}})

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[InvoiceKind] = mapped_column(_enum(InvoiceKind, "invoice_kind"))
    month: Mapped[dt.date] = mapped_column(Date)
    """First day of the billed month."""
    payer_member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    payer_name: Mapped[str] = mapped_column(String(200))
    credits_invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="RESTRICT"), nullable=True
    )
    subtotal: Mapped[Decimal] = mapped_column(Numeric(14, 0))
    tax: Mapped[Decimal] = mapped_column(Numeric(14, 0))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 0))
    issued_on: Mapped[dt.date] = mapped_column(Date)
    issued_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    rate_totals: Mapped[list[dict[str, int]]] = mapped_column(JSONB, default=list, server_default="[]")
    """Per tax rate, as printed: ``[{"rate": 10, "subtotal": 69528, "tax": 6952}, …]`` (one rounding per rate)."""
    due_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    """支払期限 (none on a credit note, and on invoices issued before qualified invoices)."""
    # The issuer as printed on the invoice (copied from the settings when it was issued).
    issuer_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    issuer_address: Mapped[str] = mapped_column(String(400), default="", server_default="")
    registration_number: Mapped[str] = mapped_column(String(14), default="", server_default="")
    """適格請求書発行事業者の登録番号 (T and 13 digits)."""
    bank_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    bank_branch: Mapped[str] = mapped_column(String(100), default="", server_default="")
    bank_account_type: Mapped[str] = mapped_column(String(10), default="", server_default="")
    bank_account_number: Mapped[str] = mapped_column(String(20), default="", server_default="")
    bank_account_holder: Mapped[str] = mapped_column(String(100), default="", server_default="")


class InvoiceLine(UUIDv7AuditBase):
    """One line of an invoice: a member's fee for some days, or its extra contracts."""

    __tablename__ = "invoice_line"
    __table_args__ = ({"info": {APPEND_ONLY: True}},)

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    member_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(400))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 0))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 0))
    tax_rate: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    """Consumption tax rate of the line in percent: 10, or 8 for a reduced-rate item (軽減税率)."""


# --------------------------------------------------------------------------- leaving


class DeletionReport(UUIDv7AuditBase):
    """What was deleted of a member that left, kept after the deletion (DAT-3)."""

    __tablename__ = "deletion_report"
    __table_args__ = ({"info": {APPEND_ONLY: True}},)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    member_name: Mapped[str] = mapped_column(String(200))
    lg_code: Mapped[str] = mapped_column(String(6))
    deleted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_by: Mapped[str] = mapped_column(String(200))
    row_counts: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    """Table name → rows deleted."""
    blob_files: Mapped[int] = mapped_column(Integer, default=0)
    blob_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    export_sha256: Mapped[str] = mapped_column(String(64), default="")
    """SHA-256 of the export archive handed over before deletion, when one was made."""
    requested_by: Mapped[str] = mapped_column(String(300), default="", server_default="")
    """Who asked for the deletion (the member's request, as the secretariat recorded it)."""
    backups_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    """The last day on which a backup generation may still hold the member's data."""
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    """The deletion report as a PDF sealed by the platform, handed to the member."""
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")


class DeletionStatus(enum.StrEnum):
    """Where a requested deletion of a leaving member stands."""

    QUEUED = "queued"
    """Confirmed by the secretariat; a worker deletes and seals the report."""
    DONE = "done"
    FAILED = "failed"
    """Nothing was deleted (the report could not be sealed, or the member is no longer leaving)."""


class DeletionRequest(UUIDv7AuditBase):
    """The secretariat confirmed the deletion of a leaving member; a worker carries it out (DAT-3).

    Deleting every row and stored file and sealing the report is long work, so
    it never runs in the web request. At most one request per member is open
    (queued) at a time: a second click finds the first.
    """

    __tablename__ = "deletion_request"
    __table_args__ = (
        Index(
            "uq_deletion_request_open",
            "member_ref_id",
            unique=True,
            postgresql_where="status = 'queued'",
        ),
    )

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=DeletionStatus.QUEUED.value)
    requested_by: Mapped[str] = mapped_column(String(300))
    """Who asked for the deletion (the member's request), printed in the report."""
    confirmed_by: Mapped[str] = mapped_column(String(200))
    """The secretariat's person (or operator) who confirmed it."""
    export_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deletion_report.id", ondelete="RESTRICT"), nullable=True
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MemberExport(UUIDv7AuditBase):
    """A full export of a member's data was made (who, when, the archive's SHA-256) (DAT-1).

    A consortium record like :class:`DeletionReport`: it outlives the member's
    data, so the deletion report can name the export that was handed over.
    """

    __tablename__ = "member_export"
    __table_args__ = ({"info": {APPEND_ONLY: True}},)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    member_ref_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    exported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    exported_by: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(Integer)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    encoding: Mapped[str] = mapped_column(String(20))
    """Encoding of the CSV files: ``utf-8-sig`` or ``cp932``."""
    unmappable: Mapped[int] = mapped_column(Integer, default=0)
    """Characters that CP932 lacks, listed in the archive's report (0 for UTF-8)."""
