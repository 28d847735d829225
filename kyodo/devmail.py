"""The development mailbox: an SMTP server (aiosmtpd) that keeps mail in the data folder.

``kyodo demo`` starts it when no ``KYODO_SMTP_HOST`` is set and tells the worker
to send there (``KYODO_DEV_MAILBOX``, ``KYODO_DEV_MAILBOX_PORT``). ``/dev/mail``
lists what arrived and ``/dev/mail.json`` gives recipients, subjects and bodies to
scripts. Both answer 404 unless ``KYODO_DEV_MAILBOX`` is on: never in production.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from litestar import Controller as HttpController
from litestar import Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.settings import Settings

__all__ = ["DevMailController", "DevMailbox", "read_mailbox"]


def _folder(settings: Settings) -> Path:
    return settings.app.data_dir / "devmail"


class _Handler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        record = {
            "received_at": dt.datetime.now(dt.UTC).isoformat(),
            "from": str(message["From"] or ""),
            "to": [str(r) for r in envelope.rcpt_tos],
            "subject": str(message["Subject"] or ""),
            "body": body.get_content() if body is not None else "",
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.json"
        (self.folder / name).write_text(json.dumps(record, ensure_ascii=False))
        return "250 OK"


class DevMailbox:
    """The SMTP server of the development mailbox (a thread of the demo supervisor)."""

    def __init__(self, settings: Settings) -> None:
        port = settings.mail.dev_mailbox_port
        if not port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
        self.port = port
        self.controller = Controller(_Handler(_folder(settings)), hostname="127.0.0.1", port=port)

    def start(self) -> DevMailbox:
        """Start listening on 127.0.0.1."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()


def read_mailbox(settings: Settings) -> list[dict[str, Any]]:
    """Every message received, newest first."""
    folder = _folder(settings)
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"), reverse=True)]


class DevMailController(HttpController):
    """Pages of the development mailbox (404 unless KYODO_DEV_MAILBOX is on)."""

    path = "/dev"
    include_in_schema = False

    @staticmethod
    def _enabled(state: State) -> Settings:
        settings: Settings = state.settings
        if not settings.mail.dev_mailbox:
            raise NotFoundException()
        return settings

    @get("/mail")
    async def page(self, state: State) -> Template:
        """Received mail as a list."""
        return Template("devmail.html", context={"messages": read_mailbox(self._enabled(state))})

    @get("/mail.json")
    async def as_json(self, state: State) -> Response[list[dict[str, Any]]]:
        """Received mail as JSON: recipients, subjects, bodies."""
        return Response(read_mailbox(self._enabled(state)))
