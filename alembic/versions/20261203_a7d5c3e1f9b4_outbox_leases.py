"""outbox leases: a mail's outbox row records who is sending it, until when, and the result

``outbox_message`` gets ``lease_until``, ``lease_holder``, ``lapses``, ``finished_at``
and ``outcome`` with a partial index of the leased rows not finished. Rows written
before this revision have no lease and are never handed over again.

Revision ID: a7d5c3e1f9b4
Revises: b8e2d4f6a1c3
Create Date: 2026-12-03 12:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d5c3e1f9b4"
down_revision: str | None = "b8e2d4f6a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lease columns and their index."""
    op.add_column("outbox_message", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox_message", sa.Column("lease_holder", sa.String(length=64), nullable=True))
    op.add_column("outbox_message", sa.Column("lapses", sa.Integer(), server_default="0", nullable=False))
    op.add_column("outbox_message", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox_message", sa.Column("outcome", sa.String(length=40), nullable=True))
    op.create_index(
        "ix_outbox_message_leased",
        "outbox_message",
        ["lease_until"],
        unique=False,
        postgresql_where="finished_at IS NULL AND lease_until IS NOT NULL",
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index(
        "ix_outbox_message_leased",
        table_name="outbox_message",
        postgresql_where="finished_at IS NULL AND lease_until IS NOT NULL",
    )
    for column in ("outcome", "finished_at", "lapses", "lease_holder", "lease_until"):
        op.drop_column("outbox_message", column)
