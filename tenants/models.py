"""The consortium, its members, secretariat, operators and contractor companies shared by all members;
and member-scoped data: departments, staff, contract titles, IP ranges, API keys, address book.

Every table here carries ``member_id`` and is listed in :data:`core.scope.MEMBER_OWNED`;
PostgreSQL row-level security hides other members' rows even from a query that
forgets its filter.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import BigIntBase, UUIDv7AuditBase
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import CIDR, INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import APPEND_ONLY, MemberOwned
from core.scope import ViewScope

__all__ = [
    "AddressBookEntry",
    "ApiKey",
    "Consortium",
    "ContractTitle",
    "ContractorCompany",
    "ContractorContact",
    "Department",
    "IpRange",
    "Member",
    "MemberKind",
    "MemberOwned",
    "MemberStatus",
    "OperationKind",
    "OperationLog",
    "OperatorAccount",
    "SecretariatAccount",
    "SecurityEvent",
    "SecurityEventKind",
    "Staff",
    "StaffStatus",
    "TitleGrant",
    "ViewScope",
]


class Consortium(UUIDv7AuditBase):
    """A group of local governments sharing the platform (e.g. 盛岡広域連携)."""

    __tablename__ = "consortium"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    maintenance_notice_days: Mapped[int] = mapped_column(Integer, default=7)
    """How many days before planned maintenance members and contractors are told (≥ 7)."""
    latest_end: Mapped[dt.date] = mapped_column(Date, default=dt.date(2031, 3, 31), server_default="2031-03-31")
    """The latest end date a member's agreement may have in this consortium (set when it is created)."""

    members: Mapped[list[Member]] = relationship(back_populates="consortium", lazy="raise")


class MemberKind(enum.StrEnum):
    """What kind of public body a member is."""

    MUNICIPALITY = "municipality"
    PREFECTURE = "prefecture"
    ASSOCIATION = "association"
    """一部事務組合 / 広域連合 (partial-affairs association)."""


class MemberStatus(enum.StrEnum):
    """Where a member is in its life with the platform."""

    INVITED = "invited"
    SANDBOX = "sandbox"
    TRIAL = "trial"
    LIVE = "live"
    LEAVING = "leaving"
    LEFT = "left"


class Member(UUIDv7AuditBase):
    """A municipality, prefecture or association: one tenant of the platform."""

    __tablename__ = "member"

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    lg_code: Mapped[str] = mapped_column(String(6), unique=True)
    """全国地方公共団体コード, six digits with check digit."""
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[MemberKind] = mapped_column(
        Enum(MemberKind, name="member_kind", values_callable=lambda e: [m.value for m in e])
    )
    status: Mapped[MemberStatus] = mapped_column(
        Enum(MemberStatus, name="member_status", values_callable=lambda e: [m.value for m in e]),
        default=MemberStatus.INVITED,
    )
    joined_on: Mapped[dt.date] = mapped_column(Date)
    go_live_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    """First day of live service; SLA figures count from here (``joined_on`` when empty)."""
    left_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    """Whom contractors call about the member's contracts (窓口: section, phone, e-mail), when a
    contract's department names none; shown in mails and on the contractor's pages."""

    consortium: Mapped[Consortium] = relationship(back_populates="members", lazy="raise")


class SecretariatAccount(UUIDv7AuditBase):
    """A person of the consortium's secretariat (事務局): figures, never contract contents."""

    __tablename__ = "secretariat_account"

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    login_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set when someone else chose the password: it must be replaced at the next sign-in."""
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OperatorAccount(UUIDv7AuditBase):
    """A person of the provider (運用事業者) who runs the platform for every consortium.

    Operators record incidents and maintenance, write improvement plans and issue
    monthly reports. They see figures and never contract contents, and are not
    bound to one consortium: their screens name the consortium they act on.
    """

    __tablename__ = "operator_account"

    login_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set when someone else chose the password: it must be replaced at the next sign-in."""
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ContractorCompany(UUIDv7AuditBase):
    """A company that contracts with members; one record for the whole consortium (CON-6)."""

    __tablename__ = "contractor_company"
    __table_args__ = (UniqueConstraint("consortium_id", "corporate_number"),)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    corporate_number: Mapped[str | None] = mapped_column(String(13), nullable=True)
    """法人番号 (13 digits), optional: sole proprietors have none."""
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400), default="")

    contacts: Mapped[list[ContractorContact]] = relationship(
        back_populates="company", lazy="raise", cascade="all, delete-orphan"
    )


class ContractorContact(UUIDv7AuditBase):
    """A person at a contractor company who receives signing requests."""

    __tablename__ = "contractor_contact"
    __table_args__ = (UniqueConstraint("company_id", "email"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contractor_company.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))

    company: Mapped[ContractorCompany] = relationship(back_populates="contacts", lazy="raise")


