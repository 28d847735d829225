"""onboarding billing leaving

Revision ID: 671125da0a5c
Revises: b3c1d2e4f5a6
Create Date: 2026-11-21 22:48:12.032174+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "671125da0a5c"
down_revision: str | None = "b3c1d2e4f5a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Row-level security on the new member-owned tables (same block as
# 5ec0f3eca53d): a row is visible only to a transaction working for its member,
# or for the system (workers, operator commands).
MEMBER_OWNED = ("staff_import", "trial_run", "usage_event")
CONDITION = (
    "(member_id = NULLIF(current_setting('kyodo.member_id', true), '')::uuid "
    "OR current_setting('kyodo.system', true) = 'on')"
)
ENUMS = ("invoice_kind", "usage_kind", "environment", "import_status")


def upgrade() -> None:
    op.create_table(
        "checklist_item",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_checklist_item_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"], ["member.id"], name=op.f("fk_checklist_item_member_ref_id_member"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_item")),
        sa.UniqueConstraint("member_ref_id", "item", name=op.f("uq_checklist_item_member_ref_id")),
    )
    op.create_index(op.f("ix_checklist_item_consortium_id"), "checklist_item", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_checklist_item_member_ref_id"), "checklist_item", ["member_ref_id"], unique=False)
    op.create_table(
        "consortium_billing",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payer_member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("last_invoice_number", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_consortium_billing_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payer_member_ref_id"],
            ["member.id"],
            name=op.f("fk_consortium_billing_payer_member_ref_id_member"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consortium_billing")),
    )
    op.create_index(op.f("ix_consortium_billing_consortium_id"), "consortium_billing", ["consortium_id"], unique=True)
    op.create_table(
        "deletion_report",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_name", sa.String(length=200), nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_by", sa.String(length=200), nullable=False),
        sa.Column("row_counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("blob_files", sa.Integer(), nullable=False),
        sa.Column("blob_bytes", sa.BigInteger(), nullable=False),
        sa.Column("export_sha256", sa.String(length=64), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_deletion_report_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"], ["member.id"], name=op.f("fk_deletion_report_member_ref_id_member"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_report")),
    )
    op.create_index(op.f("ix_deletion_report_consortium_id"), "deletion_report", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_deletion_report_member_ref_id"), "deletion_report", ["member_ref_id"], unique=False)
    op.create_table(
        "invoice",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("invoice", "credit_note", name="invoice_kind"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("payer_member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("payer_name", sa.String(length=200), nullable=False),
        sa.Column("credits_invoice_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=0), nullable=False),
        sa.Column("tax", sa.Numeric(precision=14, scale=0), nullable=False),
        sa.Column("total", sa.Numeric(precision=14, scale=0), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"], ["consortium.id"], name=op.f("fk_invoice_consortium_id_consortium"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["credits_invoice_id"],
            ["invoice.id"],
            name=op.f("fk_invoice_credits_invoice_id_invoice"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payer_member_ref_id"],
            ["member.id"],
            name=op.f("fk_invoice_payer_member_ref_id_member"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice")),
        sa.UniqueConstraint("consortium_id", "number", name=op.f("uq_invoice_consortium_id")),
    )
    op.create_index(op.f("ix_invoice_consortium_id"), "invoice", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_invoice_payer_member_ref_id"), "invoice", ["payer_member_ref_id"], unique=False)
    op.create_table(
        "service_agreement",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("monthly_fee", sa.Numeric(precision=12, scale=0), nullable=False),
        sa.Column("included_contracts", sa.Integer(), nullable=False),
        sa.Column("extra_contract_price", sa.Numeric(precision=12, scale=0), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_service_agreement_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"],
            ["member.id"],
            name=op.f("fk_service_agreement_member_ref_id_member"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_agreement")),
        sa.UniqueConstraint("member_ref_id", "version", name=op.f("uq_service_agreement_member_ref_id")),
    )
    op.create_index(op.f("ix_service_agreement_consortium_id"), "service_agreement", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_service_agreement_member_ref_id"), "service_agreement", ["member_ref_id"], unique=False)
    op.create_table(
        "stage_change",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "from_status",
            postgresql.ENUM("invited", "sandbox", "trial", "live", "leaving", "left", name="member_status", create_type=False),
            nullable=False,
        ),
        sa.Column(
            "to_status",
            postgresql.ENUM("invited", "sandbox", "trial", "live", "leaving", "left", name="member_status", create_type=False),
            nullable=False,
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_stage_change_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"], ["member.id"], name=op.f("fk_stage_change_member_ref_id_member"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_change")),
    )
    op.create_index(op.f("ix_stage_change_consortium_id"), "stage_change", ["consortium_id"], unique=False)
    op.create_index(op.f("ix_stage_change_member_ref_id"), "stage_change", ["member_ref_id"], unique=False)
    op.create_table(
        "trial_run",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("contract_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("concluded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_trial_run_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_run")),
        sa.UniqueConstraint("member_id", "contract_id", name=op.f("uq_trial_run_member_id")),
    )
    op.create_index(op.f("ix_trial_run_member_id"), "trial_run", ["member_id"], unique=False)
    op.create_table(
        "usage_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.Enum("contract_concluded", name="usage_kind"), nullable=False),
        sa.Column("subject_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("environment", sa.Enum("test", "live", name="environment"), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_usage_event_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_event")),
        sa.UniqueConstraint("member_id", "kind", "subject_id", name=op.f("uq_usage_event_member_id")),
    )
    op.create_index(op.f("ix_usage_event_member_id"), "usage_event", ["member_id"], unique=False)
    op.create_index("ix_usage_event_member_time", "usage_event", ["member_id", "occurred_at"], unique=False)
    op.create_table(
        "invoice_line",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("invoice_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("member_ref_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=0), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=0), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_invoice_line_invoice_id_invoice"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["member_ref_id"], ["member.id"], name=op.f("fk_invoice_line_member_ref_id_member"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_line")),
    )
    op.create_index(op.f("ix_invoice_line_invoice_id"), "invoice_line", ["invoice_id"], unique=False)
    op.create_index(op.f("ix_invoice_line_member_ref_id"), "invoice_line", ["member_ref_id"], unique=False)
    op.create_table(
        "staff_import",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("uploaded_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "status",
            sa.Enum("previewed", "rejected", "queued", "running", "done", "failed", name="import_status"),
            nullable=False,
        ),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("problems", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_staff_import_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["staff.id"], name=op.f("fk_staff_import_uploaded_by_id_staff"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_import")),
    )
    op.create_index(op.f("ix_staff_import_member_id"), "staff_import", ["member_id"], unique=False)

    for table in MEMBER_OWNED:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY member_isolation ON "{table}" USING {CONDITION} WITH CHECK {CONDITION}')


def downgrade() -> None:
    for table in MEMBER_OWNED:
        op.execute(f'DROP POLICY IF EXISTS member_isolation ON "{table}"')
    op.drop_index(op.f("ix_staff_import_member_id"), table_name="staff_import")
    op.drop_table("staff_import")
    op.drop_index(op.f("ix_invoice_line_member_ref_id"), table_name="invoice_line")
    op.drop_index(op.f("ix_invoice_line_invoice_id"), table_name="invoice_line")
    op.drop_table("invoice_line")
    op.drop_index("ix_usage_event_member_time", table_name="usage_event")
    op.drop_index(op.f("ix_usage_event_member_id"), table_name="usage_event")
    op.drop_table("usage_event")
    op.drop_index(op.f("ix_trial_run_member_id"), table_name="trial_run")
    op.drop_table("trial_run")
    op.drop_index(op.f("ix_stage_change_member_ref_id"), table_name="stage_change")
    op.drop_index(op.f("ix_stage_change_consortium_id"), table_name="stage_change")
    op.drop_table("stage_change")
    op.drop_index(op.f("ix_service_agreement_member_ref_id"), table_name="service_agreement")
    op.drop_index(op.f("ix_service_agreement_consortium_id"), table_name="service_agreement")
    op.drop_table("service_agreement")
    op.drop_index(op.f("ix_invoice_payer_member_ref_id"), table_name="invoice")
    op.drop_index(op.f("ix_invoice_consortium_id"), table_name="invoice")
    op.drop_table("invoice")
    op.drop_index(op.f("ix_deletion_report_member_ref_id"), table_name="deletion_report")
    op.drop_index(op.f("ix_deletion_report_consortium_id"), table_name="deletion_report")
    op.drop_table("deletion_report")
    op.drop_index(op.f("ix_consortium_billing_consortium_id"), table_name="consortium_billing")
    op.drop_table("consortium_billing")
    op.drop_index(op.f("ix_checklist_item_member_ref_id"), table_name="checklist_item")
    op.drop_index(op.f("ix_checklist_item_consortium_id"), table_name="checklist_item")
    op.drop_table("checklist_item")
    for name in ENUMS:
        op.execute(f'DROP TYPE IF EXISTS "{name}"')
