"""Contracts (envelopes): documents, text boxes, parties, audit trail, sealed files.

Every table carries ``member_id`` (row-level security); a contract also carries
the ``environment`` it was made in (test or live), by which go-live clears the
test contracts. Positions of text boxes are PDF points on a zero-based page
index, origin bottom-left, which is what the sealing service takes. The audit
trail is append-only (the application role has no UPDATE or DELETE on it) and
hash-chained per contract, or per member for events that concern no contract;
the trail of a test contract goes with the contract when go-live deletes it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import BigIntBase, UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import APPEND_ONLY
from onboarding.models import Environment
from tenants.models import MemberOwned

__all__ = [
    "AuditEvent",
    "AuditKind",
    "BulkBatch",
    "BulkBatchRow",
    "BulkBatchStatus",
    "BulkRowState",
    "ConclusionCertificate",
    "Contract",
    "ContractDocument",
    "ContractStatus",
    "DocumentKey",
    "Party",
    "PartyKind",
    "PartyStatus",
    "PortalSignIn",
    "SealedDocument",
    "TextBox",
]


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class ContractStatus(enum.StrEnum):
    """Where a contract is in its life."""

    DRAFT = "draft"
    """下書き: staff are still preparing it."""
    CIRCULATING = "circulating"
    """回覧中: sent, parties are agreeing in turn."""
    SEALING = "sealing"
    """封緘待ち: every party agreed; the sealing service has not finished."""
    CONCLUDED = "concluded"
    """締結済み: sealed and stored."""
    DECLINED = "declined"
    """差戻し: a party declined."""
    CANCELLED = "cancelled"
    """取消し: staff cancelled it before completion."""
    SEAL_FAILED = "seal_failed"
    """封緘できませんでした: every party agreed, but the document or a typed value cannot be sealed.

    Never retried by itself: staff replace the file or have a value corrected
    (both circulate again), or cancel. ``Contract.seal_failure`` says why.
    """

    @property
    def is_live(self) -> bool:
        """Still in progress or concluded: its audit trail is never purged."""
        return self in {
            ContractStatus.DRAFT,
            ContractStatus.CIRCULATING,
            ContractStatus.SEALING,
            ContractStatus.SEAL_FAILED,
            ContractStatus.CONCLUDED,
        }


class Contract(MemberOwned, UUIDv7AuditBase):
    """One contract: what is agreed, by whom, under which title of the member."""

    __tablename__ = "contract"
    __table_args__ = (
        Index("ix_contract_member_created", "member_id", "created_at"),
        Index("ix_contract_member_date", "member_id", "transaction_date"),
        Index("ix_contract_member_amount", "member_id", "amount"),
        Index("ix_contract_member_dept_created", "member_id", "department_id", "created_at"),
    )

    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract_title.id", ondelete="RESTRICT"), index=True)
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), nullable=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    subject: Mapped[str] = mapped_column(String(400))
    """件名."""
    contract_number: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """契約金額 in yen."""
    transaction_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    """取引年月日 / 契約日 (電子帳簿保存法 search key)."""
    counterparty: Mapped[str] = mapped_column(String(400), default="")
    """取引先 (電子帳簿保存法 search key)."""
    file_names: Mapped[str] = mapped_column(Text, default="")
    """The documents' file names, one per line, for search by a word in the file name."""
    status: Mapped[ContractStatus] = mapped_column(
        _enum(ContractStatus, "contract_status"), default=ContractStatus.DRAFT
    )
    environment: Mapped[Environment] = mapped_column(_enum(Environment, "environment"), default=Environment.LIVE)
    """``test`` when made while the member was in its sandbox or trial (:func:`onboarding.environment.environment_of`):
    its mails say テスト, its seal is the test certificate's, and promotion to live deletes it with its files,
    parties and trail. The services always set it; the default only covers rows made by hand."""
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    concluded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the seal was stored: the moment the contract is concluded (締結日時)."""
    seal_failure: Mapped[dict[str, object] | None] = mapped_column(JSONB, nullable=True)
    """Why sealing failed for good (``reason``, ``message`` in Japanese, ``document_id``, ``page``,
    ``text_box_id``, ``at``); cleared when the contract circulates again."""
    corrections: Mapped[list[dict[str, object]]] = mapped_column(JSONB, default=list, server_default="[]")
    """Corrections of the search keys after conclusion, oldest first: ``at``, ``by``, ``reason`` and
    ``changes`` (field → ``before``/``after``). Each is also an audit event (``corrected``) of the trail;
    this copy is what the contract page and the CSV show."""
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When staff deleted the draft: its files, parties and boxes are gone, the row stays for its audit trail
    (append-only) and no list, search or page shows it any more."""
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contract.id", ondelete="SET NULL"), nullable=True)
    """The declined contract this one revises (its earlier version, whose trail stays as it was)."""
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """1 for a new contract; one more than the declined contract it revises."""

    documents: Mapped[list[ContractDocument]] = relationship(
        lazy="raise", order_by="ContractDocument.position", back_populates="contract"
    )
    parties: Mapped[list[Party]] = relationship(
        lazy="raise", order_by="(Party.order_no, Party.created_at)", back_populates="contract"
    )
    sealed_documents: Mapped[list[SealedDocument]] = relationship(lazy="raise", back_populates="contract")


