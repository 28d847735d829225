"""The development mailbox catches demo mail and is never reachable unless switched on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection

from kyodo.app import create_app
from kyodo.devmail import DevMailbox
from kyodo.settings import AppSettings, MailSettings, Settings
from signing.mail import deliver
from tests.conftest import _session_maker


async def test_mail_is_caught_and_listed(settings: Settings, db_connection: AsyncConnection, tmp_path: Path) -> None:
    dev = dataclasses.replace(
        settings,
        app=dataclasses.replace(settings.app, data_dir=tmp_path),
        mail=MailSettings(dev_mailbox=True, dev_mailbox_port=0),
    )
    mailbox = DevMailbox(dev).start()
    try:
        sending = dataclasses.replace(dev, mail=MailSettings(dev_mailbox=True, dev_mailbox_port=mailbox.port))
        deliver(sending, to="c0@example.co.jp", subject="【要対応】契約書の確認", body="本文です")
    finally:
        mailbox.stop()
    async with AsyncTestClient(app=create_app(dev, session_maker=_session_maker(db_connection))) as client:
        listed = (await client.get("/dev/mail.json")).json()
        assert listed[0]["to"] == ["c0@example.co.jp"]
        assert listed[0]["subject"] == "【要対応】契約書の確認"
        assert "本文です" in listed[0]["body"]
        assert "契約書の確認" in (await client.get("/dev/mail")).text


async def test_mailbox_pages_are_off_by_default(client: AsyncTestClient) -> None:
    assert (await client.get("/dev/mail")).status_code == 404
    assert (await client.get("/dev/mail.json")).status_code == 404


def test_default_settings_have_no_mailbox() -> None:
    assert MailSettings().dev_mailbox is False
    assert AppSettings().data_dir  # nothing else needed
