"""operator accounts, expected recovery of incidents, cancelled maintenance mail

Operators (the provider's staff) get accounts of their own. Login IDs stay
unique across staff, secretariat and operators, so ``kyodo_login_id_taken``
looks at the new table too.

Revision ID: 13509e2bd27e
Revises: c7e1a9b0d2f4
Create Date: 2026-11-22 01:04:23.525489+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "13509e2bd27e"
down_revision: str | None = "c7e1a9b0d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _login_id_taken(tables: Sequence[str]) -> str:
    checks = "\n                OR ".join(f"EXISTS (SELECT 1 FROM {t} WHERE login_id = candidate)" for t in tables)
    return f"""
        CREATE OR REPLACE FUNCTION kyodo_login_id_taken(candidate text) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = public, pg_temp
        SET kyodo.system = 'on'
        AS $$
            SELECT {checks}
        $$
        """


def upgrade() -> None:
    op.create_table(
        "operator_account",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("login_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_account")),
        sa.UniqueConstraint("login_id", name=op.f("uq_operator_account_login_id")),
    )
    op.add_column("incident", sa.Column("expected_recovery_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "maintenance_window", sa.Column("cancellation_notified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(_login_id_taken(("staff", "secretariat_account", "operator_account")))


def downgrade() -> None:
    op.execute(_login_id_taken(("staff", "secretariat_account")))
    op.drop_column("maintenance_window", "cancellation_notified_at")
    op.drop_column("incident", "expected_recovery_at")
    op.drop_table("operator_account")
