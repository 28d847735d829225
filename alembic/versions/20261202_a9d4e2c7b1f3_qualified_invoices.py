"""qualified invoices (適格請求書): issuer, registration number, due date, bank account, per-rate totals

``invoice`` keeps the issuer as printed (name, address, 登録番号, 振込先), the payment
due date and the totals per tax rate; ``invoice_line.tax_rate`` is the rate of each
line. Invoices issued before keep empty values (their lines are all 10 %).

Revision ID: a9d4e2c7b1f3
Revises: a6d2e8f4c1b9
Create Date: 2026-12-02 15:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a9d4e2c7b1f3"
down_revision: str | None = "a6d2e8f4c1b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = (
    ("issuer_name", 200),
    ("issuer_address", 400),
    ("registration_number", 14),
    ("bank_name", 100),
    ("bank_branch", 100),
    ("bank_account_type", 10),
    ("bank_account_number", 20),
    ("bank_account_holder", 100),
)


def upgrade() -> None:
    """Add the columns."""
    op.add_column(
        "invoice",
        sa.Column("rate_totals", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.add_column("invoice", sa.Column("due_on", sa.Date(), nullable=True))
    for name, length in _TEXT:
        op.add_column("invoice", sa.Column(name, sa.String(length=length), server_default="", nullable=False))
    op.add_column("invoice_line", sa.Column("tax_rate", sa.Integer(), server_default="10", nullable=False))


def downgrade() -> None:
    """Drop them."""
    op.drop_column("invoice_line", "tax_rate")
    for name, _length in reversed(_TEXT):
        op.drop_column("invoice", name)
    op.drop_column("invoice", "due_on")
    op.drop_column("invoice", "rate_totals")