class ContractDocument(MemberOwned, UUIDv7AuditBase):
    """An uploaded PDF of a contract; the bytes live encrypted in the blob store under ``sha256``."""

    __tablename__ = "contract_document"
    __table_args__ = (UniqueConstraint("contract_id", "position"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    page_sizes: Mapped[list[list[float]]] = mapped_column(JSONB, default=list)
    """[width, height] in points of each page."""

    contract: Mapped[Contract] = relationship(lazy="raise", back_populates="documents")

    @property
    def page_count(self) -> int:
        """Number of pages."""
        return len(self.page_sizes)


class PartyKind(enum.StrEnum):
    """Who a party is."""

    CONTRACTOR = "contractor"
    STAFF = "staff"


class PartyStatus(enum.StrEnum):
    """A party's progress."""

    WAITING = "waiting"
    """Their turn has not come."""
    NOTIFIED = "notified"
    """Asked to agree (mail sent)."""
    AGREED = "agreed"
    DECLINED = "declined"
    FORWARDED = "forwarded"
    """Handed on to another person, who is a party of their own now."""
    CANCELLED = "cancelled"


class Party(MemberOwned, UUIDv7AuditBase):
    """A contractor or a member signer; parties with the same ``order_no`` agree in parallel."""

    __tablename__ = "contract_party"
    __table_args__ = (Index("ix_contract_party_contract_order", "contract_id", "order_no"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"))
    order_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[PartyKind] = mapped_column(_enum(PartyKind, "party_kind"))
    status: Mapped[PartyStatus] = mapped_column(_enum(PartyStatus, "party_status"), default=PartyStatus.WAITING)
    company: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="RESTRICT"), nullable=True)
    title_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contract_title.id", ondelete="RESTRICT"), nullable=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contractor_contact.id", ondelete="SET NULL"), nullable=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Argon2id hash of the access password staff pass on by phone or paper."""
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    """SHA-256 of the personal link's token (the token itself is only in the mail)."""
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    forwarded_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contract_party.id", ondelete="SET NULL"), nullable=True
    )

    contract: Mapped[Contract] = relationship(lazy="raise", back_populates="parties")

    @property
    def label(self) -> str:
        """Company and name, as shown in lists."""
        return f"{self.company} {self.name}".strip()


class TextBox(MemberOwned, UUIDv7AuditBase):
    """A box on a page that one party fills; position in PDF points, origin bottom-left."""

    __tablename__ = "contract_text_box"

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract_document.id", ondelete="CASCADE"))
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract_party.id", ondelete="CASCADE"))
    page: Mapped[int] = mapped_column(Integer)
    """Zero-based page index (as the sealing service takes it)."""
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(200))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)


class SealedDocument(MemberOwned, UUIDv7AuditBase):
    """A sealed PDF written by the sealing service (one per contract document and seal version)."""

    __tablename__ = "contract_sealed_document"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract_document.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    renew_by: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    """When the newest document timestamp's TSA certificate expires: renew before then (SIG-2)."""

    contract: Mapped[Contract] = relationship(lazy="raise", back_populates="sealed_documents")


class ConclusionCertificate(MemberOwned, UUIDv7AuditBase):
    """The sealed certificate of conclusion (締結証明書) of a contract, one per version."""

    __tablename__ = "contract_certificate"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    renew_by: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)


class AuditKind(enum.StrEnum):
    """What happened."""

    CREATED = "created"
    UPLOADED = "uploaded"
    UPDATED = "updated"
    SENT = "sent"
    NOTIFIED = "notified"
    REMINDED = "reminded"
    OPENED = "opened"
    PASSWORD_FAILED = "password_failed"  # noqa: S105 - an event name
    LOCKED = "locked"
    FILLED = "filled"
    AGREED = "agreed"
    DECLINED = "declined"
    FORWARDED = "forwarded"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    DOWNLOADED = "downloaded"
    SEALED = "sealed"
    SEAL_FAILED = "seal_failed"
    RECIRCULATED = "recirculated"
    DELETED = "deleted"
    REVISED = "revised"
    RENEWED = "renewed"
    SEARCHED = "searched"
    EXPORTED = "exported"
    MAIL_FAILED = "mail_failed"
    CORRECTED = "corrected"
    """Search keys of a concluded contract corrected, with the reason (before → after)."""
    MOVED = "moved"
    """The contract moved to another department (a reorganisation)."""


