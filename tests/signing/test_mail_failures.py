"""A mail that cannot be delivered is recorded on its contract, never lost silently."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import signing.tasks
from core.settings import MailSettings, Settings, to_psycopg_url
from kyodo.app import create_app
from kyodo.devmail import DevMailbox, read_mailbox
from signing.audit import Actor, append_event
from signing.mail import MAIL_TASK
from signing.models import AuditEvent, AuditKind, Contract, ContractStatus, Party, PartyKind, PartyStatus
from tests import factories as f
from tests.conftest import sign_in
from tests.scope import system_access


async def test_a_refused_mail_is_on_the_contracts_trail(
    fresh_database: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        await system_access(session)
        consortium = await f.consortium(session, slug="mail-failures")
        member = await f.member(session, consortium, "032018", "盛岡市")
        title = await f.title(session, member, "mayor", "市長", "盛岡市長")
        await f.staff(session, member, "mail-drafter", roles=("drafter",))
        contract = Contract(
            member_id=member.id, title_id=title.id, subject="備品購入契約", status=ContractStatus.CIRCULATING
        )
        session.add(contract)
        await session.flush()
        session.add(
            Party(
                member_id=member.id,
                contract_id=contract.id,
                order_no=1,
                kind=PartyKind.CONTRACTOR,
                status=PartyStatus.NOTIFIED,
                company="盛岡商事",
                name="盛岡 太郎",
                email="taro@example.co.jp",
            )
        )
        await append_event(
            session, member_id=member.id, contract_id=contract.id, kind=AuditKind.CREATED, who=Actor("起案 太郎")
        )
        await session.commit()
    # A subject written before line breaks were refused at entry: the mail cannot even be built.
    settings = dataclasses.replace(
        fresh_database,
        app=dataclasses.replace(fresh_database.app, data_dir=tmp_path),
        mail=MailSettings(smtp_host="", dev_mailbox=True, dev_mailbox_port=0),
    )
    mailbox = DevMailbox(settings).start()
    settings = dataclasses.replace(settings, mail=dataclasses.replace(settings.mail, dev_mailbox_port=mailbox.port))
    monkeypatch.setattr(signing.tasks, "get_settings", lambda: settings)
    monkeypatch.setattr("core.db.get_settings", lambda: settings)
    try:
        # As in a worker: the task runs its own event loop, so not on the test's.
        result = await asyncio.to_thread(
            signing.tasks.send_mail.apply,
            kwargs={
                "to": "taro@example.co.jp",
                "subject": "備品購入契約\r\nBcc: everyone@example.jp",
                "body": "本文",
                "contract_id": str(contract.id),
                "member_id": str(member.id),
            },
        )
    finally:
        mailbox.stop()
    assert result.successful(), result.traceback
    assert read_mailbox(settings) == [], "nothing half-built went out"
    async with maker() as session:
        await system_access(session)
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.contract_id == contract.id).order_by(AuditEvent.id)
            )
        ).all()
    await engine.dispose()
    assert [e.kind for e in events] == [AuditKind.CREATED, AuditKind.MAIL_FAILED]
    assert events[-1].detail["to"] == "taro@example.co.jp"
    assert "ValueError" in str(events[-1].detail["reason"])
    assert signing.tasks.send_mail.name == MAIL_TASK
    # Staff see it on the contract's page, not only in the trail.
    async with AsyncTestClient(app=create_app(settings)) as client:
        await sign_in(client, "mail-drafter")
        page = await client.get(f"/contracts/{contract.id}")
    assert page.status_code == 200
    assert "メールを届けられませんでした" in page.text
    assert "taro@example.co.jp" in page.text
    # The party is not shown as asked: the request never reached them.
    assert "依頼メールが届いていません" in page.text
    assert "依頼中" not in page.text
