"""Test or live (ONB-1): a contract belongs to the environment its member was in when it was made.

A contract made in the sandbox or trial is a test contract: its mails say
【テスト】, and going live deletes it with its files, parties and trail, while
other members' contracts and the member's later contracts are live and stay.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.scope import elevated
from core.settings import MailSettings, Settings
from onboarding import stages
from onboarding.environment import TEST_MAIL_NOTICE, TEST_MAIL_PREFIX
from onboarding.models import Environment
from signing.mail import MAIL_TASK, deliver
from signing.models import AuditEvent, BulkBatch, Contract, ContractDocument, Party
from tenants.models import Member, MemberStatus
from tests import factories as f
from tests.signing.conftest import Mailbox, Office


async def _sent_contract(client: AsyncTestClient, key: str, title_id: str, subject: str, contractor: str) -> str:
    """A contract with a file and one contractor, sent: the contractor's request is in the outbox."""
    api = {"Authorization": f"Bearer {key}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": subject,
            "title_id": title_id,
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    contract_id = str(created.json()["id"])
    party = {"order_no": 1, "kind": "contractor", "name": "担当", "email": contractor, "password": "secret-pw"}
    added = await client.post(f"/api/v1/contracts/{contract_id}/parties", headers=api, json=party)
    assert added.status_code == 201, added.text
    assert (await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)).status_code == 200
    return contract_id


async def _in_stage(session: AsyncSession, member: Member, status: MemberStatus) -> None:
    async with elevated(session):
        member.status = status
        await session.flush()


async def _counts(session: AsyncSession, contract_id: str) -> dict[str, int]:
    """How many rows of the contract each of its tables holds (read across members)."""
    counts: dict[str, int] = {}
    async with elevated(session):
        for name, statement in (
            ("contract", select(func.count()).select_from(Contract).where(Contract.id == contract_id)),
            ("documents", select(func.count()).where(ContractDocument.contract_id == contract_id)),
            ("parties", select(func.count()).where(Party.contract_id == contract_id)),
            ("trail", select(func.count()).where(AuditEvent.contract_id == contract_id)),
        ):
            counts[name] = int(await session.scalar(statement) or 0)
    return counts


async def _environment(session: AsyncSession, contract_id: str) -> Environment:
    async with elevated(session):
        contract = await session.get(Contract, contract_id)
        assert contract is not None
        await session.refresh(contract, ["environment"])
        return contract.environment


async def _deliver_mail(session: AsyncSession, settings: Settings, port: int) -> None:
    """Send every mail of the outbox through the real SMTP server on ``port``, as the mail task does."""
    smtp = dataclasses.replace(settings, mail=MailSettings(smtp_host="127.0.0.1", smtp_port=port))
    async with elevated(session):
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK).order_by(OutboxMessage.id)
            )
        ).all()
        kwargs: list[dict[str, Any]] = [dict(row.kwargs) for row in rows]
    for message in kwargs:
        deliver(smtp, **{k: v for k, v in message.items() if k in ("to", "subject", "body", "sealed_link")})


async def test_contracts_of_the_trial_are_deleted_at_go_live_and_live_ones_stay(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    a = office.members.a
    await _in_stage(db_session, a, MemberStatus.TRIAL)
    trial = await _sent_contract(client, office.key_a, str(office.title_a.id), "試行の契約", "trial@example.co.jp")
    other = await _sent_contract(client, office.key_b, str(office.title_b.id), "八幡平の契約", "live@example.co.jp")
    assert await _environment(db_session, trial) is Environment.TEST
    assert await _environment(db_session, other) is Environment.LIVE
    before = await _counts(db_session, trial)
    assert before["contract"] == 1
    assert before["documents"] == 1
    assert before["parties"] == 1
    assert before["trail"] >= 4  # created, uploaded, party added, sent, notified
    kept = await _counts(db_session, other)

    change = await stages.transition(db_session, a, MemberStatus.LIVE, by="事務局 太郎")
    await db_session.flush()

    assert change.detail["cleared"]["contract"] == 1
    # The test contract is gone with its file, its party and its trail …
    assert await _counts(db_session, trial) == {"contract": 0, "documents": 0, "parties": 0, "trail": 0}
    gone = await client.get(f"/api/v1/contracts/{trial}", headers={"Authorization": f"Bearer {office.key_a}"})
    assert gone.status_code == 404
    # … the other member's live contract keeps everything …
    assert await _counts(db_session, other) == kept
    # … and what the member makes from now on is live, and stays at the next clearing.
    live = await _sent_contract(client, office.key_a, str(office.title_a.id), "本番の契約", "now@example.co.jp")
    assert await _environment(db_session, live) is Environment.LIVE
    async with elevated(db_session):
        repeated = await stages.promote_to_live(db_session, a.id)
    assert repeated["contract"] == 0
    assert (await _counts(db_session, live))["contract"] == 1


async def test_a_bulk_sending_of_the_trial_goes_with_its_contracts_at_go_live(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    from tests.signing.test_bulk_api import ROWS
    from tests.signing.test_bulk_sending import prepare_draft

    a = office.members.a
    await _in_stage(db_session, a, MemberStatus.TRIAL)
    draft = await prepare_draft(db_session, office)
    headers = {"Authorization": f"Bearer {office.key_a}"}
    sent = await client.post(f"/api/v1/contracts/{draft.id}/bulk", headers=headers, json=ROWS)
    assert sent.status_code == 202, sent.text
    async with elevated(db_session):
        batch = await db_session.get(BulkBatch, sent.json()["id"])
        assert batch is not None
        assert batch.environment is Environment.TEST

    change = await stages.transition(db_session, a, MemberStatus.LIVE, by="事務局 太郎")
    await db_session.flush()

    assert change.detail["cleared"]["contract"] == 4  # the draft and its three contracts
    assert (change.detail["cleared"]["bulk_batch"], change.detail["cleared"]["bulk_batch_row"]) == (1, 3)
    assert (await client.get(f"/api/v1/bulk/{sent.json()['id']}", headers=headers)).status_code == 404


async def test_mail_about_a_test_contract_says_so(
    client: AsyncTestClient,
    office: Office,
    db_session: AsyncSession,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    await _in_stage(db_session, office.members.a, MemberStatus.SANDBOX)
    await _sent_contract(client, office.key_a, str(office.title_a.id), "練習の契約", "sandbox@example.co.jp")
    await _sent_contract(client, office.key_b, str(office.title_b.id), "本物の契約", "live@example.co.jp")
    await _deliver_mail(db_session, settings, port)

    (test_mail,) = box.to("sandbox@example.co.jp")
    assert str(test_mail["Subject"]).startswith(TEST_MAIL_PREFIX), test_mail["Subject"]
    assert "練習の契約" in str(test_mail["Subject"])
    assert test_mail.get_content().startswith(TEST_MAIL_NOTICE)
    assert "/c/" in test_mail.get_content()  # the personal link is still there
    (live_mail,) = box.to("live@example.co.jp")
    assert not str(live_mail["Subject"]).startswith(TEST_MAIL_PREFIX), live_mail["Subject"]
    assert "テスト" not in live_mail.get_content()
