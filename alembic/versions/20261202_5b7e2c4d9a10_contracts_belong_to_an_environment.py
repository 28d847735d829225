"""contracts belong to the environment they were made in

Every contract now says whether it was made in its member's test environment
(sandbox or trial) or live. Existing contracts of members still in a test stage
are marked ``test``, all others ``live``. Go-live deletes the member's rows
whose ``environment`` is ``test`` (onboarding.stages.promote_to_live); the
contract's documents, parties, boxes and sealed files go with it by their
foreign keys, and this trigger removes its audit trail first, which the
application role may not delete itself: only for a test contract, and only
while its member is still in a test stage, so no live contract's trail can be
removed this way.

Revision ID: 5b7e2c4d9a10
Revises: 3f6c2a9d8e11
Create Date: 2026-12-02 02:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b7e2c4d9a10"
down_revision: str | None = "3f6c2a9d8e11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENVIRONMENT = postgresql.ENUM("test", "live", name="environment", create_type=False)


def upgrade() -> None:
    op.add_column("contract", sa.Column("environment", ENVIRONMENT, nullable=False, server_default="live"))
    # Row-level security applies to the table owner too (FORCE): see every member's rows for this update.
    op.execute("SELECT set_config('kyodo.system', 'on', true)")
    op.execute(
        """
        UPDATE contract SET environment = 'test'
        FROM member
        WHERE member.id = contract.member_id AND member.status IN ('invited', 'sandbox', 'trial')
        """
    )
    op.execute("SELECT set_config('kyodo.system', 'off', true)")
    op.alter_column("contract", "environment", server_default=None)
    op.execute(
        """
        CREATE FUNCTION kyodo_delete_test_contract_trail() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET kyodo.system = 'on' AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM member WHERE id = OLD.member_id AND status IN ('invited', 'sandbox', 'trial')
            ) THEN
                DELETE FROM contract_audit_event WHERE member_id = OLD.member_id AND contract_id = OLD.id;
            END IF;
            RETURN OLD;
        END
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION kyodo_delete_test_contract_trail() FROM PUBLIC")
    op.execute(
        """
        CREATE TRIGGER contract_test_trail_goes_with_it
        BEFORE DELETE ON contract
        FOR EACH ROW WHEN (OLD.environment = 'test')
        EXECUTE FUNCTION kyodo_delete_test_contract_trail()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS contract_test_trail_goes_with_it ON contract")
    op.execute("DROP FUNCTION IF EXISTS kyodo_delete_test_contract_trail()")
    op.drop_column("contract", "environment")
