"""contact of a member and of a department: whom contractors call, named in mails and on their pages

Revision ID: d3f1a9c7e5b2
Revises: c9e3a5b7d2f4
Create Date: 2026-12-02 05:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d3f1a9c7e5b2"
down_revision: str | None = "c9e3a5b7d2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("member", sa.Column("contact", sa.String(length=300), server_default="", nullable=False))
    op.add_column("department", sa.Column("contact", sa.String(length=300), server_default="", nullable=False))


def downgrade() -> None:
    op.drop_column("department", "contact")
    op.drop_column("member", "contact")
