"""Every query of a member's role policies: custom roles, their permissions and who holds which role.

Rules are Casbin lines stored as :class:`~policy.models.PolicyRule` rows of the
member (``p``: a custom role's permission, ``g``: a subject holds a role); a
custom role's name and label are a :class:`~policy.models.MemberRole`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete

from core.repository import MemberScopedRepository
from policy.models import MemberRole, PolicyRule

__all__ = ["PolicyRepository"]


class PolicyRepository(MemberScopedRepository):
    """Roles and role assignments of one member."""

    def _mine(self, model: type[PolicyRule] | type[MemberRole]) -> ColumnElement[bool]:
        if self.member_id is None:
            raise ValueError("policies are changed for one member at a time")
        return model.member_id == self.member_id

    async def rules(self) -> Sequence[PolicyRule]:
        """Every rule of the member (what the policy engine loads)."""
        return await self.all(self.scoped(PolicyRule))

    async def custom_roles(self) -> Sequence[MemberRole]:
        """The member's own roles, by name."""
        return await self.all(self.scoped(MemberRole).order_by(MemberRole.name))

    async def role_permission_rules(self) -> Sequence[PolicyRule]:
        """The ``p`` rules: which custom role may do what."""
        return await self.all(self.scoped(PolicyRule).where(PolicyRule.ptype == "p"))

    async def role_name_taken(self, name: str) -> bool:
        """True if the member already has a custom role called ``name``."""
        return await self.first(self.scoped(MemberRole).where(MemberRole.name == name)) is not None

    async def add_role(self, name: str, label: str, permissions: Sequence[tuple[str, str]]) -> MemberRole:
        """A new custom role with its ``p`` rules (role key ``role:custom:<name>``)."""
        role = MemberRole(name=name, label=label)
        self.add(role)
        for obj, act in permissions:
            self.add(PolicyRule(ptype="p", v0=f"role:custom:{name}", v1="", v2=obj, v3=act))
        await self.session.flush()
        return role

    async def delete_role(self, role_id: uuid.UUID, key: str) -> None:
        """Delete a custom role, its permissions and every assignment of it (``key``: ``role:…``)."""
        await self.session.execute(
            delete(PolicyRule).where(
                self._mine(PolicyRule),
                ((PolicyRule.ptype == "p") & (PolicyRule.v0 == key))
                | ((PolicyRule.ptype == "g") & (PolicyRule.v1 == key)),
            )
        )
        await self.session.execute(delete(MemberRole).where(self._mine(MemberRole), MemberRole.id == role_id))
        await self.session.flush()

    async def assignments(self, subject: str | None = None) -> Sequence[PolicyRule]:
        """The ``g`` rules (who holds which role), of one subject if given."""
        statement = self.scoped(PolicyRule).where(PolicyRule.ptype == "g")
        if subject is not None:
            statement = statement.where(PolicyRule.v0 == subject)
        return await self.all(statement)

    async def assign(self, subject: str, key: str) -> bool:
        """Give the role ``key`` to ``subject``; False if it already held it."""
        existing = await self.first(
            self.scoped(PolicyRule).where(PolicyRule.ptype == "g", PolicyRule.v0 == subject, PolicyRule.v1 == key)
        )
        if existing is not None:
            return False
        self.add(PolicyRule(ptype="g", v0=subject, v1=key, v2="", v3=""))
        await self.session.flush()
        return True

    async def unassign(self, subject: str, key: str) -> bool:
        """Take the role ``key`` from ``subject``; False if it did not hold it."""
        result = await self.session.execute(
            delete(PolicyRule)
            .where(self._mine(PolicyRule), PolicyRule.ptype == "g", PolicyRule.v0 == subject, PolicyRule.v1 == key)
            .returning(PolicyRule.id)
        )
        removed = result.first() is not None
        await self.session.flush()
        return removed
