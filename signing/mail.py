"""Mail of the circulation: written to the outbox with the change it announces, sent by a task.

The texts are templates, ``signing/templates/signing/mail/<name>.txt``, each
with a ``subject`` and a ``body`` block whose sentences go through the
platform's gettext catalogs; they are rendered in Japanese, the language of
the parties. A personal link is put into the outbox encrypted with the master
key (AES-GCM) and only decrypted by the task that sends it, so neither the
party row (token hash only) nor the outbox reveals a usable link.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from core.asyncrun import run_async
from core.db import system_session
from core.i18n import current_locale, gettext
from core.outbox import enqueue, lease_on_hand_over
from core.settings import MailSettings, Settings, get_settings
from onboarding.environment import TEST_MAIL_NOTICE, TEST_MAIL_PREFIX
from onboarding.models import Environment
from signing.blobs import master_key, open_with_master
from signing.models import Contract
from signing.notice_routing import install as install_notice_routing
from signing.notice_routing import notice_mark
from signing.repositories.senders import Sender, SenderRepository

__all__ = [
    "LINK_PLACEHOLDER",
    "MAIL_LOCALE",
    "MAIL_TASK",
    "deliver",
    "mail_sender",
    "open_link",
    "queue_contract_mail",
    "queue_mail",
    "render_mail",
    "sender_of_mail",
]

MAIL_TASK = "signing.send_mail"
LINK_PLACEHOLDER = "[[LINK]]"
MAIL_LOCALE = "ja"
"""The language mails are written in (parties and staff read Japanese, whatever a screen was set to)."""
_AAD = b"kyodo-mail-link"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    # Plain-text mail: nothing is HTML, so nothing is escaped.
    autoescape=False,  # noqa: S701 - plain-text mail, nothing is HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_TEMPLATES.globals["_"] = gettext


def render_mail(name: str, **context: Any) -> tuple[str, str]:
    """Subject and body of the mail template ``signing/mail/<name>.txt``, in :data:`MAIL_LOCALE`."""
    template = _TEMPLATES.get_template(f"signing/mail/{name}.txt")
    token = current_locale.set(MAIL_LOCALE)
    try:
        values = template.new_context({"link": LINK_PLACEHOLDER, **context})
        subject = "".join(template.blocks["subject"](values)).strip()
        body = "".join(template.blocks["body"](values))
    finally:
        current_locale.reset(token)
    return subject, body


def _from_header(configured: str, sender: Sender | None) -> str:
    """``KYODO_MAIL_FROM`` with the member's name as the display name (the address stays the platform's)."""
    if sender is None or not sender.member:
        return configured
    _name, address = parseaddr(configured)
    return formataddr((f"{sender.member}（共同 電子契約）", address or configured))


def _seal_link(settings: Settings, link: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = nonce + AESGCM(master_key(settings)).encrypt(nonce, link.encode(), _AAD)
    return base64.urlsafe_b64encode(sealed).decode()


def open_link(settings: Settings, sealed: str) -> str:
    """Decrypt a link sealed by :func:`queue_mail`."""
    raw = base64.urlsafe_b64decode(sealed)
    return open_with_master(settings, raw, _AAD).decode()


def queue_mail(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    subject: str,
    body: str,
    link: str | None = None,
    contract: Contract | None = None,
    notice: dict[str, str] | None = None,
) -> None:
    """Write a mail to the outbox in the caller's transaction; ``[[LINK]]`` in the body becomes ``link``.

    With ``contract`` a mail that cannot be delivered is recorded on that contract's
    trail (:data:`~signing.models.AuditKind.MAIL_FAILED`), never lost silently.
    ``notice`` marks a staff notice for the member's notification addresses (:mod:`signing.notice_routing`).
    """
    enqueue(
        session,
        MAIL_TASK,
        to=to,
        subject=subject,
        body=body,
        sealed_link=_seal_link(settings, link) if link else "",
        **({"contract_id": str(contract.id), "member_id": str(contract.member_id)} if contract is not None else {}),
        **({"notice": notice} if notice else {}),
    )


def queue_contract_mail(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    name: str,
    *,
    to: str,
    link: str | None = None,
    **context: Any,
) -> None:
    """Render the mail template ``name`` about ``contract`` and write it to the outbox (see :func:`queue_mail`).

    Mail about a contract of the test environment says so: the subject starts
    with 【テスト】 and the body with a line that it is no real contract. Every
    template may use ``contract_url``, the contract's page for staff.
    """
    context.setdefault("contract_url", f"{settings.server.staff_base_url()}/contracts/{contract.id}")
    subject, body = render_mail(name, contract=contract, **context)
    if contract.environment is Environment.TEST:
        subject = f"{TEST_MAIL_PREFIX}{subject}"
        body = f"{TEST_MAIL_NOTICE}\n\n{body}"
    queue_mail(
        session,
        settings,
        to=to,
        subject=subject,
        body=body,
        link=link,
        contract=contract,
        notice=notice_mark(name, contract.department_id),
    )


install_notice_routing(MAIL_TASK)
# Each mail's outbox row is leased from its hand-over on (see signing.tasks.send_mail).
lease_on_hand_over(MAIL_TASK, lambda: get_settings().worker.mail_lease_seconds)


async def mail_sender(session: AsyncSession, contract_id: uuid.UUID) -> Sender | None:
    """The member, department and contact a mail about the contract speaks for (the session may be elevated)."""
    return await SenderRepository(session, None).sender(contract_id)


SENDER_REUSE_SECONDS = 60.0
"""How long a mail worker process reuses the sender it looked up for a contract's mails."""
_SENDERS: dict[str, tuple[float, Sender]] = {}


