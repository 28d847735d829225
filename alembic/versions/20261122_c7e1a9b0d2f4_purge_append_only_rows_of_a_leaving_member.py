"""purge append-only rows of a leaving member

The application role may not UPDATE or DELETE audit trails and issued reports.
When a member leaves (DAT-3) those rows must go too; this SECURITY DEFINER
function lets the application delete them for a member in the "leaving" stage
only, and for no other member.

Revision ID: c7e1a9b0d2f4
Revises: b4bd6ef9660a
Create Date: 2026-11-22 00:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "c7e1a9b0d2f4"
down_revision: str | None = "b4bd6ef9660a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION kyodo_purge_leaving_member(p_member uuid, p_table text) RETURNS bigint
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
            deleted bigint;
        BEGIN
            IF p_table NOT IN ('contract_audit_event', 'monthly_report') THEN
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
    )
    op.execute("REVOKE ALL ON FUNCTION kyodo_purge_leaving_member(uuid, text) FROM PUBLIC")
    op.execute(
        """
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kyodo_app') THEN
                GRANT EXECUTE ON FUNCTION kyodo_purge_leaving_member(uuid, text) TO kyodo_app;
            END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS kyodo_purge_leaving_member(uuid, text)")