class Department(MemberOwned, UUIDv7AuditBase):
    """A department (課・室), possibly inside another."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("member_id", "code"),)

    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    """Whom contractors call about this department's contracts (phone, e-mail): shown in mails and on
    the contractor's pages."""


class StaffStatus(enum.StrEnum):
    """Whether a staff account may sign in."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class Staff(MemberOwned, UUIDv7AuditBase):
    """An individual staff account (never shared, ACC-5)."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("member_id", "email"),)

    login_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[StaffStatus] = mapped_column(
        Enum(StaffStatus, name="staff_status", values_callable=lambda e: [m.value for m in e]),
        default=StaffStatus.ACTIVE,
    )
    view_scope: Mapped[ViewScope] = mapped_column(
        Enum(ViewScope, name="view_scope", values_callable=lambda e: [m.value for m in e]),
        default=ViewScope.MEMBER,
    )
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set when someone else chose the password (initial or reset): it must be replaced at the next sign-in."""
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    department: Mapped[Department | None] = relationship(lazy="raise")


class ContractTitle(MemberOwned, UUIDv7AuditBase):
    """A contract title (契約名義) under which the member concludes contracts (CON-2)."""

    __tablename__ = "contract_title"
    __table_args__ = (UniqueConstraint("member_id", "code"),)

    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    """Short name shown in lists, e.g. 市長, 教育長, 上下水道事業管理者."""
    formal_name: Mapped[str] = mapped_column(String(400))
    """Name printed on contracts, e.g. 盛岡市長 内舘 茂."""
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)


class TitleGrant(MemberOwned, UUIDv7AuditBase):
    """A staff member may contract under a title (CON-3)."""

    __tablename__ = "title_grant"
    __table_args__ = (UniqueConstraint("staff_id", "title_id"),)

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    title_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contract_title.id", ondelete="CASCADE"), index=True)


class IpRange(MemberOwned, UUIDv7AuditBase):
    """An address range staff of the member may connect from (ACC-6)."""

    __tablename__ = "ip_range"
    __table_args__ = (UniqueConstraint("member_id", "cidr"),)

    cidr: Mapped[str] = mapped_column(CIDR)
    label: Mapped[str] = mapped_column(String(200), default="")


class ApiKey(MemberOwned, UUIDv7AuditBase):
    """A key other systems of the member use for the API; only its hash is stored."""

    __tablename__ = "api_key"

    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    """Public part shown in lists so a key can be recognised without revealing it."""
    key_hash: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AddressBookEntry(MemberOwned, UUIDv7AuditBase):
    """A contractor contact in the member's own address book (SAP-6(22))."""

    __tablename__ = "address_book_entry"
    __table_args__ = (UniqueConstraint("member_id", "contact_id"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contractor_company.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contractor_contact.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(400), default="")


class SecurityEventKind(enum.StrEnum):
    """Security events counted in the monthly report (SEC-2)."""

    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    IP_REFUSED = "ip_refused"
    API_KEY_REFUSED = "api_key_refused"
    CONTRACTOR_PASSWORD_FAILED = "contractor_password_failed"  # noqa: S105 - an event name
    CONTRACTOR_LOCKED = "contractor_locked"


class SecurityEvent(MemberOwned, BigIntBase):
    """One security-relevant event of a member: who, from where, when."""

    __tablename__ = "security_event"
    __table_args__ = (Index("ix_security_event_member_time", "member_id", "occurred_at"),)

    kind: Mapped[SecurityEventKind] = mapped_column(
        Enum(SecurityEventKind, name="security_event_kind", values_callable=lambda e: [m.value for m in e])
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    subject: Mapped[str] = mapped_column(String(254), default="")
    """Login ID, e-mail or key prefix concerned."""
    ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)


class OperationKind(enum.StrEnum):
    """What a staff member, another system of the member or the platform did (DAT-6)."""

    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"
    IMPORTED = "imported"
    EXPORTED = "exported"
    SEARCHED = "searched"
    PURGED = "purged"
    """Rows older than the retention were removed; the row says up to which hash."""


class OperationLog(MemberOwned, BigIntBase):
    """One operation of a member's staff, hash-chained per member (``hash`` covers the row and ``prev_hash``).

    Append-only for the application role; only the retention purge (as schema
    owner) and a leaving member's deletion remove rows.
    """

    __tablename__ = "operation_log"
    __table_args__ = (
        Index("ix_operation_log_member_time", "member_id", "occurred_at"),
        {"info": {APPEND_ONLY: True}},
    )

    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(300), default="")
    """Who: ``staff:<id> name``, ``apikey:<id> label``, ``system``."""
    ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(String(300), default="")
    """What was acted on: ``staff:<id> login-id``, ``ip_range:<id> 192.0.2.0/24``, …"""
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)
    """What changed (``{"before": …, "after": …}``), search keys, counts."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
