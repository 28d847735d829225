"""Every query of staff invitations, in one member's scope (or, elevated, across members for a link)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.repository import MemberScopedRepository
from tenants.invitations import StaffInvitation
from tenants.models import Member, Staff

__all__ = ["InvitationRepository"]


class InvitationRepository(MemberScopedRepository):
    """Invitations and the staff they are for."""

    async def staff(self, staff_id: uuid.UUID) -> Staff | None:
        """A staff member of the member (any member, elevated)."""
        return await self.get(Staff, staff_id)

    async def staff_by_login_ids(self, login_ids: Sequence[str]) -> Sequence[Staff]:
        """The member's staff with the given login IDs."""
        if not login_ids:
            return []
        return await self.all(self.scoped(Staff).where(Staff.login_id.in_(list(login_ids))).order_by(Staff.login_id))

    async def open_of(self, staff_id: uuid.UUID) -> Sequence[StaffInvitation]:
        """Invitations of a staff member neither used nor replaced."""
        return await self.all(
            self.scoped(StaffInvitation)
            .where(StaffInvitation.staff_id == staff_id)
            .where(StaffInvitation.used_at.is_(None))
            .where(StaffInvitation.revoked_at.is_(None))
        )

    async def latest_of(self, staff_id: uuid.UUID) -> StaffInvitation | None:
        """The newest invitation of a staff member."""
        return await self.first(
            self.scoped(StaffInvitation)
            .where(StaffInvitation.staff_id == staff_id)
            .order_by(StaffInvitation.created_at.desc())
            .limit(1)
        )

    async def invitation(self, invitation_id: uuid.UUID, *, lock: bool = False) -> StaffInvitation | None:
        """One invitation, locked for this transaction if asked."""
        return await self.get(StaffInvitation, invitation_id, for_update=lock)

    async def by_token_hash(self, digest: str) -> StaffInvitation | None:
        """The invitation whose link's token hashes to ``digest``."""
        return await self.first(self.scoped(StaffInvitation).where(StaffInvitation.token_hash == digest))

    async def member_name(self, member_id: uuid.UUID) -> str:
        """The name of a member (for the invitation mail)."""
        member = await self.session.get(Member, member_id)
        return member.name if member else ""
