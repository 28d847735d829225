"""The development mailbox of `kyodo demo`: mail is caught and shown at /dev/mail (never in production)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import MailSettings, Settings
from kyodo.app import create_app
from kyodo.devmail import DevMailbox
from signing.mail import deliver
from tests.conftest import _session_maker


async def test_mail_is_caught_and_listed(settings: Settings, db_connection: AsyncConnection, tmp_path: Path) -> None:
    dev = dataclasses.replace(
        settings,
        app=dataclasses.replace(settings.app, data_dir=tmp_path),
        mail=MailSettings(smtp_host="", dev_mailbox=True, dev_mailbox_port=0),
    )
    mailbox = DevMailbox(dev).start()
    try:
        running = dataclasses.replace(dev, mail=dataclasses.replace(dev.mail, dev_mailbox_port=mailbox.port))
        deliver(
            running,
            to="taro@iwate-kensetsu.example.jp",
            subject="【署名依頼】図書館空調改修工事",
            body="ご確認ください。",
        )
        async with AsyncTestClient(app=create_app(running, session_maker=_session_maker(db_connection))) as client:
            listed = (await client.get("/dev/mail.json")).json()
            page = await client.get("/dev/mail")
    finally:
        mailbox.stop()
    assert len(listed) == 1
    assert "taro@iwate-kensetsu.example.jp" in str(listed[0])
    assert "【署名依頼】図書館空調改修工事" in str(listed[0])
    assert "ご確認ください。" in str(listed[0])
    assert "図書館空調改修工事" in page.text


async def test_the_mailbox_does_not_exist_in_production(client: AsyncTestClient) -> None:
    assert (await client.get("/dev/mail.json")).status_code == 404
    assert (await client.get("/dev/mail")).status_code == 404
