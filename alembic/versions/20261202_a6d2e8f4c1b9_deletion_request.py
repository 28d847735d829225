"""deletion requests: a leaving member's deletion is carried out by a worker

``deletion_request``: the secretariat confirmed the deletion (who asked, who
confirmed); a worker deletes and seals the report and records the outcome.
At most one open (queued) request per member.

Revision ID: a6d2e8f4c1b9
Revises: f7a3c9e1b5d8
Create Date: 2026-12-02 16:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op

revision: str = "a6d2e8f4c1b9"
down_revision: str | None = "f7a3c9e1b5d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deletion_request",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=300), nullable=False),
        sa.Column("confirmed_by", sa.String(length=200), nullable=False),
        sa.Column("export_sha256", sa.String(length=64), server_default="", nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("report_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_deletion_request_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"],
            ["member.id"],
            name=op.f("fk_deletion_request_member_ref_id_member"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["deletion_report.id"],
            name=op.f("fk_deletion_request_report_id_deletion_report"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_request")),
    )
    op.create_index(op.f("ix_deletion_request_consortium_id"), "deletion_request", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_deletion_request_member_ref_id"), "deletion_request", ["member_ref_id"], unique=False)
    op.create_index(
        "uq_deletion_request_open",
        "deletion_request",
        ["member_ref_id"],
        unique=True,
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("uq_deletion_request_open", table_name="deletion_request")
    op.drop_index(op.f("ix_deletion_request_member_ref_id"), table_name="deletion_request")
    op.drop_index(op.f("ix_deletion_request_consortium_id"), table_name="deletion_request")
    op.drop_table("deletion_request")
