"""Maintenance announcements by e-mail (SLA-5), kept apart so a platform mailer can replace it.

:func:`send_mail` is a minimal sender: SMTP (``KYODO_SMTP_*``) when a host is set,
otherwise each message is written as an ``.eml`` file into ``<data dir>/mailbox``
(the development mailbox). :func:`notify_maintenance` is what the outbox task
``reporting.notify_maintenance`` runs; it is safe to run twice (a window already
announced is skipped).
"""

from __future__ import annotations

import datetime as dt
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.models import ContractorCompany, ContractorContact, Member, MemberStatus
from kyodo.i18n import format_date
from kyodo.i18n import gettext as _
from kyodo.settings import Settings
from reporting.figures import JST
from reporting.models import MaintenanceWindow
from reporting.render import report_language
from tenants.models import Staff, StaffStatus
from tenants.rls import system_access

__all__ = ["mailbox_dir", "notify_maintenance", "send_mail"]


def mailbox_dir(settings: Settings) -> Path:
    """Where messages go when no SMTP host is configured."""
    return settings.app.data_dir / "mailbox"


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text message to one recipient."""
    message = EmailMessage()
    message["From"] = settings.mail.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="kyodo")
    message.set_content(body)
    mail = settings.mail
    if not mail.smtp_host:
        folder = mailbox_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml").write_bytes(bytes(message))
        return
    with smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=30) as smtp:
        if mail.smtp_starttls:
            smtp.starttls()
        if mail.smtp_user:
            smtp.login(mail.smtp_user, mail.smtp_password)
        smtp.send_message(message)


def _when(at: dt.datetime) -> str:
    local = at.astimezone(JST)
    return f"{format_date(local)} {local:%H:%M}"


async def _recipients(session: AsyncSession, consortium_id: uuid.UUID) -> list[str]:
    staff = await session.scalars(
        select(Staff.email)
        .join(Member, Member.id == Staff.member_id)
        .where(
            Member.consortium_id == consortium_id,
            Member.status.in_([MemberStatus.TRIAL, MemberStatus.LIVE, MemberStatus.LEAVING]),
            Staff.status == StaffStatus.ACTIVE,
        )
    )
    contractors = await session.scalars(
        select(ContractorContact.email)
        .join(ContractorCompany, ContractorCompany.id == ContractorContact.company_id)
        .where(ContractorCompany.consortium_id == consortium_id)
    )
    return sorted({*staff, *contractors})


async def notify_maintenance(session: AsyncSession, settings: Settings, window_id: uuid.UUID) -> int:
    """Mail the announcement of a window to members' staff and contractors; returns messages sent."""
    await system_access(session)
    window = await session.get(MaintenanceWindow, window_id, with_for_update=True)
    if window is None or window.notified_at is not None or window.cancelled:
        return 0
    with report_language("ja"):
        subject = _("[Kyodo] Planned maintenance: {title}").format(title=window.title)
        body = _(
            "The electronic-contract service Kyodo will be unavailable for maintenance.\n\n"
            "Work: {title}\nFrom: {start}\nTo: {end}\n\n{description}\n\n"
            "Please finish or postpone signing during this time. Status: {url}/status"
        ).format(
            title=window.title,
            start=_when(window.starts_at),
            end=_when(window.ends_at),
            description=window.description,
            url=settings.server.base_url(),
        )
    recipients = await _recipients(session, window.consortium_id)
    for address in recipients:
        send_mail(settings, address, subject, body)
    window.notified_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return len(recipients)
