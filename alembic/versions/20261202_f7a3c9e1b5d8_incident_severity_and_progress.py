"""incident severity and progress entries (経緯)

``incident.severity`` (critical, major or minor; existing incidents are major) and
``incident_progress``: what was found or done during an incident, when and by whom
(OPS 5.2.1: 経緯 in the serious-incident report and the weekly review).

Revision ID: f7a3c9e1b5d8
Revises: d3f1a9c7e5b2
Create Date: 2026-12-02 05:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "f7a3c9e1b5d8"
down_revision: str | None = "d3f1a9c7e5b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the severity column and the progress table."""
    op.add_column("incident", sa.Column("severity", sa.String(length=20), server_default="major", nullable=False))
    op.create_table(
        "incident_progress",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_incident_progress_incident_id_incident"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_progress")),
    )
    op.create_index(op.f("ix_incident_progress_incident_id"), "incident_progress", ["incident_id"], unique=False)


def downgrade() -> None:
    """Drop them."""
    op.drop_index(op.f("ix_incident_progress_incident_id"), table_name="incident_progress")
    op.drop_table("incident_progress")
    op.drop_column("incident", "severity")
