"""consortium members staff titles policies

Revision ID: 5ec0f3eca53d
Revises: 9095936f4ca3
Create Date: 2026-11-21 22:30:13.028694+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5ec0f3eca53d"
down_revision: str | None = "9095936f4ca3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Row-level security on every member-owned table: a row is visible only when the
# transaction says it works for that member (kyodo.member_id), or for the system
# (kyodo.system = on, workers and operator commands). FORCE applies it to the
# table owner too.
MEMBER_OWNED = (
    "address_book_entry",
    "api_key",
    "contract_title",
    "department",
    "ip_range",
    "member_role",
    "policy_rule",
    "security_event",
    "staff",
    "title_grant",
)
CONDITION = (
    "(member_id = NULLIF(current_setting('kyodo.member_id', true), '')::uuid "
    "OR current_setting('kyodo.system', true) = 'on')"
)
ENUMS = ("member_kind", "member_status", "staff_status", "view_scope", "security_event_kind")


def upgrade() -> None:
    op.create_table(
        "consortium",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("maintenance_notice_days", sa.Integer(), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consortium")),
        sa.UniqueConstraint("name", name=op.f("uq_consortium_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_consortium_slug")),
    )
    op.create_table(
        "contractor_company",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("corporate_number", sa.String(length=13), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_contractor_company_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contractor_company")),
        sa.UniqueConstraint(
            "consortium_id", "corporate_number", name=op.f("uq_contractor_company_consortium_id")
        ),
    )
    op.create_index(
        op.f("ix_contractor_company_consortium_id"), "contractor_company", ["consortium_id"], unique=False
    )
    op.create_table(
        "member",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("lg_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", sa.Enum("municipality", "prefecture", "association", name="member_kind"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum("invited", "sandbox", "trial", "live", "leaving", "left", name="member_status"),
            nullable=False,
        ),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_member_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint("lg_code", name=op.f("uq_member_lg_code")),
    )
    op.create_index(op.f("ix_member_consortium_id"), "member", ["consortium_id"], unique=False)
    op.create_table(
        "secretariat_account",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("consortium_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("login_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["consortium_id"],
            ["consortium.id"],
            name=op.f("fk_secretariat_account_consortium_id_consortium"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secretariat_account")),
        sa.UniqueConstraint("login_id", name=op.f("uq_secretariat_account_login_id")),
    )
    op.create_index(
        op.f("ix_secretariat_account_consortium_id"), "secretariat_account", ["consortium_id"], unique=False
    )
    op.create_table(
        "contract_title",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("formal_name", sa.String(length=400), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_contract_title_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_title")),
        sa.UniqueConstraint("member_id", "code", name=op.f("uq_contract_title_member_id")),
    )
    op.create_index(op.f("ix_contract_title_member_id"), "contract_title", ["member_id"], unique=False)
    op.create_table(
        "contractor_contact",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("company_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["contractor_company.id"],
            name=op.f("fk_contractor_contact_company_id_contractor_company"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contractor_contact")),
        sa.UniqueConstraint("company_id", "email", name=op.f("uq_contractor_contact_company_id")),
    )
    op.create_index(
        op.f("ix_contractor_contact_company_id"), "contractor_contact", ["company_id"], unique=False
    )
    op.create_table(
        "department",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("parent_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_department_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["department.id"],
            name=op.f("fk_department_parent_id_department"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("member_id", "code", name=op.f("uq_department_member_id")),
    )
    op.create_index(op.f("ix_department_member_id"), "department", ["member_id"], unique=False)
    op.create_index(op.f("ix_department_parent_id"), "department", ["parent_id"], unique=False)
    op.create_table(
        "ip_range",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("cidr", postgresql.CIDR(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_ip_range_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_range")),
        sa.UniqueConstraint("member_id", "cidr", name=op.f("uq_ip_range_member_id")),
    )
    op.create_index(op.f("ix_ip_range_member_id"), "ip_range", ["member_id"], unique=False)
    op.create_table(
        "member_role",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_member_role_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_role")),
    )
    op.create_index(op.f("ix_member_role_member_id"), "member_role", ["member_id"], unique=False)
    op.create_index("uq_member_role_name", "member_role", ["member_id", "name"], unique=True)
    op.create_table(
        "policy_rule",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("ptype", sa.String(length=2), nullable=False),
        sa.Column("v0", sa.String(length=200), nullable=False),
        sa.Column("v1", sa.String(length=200), nullable=False),
        sa.Column("v2", sa.String(length=200), nullable=False),
        sa.Column("v3", sa.String(length=200), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_policy_rule_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_rule")),
    )
    op.create_index(op.f("ix_policy_rule_member_id"), "policy_rule", ["member_id"], unique=False)
    op.create_index(
        "uq_policy_rule", "policy_rule", ["member_id", "ptype", "v0", "v1", "v2", "v3"], unique=True
    )
    op.create_table(
        "security_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "login_failed",
                "account_locked",
                "ip_refused",
                "api_key_refused",
                "contractor_password_failed",
                "contractor_locked",
                name="security_event_kind",
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("subject", sa.String(length=254), nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_security_event_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
    )
    op.create_index(op.f("ix_security_event_member_id"), "security_event", ["member_id"], unique=False)
    op.create_index(
        "ix_security_event_member_time", "security_event", ["member_id", "occurred_at"], unique=False
    )
    op.create_table(
        "address_book_entry",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("company_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("contact_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["contractor_company.id"],
            name=op.f("fk_address_book_entry_company_id_contractor_company"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contractor_contact.id"],
            name=op.f("fk_address_book_entry_contact_id_contractor_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_address_book_entry_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_book_entry")),
        sa.UniqueConstraint("member_id", "contact_id", name=op.f("uq_address_book_entry_member_id")),
    )
    op.create_index(
        op.f("ix_address_book_entry_member_id"), "address_book_entry", ["member_id"], unique=False
    )
    op.create_table(
        "staff",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("login_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("department_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("status", sa.Enum("active", "suspended", "retired", name="staff_status"), nullable=False),
        sa.Column("view_scope", sa.Enum("member", "department", name="view_scope"), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_staff_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_staff_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("login_id", name=op.f("uq_staff_login_id")),
        sa.UniqueConstraint("member_id", "email", name=op.f("uq_staff_member_id")),
    )
    op.create_index(op.f("ix_staff_department_id"), "staff", ["department_id"], unique=False)
    op.create_index(op.f("ix_staff_member_id"), "staff", ["member_id"], unique=False)
    op.create_table(
        "api_key",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff.id"], name=op.f("fk_api_key_created_by_id_staff"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_api_key_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_index(op.f("ix_api_key_member_id"), "api_key", ["member_id"], unique=False)
    op.create_table(
        "title_grant",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("staff_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("title_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("member_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_title_grant_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_title_grant_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["title_id"],
            ["contract_title.id"],
            name=op.f("fk_title_grant_title_id_contract_title"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_title_grant")),
        sa.UniqueConstraint("staff_id", "title_id", name=op.f("uq_title_grant_staff_id")),
    )
    op.create_index(op.f("ix_title_grant_member_id"), "title_grant", ["member_id"], unique=False)
    op.create_index(op.f("ix_title_grant_staff_id"), "title_grant", ["staff_id"], unique=False)
    op.create_index(op.f("ix_title_grant_title_id"), "title_grant", ["title_id"], unique=False)

    for table in MEMBER_OWNED:
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY member_isolation ON "{table}" USING {CONDITION} WITH CHECK {CONDITION}')


def downgrade() -> None:
    for table in MEMBER_OWNED:
        op.execute(f'DROP POLICY IF EXISTS member_isolation ON "{table}"')
    op.drop_index(op.f("ix_title_grant_title_id"), table_name="title_grant")
    op.drop_index(op.f("ix_title_grant_staff_id"), table_name="title_grant")
    op.drop_index(op.f("ix_title_grant_member_id"), table_name="title_grant")
    op.drop_table("title_grant")
    op.drop_index(op.f("ix_api_key_member_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_index(op.f("ix_staff_member_id"), table_name="staff")
    op.drop_index(op.f("ix_staff_department_id"), table_name="staff")
    op.drop_table("staff")
    op.drop_index(op.f("ix_address_book_entry_member_id"), table_name="address_book_entry")
    op.drop_table("address_book_entry")
    op.drop_index("ix_security_event_member_time", table_name="security_event")
    op.drop_index(op.f("ix_security_event_member_id"), table_name="security_event")
    op.drop_table("security_event")
    op.drop_index("uq_policy_rule", table_name="policy_rule")
    op.drop_index(op.f("ix_policy_rule_member_id"), table_name="policy_rule")
    op.drop_table("policy_rule")
    op.drop_index("uq_member_role_name", table_name="member_role")
    op.drop_index(op.f("ix_member_role_member_id"), table_name="member_role")
    op.drop_table("member_role")
    op.drop_index(op.f("ix_ip_range_member_id"), table_name="ip_range")
    op.drop_table("ip_range")
    op.drop_index(op.f("ix_department_parent_id"), table_name="department")
    op.drop_index(op.f("ix_department_member_id"), table_name="department")
    op.drop_table("department")
    op.drop_index(op.f("ix_contractor_contact_company_id"), table_name="contractor_contact")
    op.drop_table("contractor_contact")
    op.drop_index(op.f("ix_contract_title_member_id"), table_name="contract_title")
    op.drop_table("contract_title")
    op.drop_index(op.f("ix_secretariat_account_consortium_id"), table_name="secretariat_account")
    op.drop_table("secretariat_account")
    op.drop_index(op.f("ix_member_consortium_id"), table_name="member")
    op.drop_table("member")
    op.drop_index(op.f("ix_contractor_company_consortium_id"), table_name="contractor_company")
    op.drop_table("contractor_company")
    op.drop_table("consortium")
    for name in ENUMS:
        op.execute(f"DROP TYPE IF EXISTS {name}")