class AuditEvent(MemberOwned, BigIntBase):
    """One event of the audit trail; ``hash`` covers the row and the previous row's hash.

    The chain is per contract (``contract_id`` set) or per member (staff
    operations that concern no contract, e.g. searches and exports).
    """

    __tablename__ = "contract_audit_event"
    __table_args__ = (
        Index("ix_contract_audit_event_contract", "contract_id", "id"),
        Index("ix_contract_audit_event_member_time", "member_id", "occurred_at"),
        {"info": {APPEND_ONLY: True}},
    )

    contract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(300), default="")
    """Who: staff:<id> name, party:<id> company name, apikey:<id>, system."""
    email: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    documents: Mapped[list[str]] = mapped_column(JSONB, default=list)
    """SHA-256 of the contract's documents at the time of the event."""
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class DocumentKey(MemberOwned, UUIDv7AuditBase):
    """A member's data key for documents, wrapped (AES-GCM) by the platform's master key."""

    __tablename__ = "document_key"
    __table_args__ = (UniqueConstraint("member_id"),)

    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class PortalSignIn(UUIDv7AuditBase):
    """A sign-in link of the contractor portal, mailed to an address: one use, short-lived.

    Not a member's row: the portal lists what an address agreed to across
    members. Each row is also the record of the request (when, from where) and
    of its use; the browser that used it holds a cookie naming the row, valid
    for ``KYODO_PORTAL_SESSION_MINUTES`` after the use.
    """

    __tablename__ = "portal_sign_in"
    __table_args__ = (Index("ix_portal_sign_in_email_created", "email", "created_at"),)

    email: Mapped[str] = mapped_column(String(254))
    """The address as typed, lower-cased."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    requested_ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    used_ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    mailed: Mapped[bool] = mapped_column(Boolean, default=False)
    """A link was mailed: the address is an agreed party of a concluded contract (never shown to the requester)."""


class BulkBatchStatus(enum.StrEnum):
    """How far a bulk-sending batch got."""

    QUEUED = "queued"
    """Waiting for the worker."""
    RUNNING = "running"
    DONE = "done"
    """Every row was sent or failed."""


class BulkRowState(enum.StrEnum):
    """The outcome of one row of a bulk-sending batch."""

    PENDING = "pending"
    SENT = "sent"
    """Its contract was made and sent (in the same transaction as this state)."""
    FAILED = "failed"
    """Nothing of it was kept; ``error`` says why."""


class BulkBatch(MemberOwned, UUIDv7AuditBase):
    """One bulk sending (一括送信): a draft sent to the rows of a file, by one staff member or API key.

    ``sealed_passwords`` holds the access passwords of the rows, encrypted
    (AES-GCM) under the member's data key, until the one who started the batch
    has seen them once or :data:`signing.services._bulk.PASSWORDS_KEEP` is over;
    then it is emptied and ``passwords_dropped_at`` says when.
    """

    __tablename__ = "bulk_batch"
    __table_args__ = (Index("ix_bulk_batch_member_created", "member_id", "created_at"),)

    draft_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contract.id", ondelete="SET NULL"), nullable=True)
    draft_subject: Mapped[str] = mapped_column(String(400))
    environment: Mapped[Environment] = mapped_column(_enum(Environment, "environment"), default=Environment.LIVE)
    """The draft's: a test batch goes with the test contracts at go-live."""
    started_by: Mapped[str] = mapped_column(String(80))
    """``staff:<id>`` or ``apikey:<id>``: only this caller sees the batch."""
    started_by_name: Mapped[str] = mapped_column(String(200), default="")
    started_as: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    """The caller's principal and origin when it started (the worker acts as them)."""
    status: Mapped[BulkBatchStatus] = mapped_column(
        _enum(BulkBatchStatus, "bulk_batch_status"), default=BulkBatchStatus.QUEUED
    )
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sealed_passwords: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    passwords_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    """After this the passwords are dropped, seen or not."""
    passwords_shown_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    passwords_dropped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BulkBatchRow(MemberOwned, UUIDv7AuditBase):
    """One row of a batch: what it asked for and what became of it (kept as long as the member's contracts)."""

    __tablename__ = "bulk_batch_row"
    __table_args__ = (UniqueConstraint("batch_id", "line"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bulk_batch.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    """The line of the file (or the position in the JSON list, from 1)."""
    environment: Mapped[Environment] = mapped_column(_enum(Environment, "environment"), default=Environment.LIVE)
    data: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    """The checked row: company, person, e-mail, amount, contract number, subject, transaction date."""
    state: Mapped[BulkRowState] = mapped_column(_enum(BulkRowState, "bulk_row_state"), default=BulkRowState.PENDING)
    contract_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contract.id", ondelete="SET NULL"), nullable=True, index=True
    )
    contract_number: Mapped[str] = mapped_column(String(100), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
