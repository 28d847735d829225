"""Invitations: a new staff member chooses their own password from a one-use, expiring link (ACC-1).

Staff created one by one or by the bulk import have no password anybody knows.
An administrator invites them (or re-sends an invitation); the invitation row is
written with an outbox row in the same transaction, and the task that mails it
draws the link's token at sending time, so the token exists only in the mail and
as a SHA-256 in this table. Opening the link shows a form to choose a password;
setting it uses the invitation up. A newer invitation of the same person replaces
every older one still open, and a link is refused once past its expiry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tenants.models import MemberOwned

__all__ = ["INVITATION_TASK", "StaffInvitation", "token_hash"]

INVITATION_TASK = "kyodo.send_invitation"


class StaffInvitation(MemberOwned, UUIDv7AuditBase):
    """One invitation mail of one staff member; usable once, until ``expires_at``."""

    __tablename__ = "staff_invitation"

    staff_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    """SHA-256 of the link's token; drawn by the task that mails it."""
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def token_hash(token: str) -> str:
    """How a link's token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()
