"""The task that mails an invitation: it draws the link's token, so the token exists only in the mail.

Safe to run twice: an invitation already mailed, used or replaced is not mailed
again. While the SMTP server cannot be reached the claim is released and the
task retried with backoff; each try draws a fresh token, so only the mail that
went out carries a working link.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from typing import Any

from celery import Task, shared_task
from sqlalchemy.ext.asyncio import AsyncSession

from core.asyncrun import run_async
from core.dates import JST
from core.db import session_scope
from core.i18n import current_locale, format_date
from core.i18n import gettext as _
from core.settings import Settings, get_settings
from signing.mail import MAIL_LOCALE, deliver
from tenants.invitation_service import claim_for_mail, release_claim
from tenants.invitations import INVITATION_TASK
from tenants.repositories.invitations import InvitationRepository

__all__ = ["invitation_mail", "send_invitation"]

log = logging.getLogger(__name__)


def invitation_mail(
    settings: Settings, *, name: str, login_id: str, member: str, link: str, until: str
) -> tuple[str, str]:
    """Subject and body of the invitation, in Japanese."""
    token = current_locale.set(MAIL_LOCALE)
    try:
        subject = _("[Kyodo] Your account on the contract platform of {member}").format(member=member)
        body = _(
            "Dear {name},\n\n"
            "An account on the electronic contract platform was made for you by {member}.\n"
            "Login ID: {login_id}\n\n"
            "Choose your own password through this link (usable once, until {until}):\n{link}\n\n"
            "If you did not expect this mail, please ignore it; nobody can sign in without the password you choose.\n"
        ).format(name=name, member=member, login_id=login_id, link=link, until=until)
    finally:
        current_locale.reset(token)
    return subject, body


@shared_task(name=INVITATION_TASK, bind=True, ignore_result=True, max_retries=10)
def send_invitation(self: Task[Any, Any], *, invitation_id: str) -> None:
    """Mail one invitation from the outbox (see the module docstring)."""
    settings = get_settings()
    ident = uuid.UUID(invitation_id)

    async def _claim() -> tuple[str, str, str, str, str, str] | None:
        async with session_scope(settings) as session:
            claimed = await claim_for_mail(session, ident, hours=settings.integrations.invitation_hours)
            if claimed is None:
                return None
            invitation, staff, secret = claimed
            member = await _member_name(session, staff.member_id)
            assert invitation.expires_at is not None
            until = format_date(invitation.expires_at.astimezone(JST), era=True, locale=MAIL_LOCALE)
            until += invitation.expires_at.astimezone(JST).strftime(" %H:%M")
            await session.commit()
            return staff.email, staff.name, staff.login_id, member, secret, until

    async def _release() -> None:
        async with session_scope(settings) as session:
            await release_claim(session, ident)

    claimed = run_async(_claim())
    if claimed is None:
        return
    email, name, login_id, member, secret, until = claimed
    subject, body = invitation_mail(
        settings,
        name=name,
        login_id=login_id,
        member=member,
        link=f"{settings.server.staff_base_url()}/invitation/{secret}",
        until=until,
    )
    try:
        deliver(settings, to=email, subject=subject, body=body)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, ValueError) as exc:
        log.warning("invitation %s to %s refused: %s", invitation_id, email, exc)
        run_async(_release())
    except (OSError, ConnectionError) as exc:
        run_async(_release())
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


async def _member_name(session: AsyncSession, member_id: uuid.UUID) -> str:
    return await InvitationRepository(session, None).member_name(member_id)
