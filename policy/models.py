"""Role policies stored in PostgreSQL (member-owned, so row-level security applies)."""

from __future__ import annotations

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import MemberOwned

__all__ = ["MemberRole", "PolicyRule"]


class PolicyRule(MemberOwned, UUIDv7AuditBase):
    """One Casbin rule in a member's domain.

    ``ptype="p"``: role ``v0`` may do ``v2``/``v3`` (object/action) — custom roles.
    ``ptype="g"``: subject ``v0`` (``staff:<uuid>`` or ``apikey:<uuid>``) has role ``v1``.
    The domain is always the member's; it is not repeated in the row.
    """

    __tablename__ = "policy_rule"
    __table_args__ = (Index("uq_policy_rule", "member_id", "ptype", "v0", "v1", "v2", "v3", unique=True),)

    ptype: Mapped[str] = mapped_column(String(2))
    v0: Mapped[str] = mapped_column(String(200))
    v1: Mapped[str] = mapped_column(String(200), default="")
    v2: Mapped[str] = mapped_column(String(200), default="")
    v3: Mapped[str] = mapped_column(String(200), default="")


class MemberRole(MemberOwned, UUIDv7AuditBase):
    """A role a member administrator defined (its permissions are ``p`` rules)."""

    __tablename__ = "member_role"
    __table_args__ = (Index("uq_member_role_name", "member_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
