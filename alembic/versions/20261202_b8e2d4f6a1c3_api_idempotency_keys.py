"""idempotency keys of the JSON API

``api_idempotency_key``: one row per member, caller (``apikey:<id>`` or
``staff:<id>``) and ``Idempotency-Key`` header, with the fingerprint of the
request and the answer first given (status and JSON body), kept 24 hours.
Member-owned, row-level security on.

Revision ID: b8e2d4f6a1c3
Revises: a5d7e2c9f1b3
Create Date: 2026-12-02 16:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "b8e2d4f6a1c3"
down_revision: str | None = "a5d7e2c9f1b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)
TABLE = "api_idempotency_key"


def upgrade() -> None:
    """Create the table (row-level security on)."""
    op.create_table(
        TABLE,
        sa.Column("id", GUID, nullable=False),
        sa.Column("caller", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("member_id", GUID, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_api_idempotency_key_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_key")),
        sa.UniqueConstraint("member_id", "caller", "key", name=op.f("uq_api_idempotency_key_member_id")),
    )
    op.create_index(op.f("ix_api_idempotency_key_member_id"), TABLE, ["member_id"], unique=False)
    op.create_index("ix_api_idempotency_key_created_at", TABLE, ["created_at"], unique=False)
    for statement in enable_member_isolation_sql(TABLE):
        op.execute(statement)


def downgrade() -> None:
    """Drop it."""
    for statement in disable_member_isolation_sql(TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
