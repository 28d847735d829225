"""Measurements, incidents, maintenance windows, SLA targets and issued monthly reports.

Platform-wide facts (probe results, incidents, maintenance windows, targets) carry
no ``member_id``: every member may know them. What belongs to one member — its
request telemetry, the incidents' member links, improvement plans and issued
reports — is member-owned and isolated by row-level security.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from advanced_alchemy.base import BigIntBase, UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import APPEND_ONLY
from tenants.models import MemberOwned

__all__ = [
    "Incident",
    "IncidentMember",
    "IncidentProgress",
    "IncidentReport",
    "MaintenanceWindow",
    "MonthlyReport",
    "ProbeResult",
    "ReportPlan",
    "ReportRelease",
    "ReportSecurity",
    "RequestMinute",
    "SlaTarget",
]


class ProbeResult(BigIntBase):
    """One synthetic check of the platform, done the way a user would (over HTTP)."""

    __tablename__ = "probe_result"
    __table_args__ = (Index("ix_probe_result_checked_at", "checked_at"),)

    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")


class RequestMinute(MemberOwned, BigIntBase):
    """Requests of one member in one minute: count, server errors, latency histogram.

    ``histogram[i]`` counts requests whose latency fell in bin ``i`` of
    :data:`reporting.telemetry.LATENCY_BOUNDS_MS`; summing histograms of any set of
    minutes gives percentiles for that period without keeping every request.
    """

    __tablename__ = "request_minute"
    __table_args__ = (UniqueConstraint("member_id", "minute"),)

    minute: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    requests: Mapped[int] = mapped_column(Integer)
    server_errors: Mapped[int] = mapped_column(Integer)
    latency_ms_sum: Mapped[int] = mapped_column(BigInteger)
    histogram: Mapped[list[int]] = mapped_column(ARRAY(Integer))


class Incident(UUIDv7AuditBase):
    """A failure of the service (MOR-18): what happened, whom it hit, why, and what prevents it."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_started_at", "started_at"),)

    title: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    first_notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recovered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expected_recovery_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """The recovery time announced to members while the incident is open (SLA-6)."""
    all_members: Mapped[bool] = mapped_column(Boolean, default=True)
    """True when every member was affected; otherwise see :class:`IncidentMember`."""
    symptom: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    prevention: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(20), default="major", server_default="major")
    """``critical`` (重大: the serious-incident report is due), ``major`` (重要) or ``minor`` (軽微)."""
    status: Mapped[str] = mapped_column(String(20), default="confirmed", server_default="confirmed")
    """``reported`` (申告受付: a member reported it, an operator has not triaged it yet), ``confirmed``
    (a failure of the service: counted in reports, shown on the status page) or ``dismissed`` (not a
    failure of the service). Whether it is over is :attr:`recovered_at`."""


class IncidentProgress(BigIntBase):
    """One entry of an incident's progress (経緯): what was found or done, when, by whom."""

    __tablename__ = "incident_progress"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(200), default="")


class IncidentReport(MemberOwned, UUIDv7AuditBase):
    """What a member's administrator reported (障害申告): who, when, what they see, how to reach them.

    Member-owned: only the reporting member (and the operators) read it. The
    incident it opened is :attr:`incident_id`.
    """

    __tablename__ = "incident_report"
    __table_args__ = (UniqueConstraint("member_id", "incident_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    """The administrator who reported it (kept if the staff record goes)."""
    reported_by: Mapped[str] = mapped_column(String(200))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    what: Mapped[str] = mapped_column(Text)
    """What happened, in the reporter's words."""
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    affected: Mapped[str] = mapped_column(Text, default="")
    """Which screens or contracts are affected."""
    urgency: Mapped[str] = mapped_column(String(20))
    """How urgent in the reporter's view: ``high``, ``normal`` or ``low``."""
    phone: Mapped[str] = mapped_column(String(40))


class IncidentMember(MemberOwned, BigIntBase):
    """A member affected by an incident that did not hit everyone."""

    __tablename__ = "incident_member"
    __table_args__ = (UniqueConstraint("incident_id", "member_id"),)

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)


class MaintenanceWindow(UUIDv7AuditBase):
    """Planned maintenance of a consortium's service, announced ahead (SLA-5) and excluded from availability."""

    __tablename__ = "maintenance_window"
    __table_args__ = (Index("ix_maintenance_window_starts_at", "starts_at"),)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    announced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    """Announced later than the notice period (e.g. urgent repair): counted as downtime, not excluded."""
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the announcement mail went out (the outbox task sets it once)."""
    cancellation_notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """When the cancellation mail went out (only for windows that had been announced)."""


class SlaTarget(UUIDv7AuditBase):
    """A consortium's quality targets from a date on; a change is a new row, never an edit (SLA-2)."""

    __tablename__ = "sla_target"
    __table_args__ = (UniqueConstraint("consortium_id", "effective_from"),)

    consortium_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consortium.id", ondelete="RESTRICT"), index=True)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    availability_percent: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    recovery_minutes: Mapped[int] = mapped_column(Integer)
    response_ms: Mapped[int] = mapped_column(Integer)


class ReportPlan(MemberOwned, UUIDv7AuditBase):
    """Why a target was missed in a month, and the improvement plan (MOR-14(2)); written before issuing."""

    __tablename__ = "report_plan"
    __table_args__ = (UniqueConstraint("member_id", "month", "item"),)

    month: Mapped[dt.date] = mapped_column(Date)
    item: Mapped[str] = mapped_column(String(20))
    """availability, recovery or response."""
    reason: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(200))


class ReportRelease(MemberOwned, UUIDv7AuditBase):
    """A release or change of the service made in a month (NII-9(3)), written by an operator before issuing."""

    __tablename__ = "report_release"
    __table_args__ = (Index("ix_report_release_member_month", "member_id", "month"),)

    month: Mapped[dt.date] = mapped_column(Date)
    released_on: Mapped[dt.date] = mapped_column(Date)
    change: Mapped[str] = mapped_column(Text)
    """What changed."""
    impact: Mapped[str] = mapped_column(Text, default="")
    """What it means for the member (screens, operations, none)."""
    written_by: Mapped[str] = mapped_column(String(200))


class ReportSecurity(MemberOwned, UUIDv7AuditBase):
    """Security measures of a month (SAP-10(1)): what was detected, done and planned; written before issuing."""

    __tablename__ = "report_security"
    __table_args__ = (UniqueConstraint("member_id", "month"),)

    month: Mapped[dt.date] = mapped_column(Date)
    detected: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[str] = mapped_column(Text, default="")
    planned: Mapped[str] = mapped_column(Text, default="")
    written_by: Mapped[str] = mapped_column(String(200))


class MonthlyReport(MemberOwned, BigIntBase):
    """An issued monthly report: immutable (the application role may not update or delete it)."""

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("member_id", "month"), {"info": {APPEND_ONLY: True}})

    month: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    issued_by: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, object]] = mapped_column(JSONB)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    csv: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    csv_sha256: Mapped[str] = mapped_column(String(64))
