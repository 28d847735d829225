"""readable exit export recorded, deletion report as a sealed PDF

Every full export of a member is recorded (who, when, the archive's SHA-256)
in ``member_export``, a consortium record that outlives the member's data.
The deletion report gains who asked for it, until when backups may still hold
the data, and the sealed PDF handed to the member.

Revision ID: e4b7c1d9a2f5
Revises: 8d4f1a2b6c37
Create Date: 2026-12-02 04:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op

revision: str = "e4b7c1d9a2f5"
down_revision: str | None = "8d4f1a2b6c37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "deletion_report", sa.Column("requested_by", sa.String(length=300), server_default="", nullable=False)
    )
    op.add_column("deletion_report", sa.Column("backups_until", sa.Date(), nullable=True))
    op.add_column("deletion_report", sa.Column("pdf", sa.LargeBinary(), nullable=True))
    op.add_column("deletion_report", sa.Column("pdf_sha256", sa.String(length=64), server_default="", nullable=False))
    op.create_table(
        "member_export",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("exported_by", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("unmappable", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_member_export_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"], ["member.id"], name=op.f("fk_member_export_member_ref_id_member"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_export")),
    )
    op.create_index(op.f("ix_member_export_consortium_id"), "member_export", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_member_export_member_ref_id"), "member_export", ["member_ref_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_member_export_member_ref_id"), table_name="member_export")
    op.drop_index(op.f("ix_member_export_consortium_id"), table_name="member_export")
    op.drop_table("member_export")
    op.drop_column("deletion_report", "pdf_sha256")
    op.drop_column("deletion_report", "pdf")
    op.drop_column("deletion_report", "backups_until")
    op.drop_column("deletion_report", "requested_by")
