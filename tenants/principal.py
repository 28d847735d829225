"""Who is making a request: a member's staff, an API key of a member, the secretariat or an operator."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from policy.permissions import Permission
from tenants.models import ViewScope

__all__ = ["NO_CONSORTIUM", "Principal", "PrincipalKind"]


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
