"""corrections of concluded contracts' search keys; contractor portal sign-in links

A concluded contract keeps the corrections of its 取引年月日, amount, counterparty
and number (who, when, why, before → after) in ``contract.corrections``, next to
the audit events that record them. ``portal_sign_in`` holds the one-use links
mailed to contractors who ask to see every contract they agreed to, across
members; it belongs to no member (an address, not a member, asks), and each row
is also the record of the request and of its use.

Revision ID: 9e51c0a4d7b3
Revises: a7c3e9f1b2d4
Create Date: 2026-12-02 05:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9e51c0a4d7b3"
down_revision: str | None = "a7c3e9f1b2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contract",
        sa.Column("corrections", postgresql.JSONB(astext_type=sa.Text()), nullable=False, server_default="[]"),
    )
    op.create_table(
        "portal_sign_in",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_ip", postgresql.INET(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sign_in")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_sign_in_token_hash")),
    )
    op.create_index("ix_portal_sign_in_email_created", "portal_sign_in", ["email", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_portal_sign_in_email_created", table_name="portal_sign_in")
    op.drop_table("portal_sign_in")
    op.drop_column("contract", "corrections")
