"""bulk-sending batches and their rows in PostgreSQL

``bulk_batch``: one bulk sending (一括送信) of a draft by a staff member or API
key, with its counts, its times and, for at most seven days and only until
they were seen once, the rows' access passwords encrypted under the member's
data key. ``bulk_batch_row``: each row asked for and its outcome (sent with its
contract, or failed with why), written in the same transaction as the row's
contract. Both member-owned (row-level security on); test batches go with the
test contracts at go-live (``environment``).

Revision ID: c4e8b2d6f1a9
Revises: a7d5c3e1f9b4
Create Date: 2026-12-03 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "c4e8b2d6f1a9"
down_revision: str | None = "a7d5c3e1f9b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
WHEN = advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)
ENVIRONMENT = postgresql.ENUM("test", "live", name="environment", create_type=False)
BATCH_STATUS = postgresql.ENUM("queued", "running", "done", name="bulk_batch_status", create_type=False)
ROW_STATE = postgresql.ENUM("pending", "sent", "failed", name="bulk_row_state", create_type=False)


def _common(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("member_id", GUID, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f(f"fk_{table}_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    """Create both tables (row-level security on)."""
    bind = op.get_bind()
    BATCH_STATUS.create(bind, checkfirst=True)
    ROW_STATE.create(bind, checkfirst=True)
    op.create_table(
        "bulk_batch",
        sa.Column("id", GUID, nullable=False),
        sa.Column("draft_id", GUID, nullable=True),
        sa.Column("draft_subject", sa.String(length=400), nullable=False),
        sa.Column("environment", ENVIRONMENT, nullable=False),
        sa.Column("started_by", sa.String(length=80), nullable=False),
        sa.Column("started_by_name", sa.String(length=200), nullable=False),
        sa.Column("started_as", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", BATCH_STATUS, nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sealed_passwords", sa.LargeBinary(), nullable=True),
        sa.Column("passwords_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passwords_shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passwords_dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["contract.id"], name=op.f("fk_bulk_batch_draft_id_contract"), ondelete="SET NULL"
        ),
        *_common("bulk_batch"),
    )
    op.create_index(op.f("ix_bulk_batch_member_id"), "bulk_batch", ["member_id"], unique=False)
    op.create_index("ix_bulk_batch_member_created", "bulk_batch", ["member_id", "created_at"], unique=False)
    op.create_table(
        "bulk_batch_row",
        sa.Column("id", GUID, nullable=False),
        sa.Column("batch_id", GUID, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("environment", ENVIRONMENT, nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", ROW_STATE, nullable=False),
        sa.Column("contract_id", GUID, nullable=True),
        sa.Column("contract_number", sa.String(length=100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["bulk_batch.id"], name=op.f("fk_bulk_batch_row_batch_id_bulk_batch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_bulk_batch_row_contract_id_contract"), ondelete="SET NULL"
        ),
        sa.UniqueConstraint("batch_id", "line", name=op.f("uq_bulk_batch_row_batch_id")),
        *_common("bulk_batch_row"),
    )
    op.create_index(op.f("ix_bulk_batch_row_member_id"), "bulk_batch_row", ["member_id"], unique=False)
    op.create_index(op.f("ix_bulk_batch_row_contract_id"), "bulk_batch_row", ["contract_id"], unique=False)
    for table in ("bulk_batch", "bulk_batch_row"):
        for statement in enable_member_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    """Drop them (the batches' results are lost; their contracts stay)."""
    for table in ("bulk_batch_row", "bulk_batch"):
        for statement in disable_member_isolation_sql(table):
            op.execute(statement)
        op.drop_table(table)
    ROW_STATE.drop(op.get_bind(), checkfirst=True)
    BATCH_STATUS.drop(op.get_bind(), checkfirst=True)
