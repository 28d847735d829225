"""The caller's scope: who is asking, which member's rows a session sees, and system access.

``Principal`` is the authenticated caller (staff, API key, secretariat, operator)
with the permissions the guards check. Row-level security is the second line of
isolation behind the role policies:

Every table with a ``member_id`` column gets the policy below. A session says
which member it works for in ``session.info`` (set by the request's
authentication, or by :func:`elevated` for workers and operator commands);
at the start of every transaction the value is copied into the transaction-local
PostgreSQL settings the policy reads. A session that says nothing sees no
member-owned row at all.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from psycopg import pq
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

__all__ = [
    "MEMBER_SETTING",
    "NO_CONSORTIUM",
    "SYSTEM_SETTING",
    "Afterwards",
    "Permission",
    "Principal",
    "PrincipalKind",
    "ViewScope",
    "disable_member_isolation_sql",
    "elevated",
    "enable_member_isolation_sql",
    "for_member",
    "member_owned_tables",
]


@dataclass(frozen=True, order=True)
class Permission:
    """An action on a kind of object, e.g. ``Permission("contract", "sign")``."""

    obj: str
    act: str

    def __str__(self) -> str:
        return f"{self.obj}:{self.act}"

    @classmethod
    def parse(cls, text: str) -> Permission:
        """``"contract:sign"`` → ``Permission("contract", "sign")``."""
        obj, _, act = text.partition(":")
        if not obj or not act:
            raise ValueError(f"not a permission: {text!r}")
        return cls(obj, act)


class ViewScope(enum.StrEnum):
    """Which concluded contracts a staff member may view (SAP-6(9))."""

    MEMBER = "member"
    """Every contract of the member (within their roles)."""
    DEPARTMENT = "department"
    """Only contracts of their own department."""


class PrincipalKind(enum.StrEnum):
    """How the caller was identified."""

    STAFF = "staff"
    API_KEY = "apikey"
    SECRETARIAT = "secretariat"
    OPERATOR = "operator"


NO_CONSORTIUM = uuid.UUID(int=0)
"""The ``consortium_id`` of an operator, who belongs to none: a query filtered by it finds nothing."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller and everything guards need to decide."""

    kind: PrincipalKind
    id: uuid.UUID
    name: str
    consortium_id: uuid.UUID
    member_id: uuid.UUID | None
    member_name: str = ""
    department_id: uuid.UUID | None = None
    view_scope: ViewScope = ViewScope.MEMBER
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    roles: tuple[str, ...] = ()
    must_change_password: bool = False
    """Signed in with a password someone else chose: only the password change is open."""

    @property
    def subject(self) -> str:
        """The Casbin subject, e.g. ``staff:<uuid>``."""
        return f"{self.kind.value}:{self.id}"

    @property
    def is_secretariat(self) -> bool:
        """True for the consortium's secretariat (no member, no contract contents)."""
        return self.kind is PrincipalKind.SECRETARIAT

    @property
    def is_operator(self) -> bool:
        """True for the provider's operators (figures and operations, no contract contents)."""
        return self.kind is PrincipalKind.OPERATOR

    def can(self, obj: str, act: str) -> bool:
        """True if the caller holds the permission."""
        return Permission(obj, act) in self.permissions


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


class Afterwards:
    """Where :func:`elevated` leaves the session: the scope it found, or the member named here.

    Looking something up across members and then working inside the member it
    belongs to (a contractor's link, an API key) would otherwise set the scope
    twice on the way out: back to the one before, then to the member.
    """

    def __init__(self) -> None:
        self.member_id: uuid.UUID | None = None
        self.chosen = False

    def member(self, member_id: uuid.UUID) -> None:
        """Leave the block scoped to ``member_id`` (as :func:`for_member` would)."""
        self.member_id = member_id
        self.chosen = True


@asynccontextmanager
async def elevated(session: AsyncSession, afterwards: Afterwards | None = None) -> AsyncIterator[AsyncSession]:
    """See every member's rows inside the block; the previous scope comes back afterwards, even on error.

    For workers, operator commands and the aggregations behind the secretariat's
    figures. Never around a query whose rows reach a member's staff: those read
    through their member's scope. With ``afterwards`` naming a member, the block
    ends in that member's scope instead of the previous one.
    """
    previous = (session.info.get("member_id", ""), session.info.get("system", False))
    session.info["system"] = True
    session.info["member_id"] = ""
    await _apply_now(session)
    try:
        yield session
    finally:
        if afterwards is not None and afterwards.chosen:
            session.info["member_id"], session.info["system"] = str(afterwards.member_id or ""), False
        else:
            session.info["member_id"], session.info["system"] = previous
        if await _transaction_usable(session):
            await _apply_now(session)
        # Otherwise the transaction failed inside the block: the caller must roll back, and the
        # next transaction starts with the restored scope (after_begin). Running the restore in
        # the failed transaction would hide the original error behind "transaction aborted".


async def _transaction_usable(session: AsyncSession) -> bool:
    """True when the session has an open transaction that can still run statements."""
    if not session.in_transaction():
        return False
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    info = getattr(raw.driver_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    return status is None or status != pq.TransactionStatus.INERROR


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
