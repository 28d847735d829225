"""Inviting staff, mailing the link, and setting a password through it (see :mod:`tenants.invitations`)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Gone, Invalid, NotFound
from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import elevated
from tenants.invitations import INVITATION_TASK, StaffInvitation, token_hash
from tenants.models import Staff, StaffStatus
from tenants.passwords import hash_password
from tenants.repositories.invitations import InvitationRepository
from tenants.services._common import check_password

__all__ = ["InvitationService", "Invited", "accept", "claim_for_mail", "invitation_by_token", "release_claim"]


@dataclass(frozen=True)
class Invited:
    """Who was invited and who was left out (already signed in, retired, unknown)."""

    invited: list[str]
    skipped: list[str]


class InvitationService:
    """Invitations of one member's staff."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.member_id = member_id
        self.repo = InvitationRepository(session, member_id)

    async def _invite(self, staff: Staff, invited_by: uuid.UUID | None) -> StaffInvitation:
        now = dt.datetime.now(dt.UTC)
        for old in await self.repo.open_of(staff.id):
            old.revoked_at = now
        invitation = StaffInvitation(member_id=self.member_id, staff_id=staff.id, invited_by_id=invited_by)
        self.repo.add(invitation)
        await self.session.flush()
        enqueue(self.session, INVITATION_TASK, invitation_id=str(invitation.id))
        return invitation

    async def invite(self, staff_id: uuid.UUID, invited_by: uuid.UUID | None = None) -> StaffInvitation:
        """Invite (or invite again) one staff member; older open invitations stop working.

        :raises NotFound: not a staff member of this member.
        :raises Invalid: the account is suspended or retired.
        """
        staff = await self.repo.staff(staff_id)
        if staff is None:
            raise NotFound(_("The staff member does not exist."))
        if staff.status is not StaffStatus.ACTIVE:
            raise Invalid(_("Only active accounts can be invited."))
        return await self._invite(staff, invited_by)

    async def invite_new(self, login_ids: Sequence[str], invited_by: uuid.UUID | None = None) -> Invited:
        """Invite those of ``login_ids`` who never signed in and have no password yet (after a bulk import)."""
        invited: list[str] = []
        skipped: list[str] = []
        for staff in await self.repo.staff_by_login_ids(login_ids):
            if staff.status is StaffStatus.ACTIVE and staff.password_hash is None and staff.last_login_at is None:
                await self._invite(staff, invited_by)
                invited.append(staff.login_id)
            else:
                skipped.append(staff.login_id)
        known = set(invited) | set(skipped)
        skipped.extend(sorted(set(login_ids) - known))
        return Invited(sorted(invited), sorted(skipped))

    async def latest(self, staff_id: uuid.UUID) -> StaffInvitation | None:
        """The newest invitation of a staff member."""
        return await self.repo.latest_of(staff_id)


async def claim_for_mail(
    session: AsyncSession, invitation_id: uuid.UUID, *, hours: int
) -> tuple[StaffInvitation, Staff, str] | None:
    """Draw the token of an invitation about to be mailed (across members); None when nothing is to be sent.

    Nothing is sent for an invitation already mailed, used, replaced, or whose
    staff member is no longer active.
    """
    async with elevated(session):
        repo = InvitationRepository(session, None)
        invitation = await repo.invitation(invitation_id, lock=True)
        if invitation is None or invitation.sent_at or invitation.used_at or invitation.revoked_at:
            return None
        staff = await repo.staff(invitation.staff_id)
        if staff is None or staff.status is not StaffStatus.ACTIVE:
            return None
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        invitation.token_hash = token_hash(token)
        invitation.expires_at = now + dt.timedelta(hours=hours)
        invitation.sent_at = now
        await session.flush()
        return invitation, staff, token


async def release_claim(session: AsyncSession, invitation_id: uuid.UUID) -> None:
    """The mail could not be sent: the next try draws a new token."""
    async with elevated(session):
        invitation = await InvitationRepository(session, None).invitation(invitation_id, lock=True)
        if invitation is not None and invitation.used_at is None:
            invitation.sent_at = None
            invitation.token_hash = None
            await session.flush()


async def invitation_by_token(session: AsyncSession, token: str) -> tuple[StaffInvitation, Staff]:
    """The usable invitation behind a link, with its staff member.

    :raises NotFound: no such link.
    :raises Gone: used, replaced by a newer invitation, or expired.
    """
    async with elevated(session):
        repo = InvitationRepository(session, None)
        invitation = await repo.by_token_hash(token_hash(token))
        if invitation is None:
            raise NotFound(_("This invitation link is not valid."))
        staff = await repo.staff(invitation.staff_id)
        if staff is None:
            raise NotFound(_("This invitation link is not valid."))
    if invitation.used_at is not None:
        raise Gone(_("This invitation link was already used. Sign in with the password you chose."))
    if invitation.revoked_at is not None:
        raise Gone(_("A newer invitation was sent. Please use the link of the latest mail."))
    if invitation.expires_at is None or invitation.expires_at <= dt.datetime.now(dt.UTC):
        raise Gone(_("This invitation link has expired. Ask your administrator to send a new one."))
    if staff.status is not StaffStatus.ACTIVE:
        raise Gone(_("This account is not active. Ask your administrator."))
    return invitation, staff


async def accept(session: AsyncSession, token: str, password: str, confirmation: str) -> Staff:
    """Set the password chosen through an invitation link and use the invitation up.

    :raises Invalid: the two entries differ, or the password is too short.
    :raises NotFound, Gone: see :func:`invitation_by_token`.
    """
    if password != confirmation:
        raise Invalid(_("The two passwords are not the same."))
    check_password(password)
    async with elevated(session):
        invitation, staff = await invitation_by_token(session, token)
        locked = await InvitationRepository(session, None).invitation(invitation.id, lock=True)
        if locked is None or locked.used_at is not None:
            raise Gone(_("This invitation link was already used. Sign in with the password you chose."))
        now = dt.datetime.now(dt.UTC)
        locked.used_at = now
        staff.password_hash = hash_password(password)
        staff.must_change_password = False
        staff.failed_logins = 0
        staff.locked_until = None
        await session.flush()
    return staff
