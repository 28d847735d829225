"""login id taken function

Login IDs are unique across the platform, but an administrator's session sees
only its own member's staff (row-level security). This function answers only
"is this ID in use?", running as the schema owner with system access for the
duration of the call, so a form can say so plainly without revealing anything else.

Revision ID: b3c1d2e4f5a6
Revises: 5ec0f3eca53d
Create Date: 2026-11-21 23:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "b3c1d2e4f5a6"
down_revision: str | None = "5ec0f3eca53d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION kyodo_login_id_taken(candidate text) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET kyodo.system = 'on'
        AS $$
            SELECT EXISTS (SELECT 1 FROM staff WHERE login_id = candidate)
                OR EXISTS (SELECT 1 FROM secretariat_account WHERE login_id = candidate)
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS kyodo_login_id_taken(text)")
