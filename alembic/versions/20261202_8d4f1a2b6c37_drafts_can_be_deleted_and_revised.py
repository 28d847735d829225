"""drafts can be deleted, and a declined contract revised as a new version

A deleted draft keeps its row (its audit trail is append-only and refers to
it) with ``deleted_at`` set; its files, parties and text boxes are deleted.
A revision of a declined contract is a new contract whose ``previous_id``
names the declined one and whose ``version`` is one more.

Revision ID: 8d4f1a2b6c37
Revises: 5b7e2c4d9a10
Create Date: 2026-12-02 04:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d4f1a2b6c37"
down_revision: str | None = "5b7e2c4d9a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contract", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("contract", sa.Column("previous_id", sa.Uuid(), nullable=True))
    op.add_column("contract", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_foreign_key(
        op.f("fk_contract_previous_id_contract"), "contract", "contract", ["previous_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_contract_previous_id_contract"), "contract", type_="foreignkey")
    op.drop_column("contract", "version")
    op.drop_column("contract", "previous_id")
    op.drop_column("contract", "deleted_at")
