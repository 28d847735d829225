"""Row-level security: the second line of isolation behind the role policies.

Every table with a ``member_id`` column gets the policy below. A session says
which member it works for in ``session.info`` (set by the request's
authentication, or by :func:`system_access` for workers and operator commands);
at the start of every transaction the value is copied into the transaction-local
PostgreSQL settings the policy reads. A session that says nothing sees no
member-owned row at all.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

__all__ = [
    "MEMBER_SETTING",
    "SYSTEM_SETTING",
    "disable_member_isolation_sql",
    "enable_member_isolation_sql",
    "for_member",
    "member_owned_tables",
    "system_access",
]

MEMBER_SETTING = "kyodo.member_id"
SYSTEM_SETTING = "kyodo.system"
POLICY_NAME = "member_isolation"

_CONDITION = (
    f"(member_id = NULLIF(current_setting('{MEMBER_SETTING}', true), '')::uuid "
    f"OR current_setting('{SYSTEM_SETTING}', true) = 'on')"
)


def enable_member_isolation_sql(table: str) -> list[str]:
    """DDL that turns row-level security on for a member-owned table (used by migrations)."""
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        # FORCE: the policy applies to the table owner too, so a deployment that
        # runs the application as the owning role is still isolated.
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'CREATE POLICY {POLICY_NAME} ON "{table}" USING {_CONDITION} WITH CHECK {_CONDITION}',
    ]


def disable_member_isolation_sql(table: str) -> list[str]:
    """The reverse of :func:`enable_member_isolation_sql` (for downgrades)."""
    return [
        f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ]


def member_owned_tables(metadata: MetaData) -> list[str]:
    """Every table of the models that has a ``member_id`` column."""
    return sorted(t.name for t in metadata.sorted_tables if "member_id" in t.columns)


async def for_member(session: AsyncSession, member_id: uuid.UUID | None) -> None:
    """Make ``session`` see only ``member_id``'s rows (None: no member-owned rows)."""
    session.info["member_id"] = str(member_id) if member_id else ""
    session.info["system"] = False
    await _apply_now(session)


async def system_access(session: AsyncSession) -> None:
    """Let ``session`` see every member's rows: workers, operator commands, aggregations.

    Never call this from a request handler of a member's staff: the secretariat's
    figures are computed by services that aggregate, not by handlers that list rows.
    """
    session.info["system"] = True
    session.info["member_id"] = ""
    await _apply_now(session)


async def _apply_now(session: AsyncSession) -> None:
    # A transaction already open keeps the settings it began with; refresh them.
    if session.in_transaction():
        await session.execute(
            text("SELECT set_config(:m_key, :member, true), set_config(:s_key, :system, true)"),
            {
                "m_key": MEMBER_SETTING,
                "member": session.info["member_id"],
                "s_key": SYSTEM_SETTING,
                "system": "on" if session.info["system"] else "off",
            },
        )


def _apply(session: Session, connection: Connection) -> None:
    member = str(session.info.get("member_id") or "")
    system = "on" if session.info.get("system") else "off"
    connection.exec_driver_sql(
        "SELECT set_config(%(m_key)s, %(member)s, true), set_config(%(s_key)s, %(system)s, true)",
        {"m_key": MEMBER_SETTING, "member": member, "s_key": SYSTEM_SETTING, "system": system},
    )


@event.listens_for(Session, "after_begin")
def _set_scope_on_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    _apply(session, connection)
