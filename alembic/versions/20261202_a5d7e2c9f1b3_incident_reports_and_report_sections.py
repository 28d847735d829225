"""incidents reported by members, releases and security measures of monthly reports

``incident.status``: ``reported`` (申告受付, reported by a member and not triaged yet),
``confirmed`` (every existing incident) or ``dismissed``. ``incident_report``: what a
member's administrator reported, member-owned. ``report_release`` (NII-9(3)) and
``report_security`` (SAP-10(1)): sections of a member's monthly report that operators
write before issuing, member-owned like ``report_plan``.

Revision ID: a5d7e2c9f1b3
Revises: a9d4e2c7b1f3
Create Date: 2026-12-02 15:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "a5d7e2c9f1b3"
down_revision: str | None = "a9d4e2c7b1f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
TABLES = ("incident_report", "report_release", "report_security")


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("member_id", GUID, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    ]


def _member_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["member_id"], ["member.id"], name=op.f(f"fk_{table}_member_id_member"), ondelete="CASCADE"
    )


def upgrade() -> None:
    """Add the status column and the three member-owned tables (row-level security on)."""
    op.add_column("incident", sa.Column("status", sa.String(length=20), server_default="confirmed", nullable=False))
    op.create_table(
        "incident_report",
        sa.Column("id", GUID, nullable=False),
        sa.Column("incident_id", GUID, nullable=False),
        sa.Column("staff_id", GUID, nullable=True),
        sa.Column("reported_by", sa.String(length=200), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("affected", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_incident_report_incident_id_incident"), ondelete="CASCADE"
        ),
        _member_fk("incident_report"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_report")),
        sa.UniqueConstraint("member_id", "incident_id", name=op.f("uq_incident_report_member_id")),
    )
    op.create_index(op.f("ix_incident_report_incident_id"), "incident_report", ["incident_id"], unique=False)
    op.create_index(op.f("ix_incident_report_member_id"), "incident_report", ["member_id"], unique=False)
    op.create_table(
        "report_release",
        sa.Column("id", GUID, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("released_on", sa.Date(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=200), nullable=False),
        *_audit_columns(),
        _member_fk("report_release"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_release")),
    )
    op.create_index(op.f("ix_report_release_member_id"), "report_release", ["member_id"], unique=False)
    op.create_index("ix_report_release_member_month", "report_release", ["member_id", "month"], unique=False)
    op.create_table(
        "report_security",
        sa.Column("id", GUID, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("detected", sa.Text(), nullable=False),
        sa.Column("done", sa.Text(), nullable=False),
        sa.Column("planned", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=200), nullable=False),
        *_audit_columns(),
        _member_fk("report_security"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_security")),
        sa.UniqueConstraint("member_id", "month", name=op.f("uq_report_security_member_id")),
    )
    op.create_index(op.f("ix_report_security_member_id"), "report_security", ["member_id"], unique=False)
    for table in TABLES:
        for statement in enable_member_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    """Drop them."""
    for table in TABLES:
        for statement in disable_member_isolation_sql(table):
            op.execute(statement)
        op.drop_table(table)
    op.drop_column("incident", "status")
