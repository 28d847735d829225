"""The consortium, its members and secretariat, and contractor companies shared by all members."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Boolean, Date, DateTime, Enum, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

__all__ = [
    "Consortium",
    "ContractorCompany",
    "ContractorContact",
    "Member",
    "MemberKind",
    "MemberStatus",
    "OperatorAccount",
    "SecretariatAccount",
]


class Consortium(UUIDv7AuditBase):
    """A group of local governments sharing the platform (e.g. 盛岡広域連携)."""

    __tablename__ = "consortium"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    maintenance_notice_days: Mapped[int] = mapped_column(Integer, default=7)
    """How many days before planned maintenance members and contractors are told (≥ 7)."""

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
