"""passwords chosen by someone else must be changed

Existing accounts keep their passwords as they are (false); from now on an
initial password or an administrator's reset marks the account.

Revision ID: 18aff95c31c6
Revises: 13509e2bd27e
Create Date: 2026-11-22 02:19:16.319264+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "18aff95c31c6"
down_revision: str | None = "13509e2bd27e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "operator_account",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "secretariat_account",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "staff", sa.Column("must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("staff", "must_change_password")
    op.drop_column("secretariat_account", "must_change_password")
    op.drop_column("operator_account", "must_change_password")
