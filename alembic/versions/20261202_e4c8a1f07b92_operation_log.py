"""operation log of staff, hash-chained per member

Sign-ins and failed attempts, every administrative change (before and after),
imports, exports and searches of a member's staff (DAT-6, NII-42/43), in
``operation_log``: member-owned (row-level security), append-only for the
application role (kyodo.migrations revokes UPDATE and DELETE), each row chained
to its member's previous one by SHA-256. The retention purge runs as the schema
owner. A leaving member's rows are deleted like its other append-only rows, so
``kyodo_purge_leaving_member`` now accepts this table too.

Revision ID: e4c8a1f07b92
Revises: e4b7c1d9a2f5
Create Date: 2026-12-02 04:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "e4c8a1f07b92"
down_revision: str | None = "e4b7c1d9a2f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURGE_FUNCTION = """
CREATE OR REPLACE FUNCTION kyodo_purge_leaving_member(p_member uuid, p_table text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    deleted bigint;
BEGIN
    IF p_table NOT IN ({tables}) THEN
        RAISE EXCEPTION 'table % is not an append-only table of a member', p_table;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM member WHERE id = p_member AND status = 'leaving') THEN
        RAISE EXCEPTION 'member % is not leaving', p_member;
    END IF;
    PERFORM set_config('kyodo.system', 'on', true);
    EXECUTE format('DELETE FROM %I WHERE member_id = $1', p_table) USING p_member;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "operation_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_operation_log_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation_log")),
    )
    op.create_index(op.f("ix_operation_log_member_id"), "operation_log", ["member_id"], unique=False)
    op.create_index("ix_operation_log_member_time", "operation_log", ["member_id", "occurred_at"], unique=False)
    for statement in enable_member_isolation_sql("operation_log"):
        op.execute(statement)
    op.execute(PURGE_FUNCTION.format(tables="'contract_audit_event', 'monthly_report', 'operation_log'"))


def downgrade() -> None:
    op.execute(PURGE_FUNCTION.format(tables="'contract_audit_event', 'monthly_report'"))
    for statement in disable_member_isolation_sql("operation_log"):
        op.execute(statement)
    op.drop_index("ix_operation_log_member_time", table_name="operation_log")
    op.drop_index(op.f("ix_operation_log_member_id"), table_name="operation_log")
    op.drop_table("operation_log")
