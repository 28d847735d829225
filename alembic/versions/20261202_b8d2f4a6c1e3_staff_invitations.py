"""staff invitations: new staff choose their own password from a mailed link

One row per invitation mail: the SHA-256 of the link's token (drawn when the mail
is sent), its expiry, and when it was sent, used or replaced by a newer one.
Member-owned, under row-level security.

Revision ID: b8d2f4a6c1e3
Revises: 9e51c0a4d7b3
Create Date: 2026-12-02 05:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "b8d2f4a6c1e3"
down_revision: str | None = "9e51c0a4d7b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)


def upgrade() -> None:
    op.create_table(
        "staff_invitation",
        sa.Column("id", GUID, nullable=False),
        sa.Column("staff_id", GUID, nullable=False),
        sa.Column("invited_by_id", GUID, nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", GUID, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["staff.id"], name=op.f("fk_staff_invitation_invited_by_id_staff"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_staff_invitation_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_invitation_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_invitation_token_hash")),
    )
    op.create_index(op.f("ix_staff_invitation_member_id"), "staff_invitation", ["member_id"], unique=False)
    op.create_index(op.f("ix_staff_invitation_staff_id"), "staff_invitation", ["staff_id"], unique=False)
    for statement in enable_member_isolation_sql("staff_invitation"):
        op.execute(statement)


def downgrade() -> None:
    for statement in disable_member_isolation_sql("staff_invitation"):
        op.execute(statement)
    op.drop_table("staff_invitation")
