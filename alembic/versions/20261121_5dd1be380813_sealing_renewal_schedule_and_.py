"""sealing renewal schedule and certificates of conclusion

Revision ID: 5dd1be380813
Revises: df18e072565e
Create Date: 2026-11-21 23:36:35.326212+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "5dd1be380813"
down_revision: str | None = "df18e072565e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CONDITION = (
    "(member_id = NULLIF(current_setting('kyodo.member_id', true), '')::uuid "
    "OR current_setting('kyodo.system', true) = 'on')"
)


def upgrade() -> None:
    op.create_table(
        "contract_certificate",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("contract_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("renew_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contract.id"],
            name=op.f("fk_contract_certificate_contract_id_contract"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_contract_certificate_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_certificate")),
        sa.UniqueConstraint("contract_id", "version", name=op.f("uq_contract_certificate_contract_id")),
    )
    op.create_index(op.f("ix_contract_certificate_contract_id"), "contract_certificate", ["contract_id"], unique=False)
    op.create_index(op.f("ix_contract_certificate_member_id"), "contract_certificate", ["member_id"], unique=False)
    op.create_index(op.f("ix_contract_certificate_renew_by"), "contract_certificate", ["renew_by"], unique=False)
    op.add_column("contract_sealed_document", sa.Column("renew_by", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        op.f("ix_contract_sealed_document_renew_by"), "contract_sealed_document", ["renew_by"], unique=False
    )

    # The certificate belongs to its member: same row-level security as every member-owned table.
    op.execute('ALTER TABLE "contract_certificate" ENABLE ROW LEVEL SECURITY')
    op.execute('ALTER TABLE "contract_certificate" FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY member_isolation ON "contract_certificate" USING {CONDITION} WITH CHECK {CONDITION}')


def downgrade() -> None:
    op.execute('DROP POLICY IF EXISTS member_isolation ON "contract_certificate"')
    op.drop_index(op.f("ix_contract_sealed_document_renew_by"), table_name="contract_sealed_document")
    op.drop_column("contract_sealed_document", "renew_by")
    op.drop_index(op.f("ix_contract_certificate_renew_by"), table_name="contract_certificate")
    op.drop_index(op.f("ix_contract_certificate_member_id"), table_name="contract_certificate")
    op.drop_index(op.f("ix_contract_certificate_contract_id"), table_name="contract_certificate")
    op.drop_table("contract_certificate")