def sender_of_mail(contract_id: str, *, clock: Callable[[], float] = time.monotonic) -> Sender | None:
    """:func:`mail_sender` for the mail task (its own session with system access); None without a contract.

    A contract's mails come in a row (its invitations, then three or more
    【締結完了】 mails at once), so the sender found for one is reused for the
    contract's mails of the next :data:`SENDER_REUSE_SECONDS`: a member's new
    contact or department name reaches its mails at most that much later.
    """
    if not contract_id:
        return None
    now = clock()
    kept = _SENDERS.get(contract_id)
    if kept is not None and now - kept[0] < SENDER_REUSE_SECONDS:
        return kept[1]

    async def _lookup() -> Sender | None:
        async with system_session() as session:
            return await mail_sender(session, uuid.UUID(contract_id))

    try:
        found = run_async(_lookup())
    except Exception:  # noqa: BLE001 - the mail still goes, signed by the platform only
        logging.getLogger(__name__).warning("sender of contract %s not found; mail sent unsigned", contract_id)
        return None
    if found is not None:
        if len(_SENDERS) >= 4096:  # a worker's recent contracts only
            _SENDERS.clear()
        _SENDERS[contract_id] = (now, found)
    return found


def _signed(body: str, sender: Sender) -> str:
    template = _TEMPLATES.get_template("signing/mail/_sender.txt")
    token = current_locale.set(MAIL_LOCALE)
    try:
        footer = "".join(template.blocks["body"](template.new_context({"sender": sender})))
    finally:
        current_locale.reset(token)
    return body.rstrip("\n") + "\n" + footer


def deliver(
    settings: Settings,
    *,
    to: str,
    subject: str,
    body: str,
    sealed_link: str = "",
    sender: Sender | None = None,
    message_id: str | None = None,
) -> str:
    """Send one mail through the configured SMTP server (or the development mailbox); returns its Message-ID.

    With ``sender`` the mail speaks for the member: its name is the sender's display
    name, and the body ends with the member, the department and whom to call.
    ``message_id`` fixes the Message-ID (the same on every attempt of one mail); else a fresh one.
    """
    if sealed_link:
        body = body.replace(LINK_PLACEHOLDER, open_link(settings, sealed_link))
    if sender is not None and sender.member:
        body = _signed(body, sender)
    mail = settings.mail
    host, port = mail.smtp_host, mail.smtp_port
    if not host:
        if not mail.dev_mailbox:
            raise RuntimeError("KYODO_SMTP_HOST is not set and the development mailbox is off")
        host, port = "127.0.0.1", mail.dev_mailbox_port
    message = EmailMessage()
    message["From"] = _from_header(mail.mail_from, sender)
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="kyodo")
    message.set_content(body, charset="utf-8")
    _CONNECTIONS.send(message, host, port, mail)
    return str(message["Message-ID"])


class _Connections(threading.local):
    """The SMTP connection of this thread, kept open between mails sent in a row.

    A contract's mails come together (its 【締結完了】 mails to every party at
    once), and each new connection costs a TCP handshake, the greeting, EHLO,
    perhaps STARTTLS and AUTH on both sides. A connection is reused only when its
    last mail went out less than :data:`SMTP_REUSE_SECONDS` ago and it answers a
    NOOP; otherwise, and after any error, it is closed and a fresh one is opened.
    A mail is never sent twice on the way: once ``send_message`` has been called,
    its outcome (sent, refused, failed) is the mail's.
    """

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.key: tuple[str, int, bool, str | None] | None = None
        self.last = 0.0

    def _close(self) -> None:
        # Closed without QUIT: after an error the server may not answer any more.
        smtp, self.smtp, self.key = self.smtp, None, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def _open(self, host: str, port: int, mail: MailSettings) -> smtplib.SMTP:
        key = (host, port, mail.smtp_starttls, mail.smtp_user)
        if self.smtp is not None and self.key == key and time.monotonic() - self.last < SMTP_REUSE_SECONDS:
            try:
                if self.smtp.noop()[0] == 250:
                    return self.smtp
            except (smtplib.SMTPException, OSError):
                pass
        self._close()
        smtp = smtplib.SMTP(host, port, timeout=20)
        try:
            if mail.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if mail.smtp_user:
                smtp.login(mail.smtp_user, mail.smtp_password or "")
        except BaseException:
            with contextlib.suppress(OSError):
                smtp.close()
            raise
        self.smtp, self.key = smtp, key
        return smtp

    def send(self, message: EmailMessage, host: str, port: int, mail: MailSettings) -> None:
        smtp = self._open(host, port, mail)
        try:
            smtp.send_message(message)
        except BaseException:
            self._close()  # whatever state the server is in now, the next mail starts afresh
            raise
        self.last = time.monotonic()


SMTP_REUSE_SECONDS = 30.0
"""A mail process keeps its SMTP connection for the next mail sent within this many seconds."""
_CONNECTIONS = _Connections()
