"""Every query of idempotency keys (see :mod:`tenants.idempotency`)."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
from sqlalchemy.dialects.postgresql import insert

from core.repository import MemberScopedRepository
from core.runtime import database_admin_url
from core.settings import Settings, to_psycopg_url
from tenants.idempotency import IdempotencyKey

__all__ = ["IdempotencyRepository", "purge_keys"]


class IdempotencyRepository(MemberScopedRepository):
    """One member's idempotency keys."""

    async def claim(self, caller: str, key: str, fingerprint: str, *, older_than: dt.datetime) -> bool:
        """Insert the key's row first; True when this request owns it (new, or taking over an expired one).

        The insert waits on the unique index while another transaction holds the
        same key, so of two requests at once exactly one does the work.
        """
        assert self.member_id is not None
        now = dt.datetime.now(dt.UTC)
        statement = insert(IdempotencyKey).values(
            id=uuid.uuid4(),
            member_id=self.member_id,
            caller=caller,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
        )
        claimed = statement.on_conflict_do_update(
            index_elements=[IdempotencyKey.member_id, IdempotencyKey.caller, IdempotencyKey.key],
            set_={
                "fingerprint": statement.excluded.fingerprint,
                "created_at": statement.excluded.created_at,
                "updated_at": statement.excluded.updated_at,
                "status_code": None,
                "body": None,
            },
            where=IdempotencyKey.created_at < older_than,
        ).returning(IdempotencyKey.id)
        return (await self.session.execute(claimed)).first() is not None

    async def existing(self, caller: str, key: str) -> IdempotencyKey | None:
        """The stored key (committed by the request that claimed it)."""
        statement = (
            self.scoped(IdempotencyKey)
            .where(IdempotencyKey.caller == caller, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        return await self.first(statement)


def purge_keys(settings: Settings, older_than: dt.datetime) -> int:
    """Delete every member's keys older than ``older_than`` (synchronously, for the daily purge task)."""
    url = to_psycopg_url(database_admin_url(settings)).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn, conn.transaction():
        # Row-level security applies to the owner too (FORCE): this transaction works for every member.
        conn.execute("SELECT set_config('kyodo.system', 'on', true)")
        cursor = conn.execute("DELETE FROM api_idempotency_key WHERE created_at < %s", (older_than,))
        return int(cursor.rowcount or 0)
