"""seal failures are recorded on the contract

A contract whose document or typed values cannot be sealed is no longer left
封緘待ち for ever: it moves to the new status ``seal_failed`` with the reason in
``contract.seal_failure``, until staff replace the file, have a value
corrected, or cancel.

Revision ID: 3f6c2a9d8e11
Revises: 18aff95c31c6
Create Date: 2026-12-01 21:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3f6c2a9d8e11"
down_revision: str | None = "18aff95c31c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TYPE contract_status ADD VALUE IF NOT EXISTS 'seal_failed'")
    op.add_column("contract", sa.Column("seal_failure", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE contract SET status = 'sealing' WHERE status = 'seal_failed'")
    op.drop_column("contract", "seal_failure")
    # PostgreSQL cannot drop one value of an enum type; 'seal_failed' stays unused.
