"""notification addresses of members and departments; each consortium's latest agreement end

``notification_address``: a shared mailbox that receives copies of chosen staff
notices, or receives them instead of the staff member (NII-59), for the whole
member or one department. Member-owned, under row-level security.

``consortium.latest_end``: the latest end date of a member's agreement, so far
2031-03-31 for every consortium; now set per consortium when it is created.

Revision ID: c9e3a5b7d2f4
Revises: b8d2f4a6c1e3
Create Date: 2026-12-02 05:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.scope import disable_member_isolation_sql, enable_member_isolation_sql

revision: str = "c9e3a5b7d2f4"
down_revision: str | None = "b8d2f4a6c1e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUID = advanced_alchemy.types.guid.GUID(length=16)


def upgrade() -> None:
    op.create_table(
        "notification_address",
        sa.Column("id", GUID, nullable=False),
        sa.Column("department_id", GUID, nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("notices", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mode", sa.Enum("copy", "instead", name="notification_route_mode"), nullable=False),
        sa.Column("member_id", GUID, nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_notification_address_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_notification_address_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_address")),
    )
    op.create_index(op.f("ix_notification_address_member_id"), "notification_address", ["member_id"], unique=False)
    for statement in enable_member_isolation_sql("notification_address"):
        op.execute(statement)
    op.add_column(
        "consortium", sa.Column("latest_end", sa.Date(), nullable=False, server_default=sa.text("'2031-03-31'"))
    )


def downgrade() -> None:
    op.drop_column("consortium", "latest_end")
    for statement in disable_member_isolation_sql("notification_address"):
        op.execute(statement)
    op.drop_table("notification_address")
    op.execute("DROP TYPE IF EXISTS notification_route_mode")
