"""Bulk sending (一括送信, NII-36): one prepared draft, a CSV of counterparties, one contract per row.

A clerk prepares a draft with exactly one contractor party; each row of the
file takes that party's place. The preview writes nothing; sending makes and
sends one contract per row, each all or nothing, each with its own access
password, shown once to the clerk who sent them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage, relay_pending
from core.scope import Principal, PrincipalKind, elevated, for_member
from core.settings import MailSettings, Settings, to_psycopg_url
from kyodo.app import create_app
from signing import services as svc
from signing.audit import Actor
from signing.mail import MAIL_TASK, deliver
from signing.models import AuditEvent, BulkBatch, BulkBatchRow, BulkRowState, Contract, ContractStatus, Party, PartyKind
from signing.services._bulk import run_batch
from tenants.passwords import verify_access_code
from tests import factories as f
from tests.conftest import csrf_token, sign_in, start_worker, task_sender
from tests.helpers import shown_once
from tests.scope import system_access
from tests.signing.conftest import Mailbox, Office, make_office, new_members

SUBJECT = "令和8年度 複写機保守 単価契約"
HEADER_JA = "会社名,担当者名,メールアドレス,金額,契約番号,件名,取引年月日\r\n"


async def prepare_draft(session: AsyncSession, office: Office) -> Contract:
    """The clerk's prepared draft: a file, a placeholder contractor with a text box, then the mayor's signer."""
    await system_access(session)
    drafter = office.drafter_a
    principal = Principal(
        kind=PrincipalKind.STAFF,
        id=drafter.id,
        name=drafter.name,
        consortium_id=office.members.consortium.id,
        member_id=office.members.a.id,
    )
    who = Actor(f"staff:{drafter.id} {drafter.name}")
    draft = await svc.create_contract(
        session,
        principal,
        svc.ContractInput(
            subject=SUBJECT,
            title_id=office.title_a.id,
            contract_number="盛総第100号",
            amount=500_000,
            transaction_date=dt.date(2026, 4, 1),
            counterparty="（各社）",
        ),
        who,
    )
    (document,) = await svc.add_documents(session, get_settings(), draft, [("単価契約書.pdf", f.pdf())], who)
    placeholder = await svc.add_party(
        session,
        draft,
        svc.PartyInput(
            order_no=1,
            kind=PartyKind.CONTRACTOR,
            company="（差し替え）",
            name="（担当者）",
            email="placeholder@example.co.jp",
            password="placeholder-pass",
        ),
        who,
    )
    signer = office.signers_a[0]
    await svc.add_party(
        session,
        draft,
        svc.PartyInput(order_no=2, kind=PartyKind.STAFF, staff_id=signer.id, title_id=office.title_a.id),
        who,
    )
    await svc.add_text_box(
        session,
        draft,
        svc.TextBoxInput(
            document_id=document.id, party_id=placeholder.id, page=0, x=72, y=90, width=200, height=22, label="受託者名"
        ),
        who,
    )
    await session.flush()
    return draft


def get_settings() -> Settings:
    from core.settings import get_settings as settings

    return settings()


async def counts(session: AsyncSession) -> dict[str, int]:
    """Rows of contracts, parties, audit events and outbox messages (every member)."""
    async with elevated(session):
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("contracts", Contract),
                ("parties", Party),
                ("events", AuditEvent),
                ("outbox", OutboxMessage),
            )
        }


async def upload(client: AsyncTestClient, draft_id: uuid.UUID, body: bytes, name: str = "相手方.csv") -> Any:
    return await client.post(
        f"/contracts/{draft_id}/bulk/preview",
        data={"_csrf_token": await csrf_token(client)},
        files=[("file", (name, body, "text/csv"))],
    )


def preview_id(html: str) -> str:
    field = BeautifulSoup(html, "html.parser").select_one("input[name=preview_id]")
    assert field is not None, "the preview offers no send button"
    return str(field["value"])


def line_problems(html: str, line: int) -> str:
    row = BeautifulSoup(html, "html.parser").select_one(f"#line-{line} td.problems")
    assert row is not None, line
    return row.get_text(" ").strip()


async def deliver_mail(session: AsyncSession, settings: Settings, port: int) -> None:
    """Send every mail of the outbox through the real SMTP server on ``port``, as the mail task does."""
    smtp = dataclasses.replace(settings, mail=MailSettings(smtp_host="127.0.0.1", smtp_port=port))
    async with elevated(session):
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK).order_by(OutboxMessage.id)
            )
        ).all()
        messages: list[dict[str, Any]] = [dict(row.kwargs) for row in rows]
    for message in messages:
        deliver(smtp, **{k: v for k, v in message.items() if k in ("to", "subject", "body", "sealed_link")})


CP932_ROWS = (
    HEADER_JA
    + '髙橋建設株式会社,髙橋 一郎,takahashi@example.co.jp,"１，２００，０００",盛総第101号,（本庁舎）,令和8年4月1日\r\n'
    + "山﨑商事株式会社,山﨑 花子,yamasaki@example.co.jp,980000,盛総第102号,（支所）,R8.4.15\r\n"
    + "ｲﾜﾃｼｮｳｼﾞ,ｻｻｷ ｼﾞﾛｳ,sasaki@example.co.jp,,盛総第103号,,\r\n"
)


def check_preview(html: str) -> None:
    """The rows as the clerk reads them: old character forms and half-width kana kept, 令和 dates, draft amount."""
    soup = BeautifulSoup(html, "html.parser")
    cells = [td.get_text() for td in soup.select("#line-2 td")]
    assert cells[:3] == ["髙橋建設株式会社", "髙橋 一郎", "takahashi@example.co.jp"]
    assert "1,200,000" in cells
    assert f"{SUBJECT}　（本庁舎）" in cells
    assert "令和8年4月1日" in cells
    assert "山﨑 花子" in soup.select_one("#line-3").get_text()  # type: ignore[union-attr]
    assert "ｻｻｷ ｼﾞﾛｳ" in soup.select_one("#line-4").get_text()  # type: ignore[union-attr]
    assert "500,000" in soup.select_one("#line-4").get_text()  # type: ignore[union-attr] # the draft's amount


async def test_a_cp932_file_is_previewed_then_sent_with_one_password_each_shown_once(
    client: AsyncTestClient,
    office: Office,
    db_session: AsyncSession,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    draft = await prepare_draft(db_session, office)
    await sign_in(client, "morioka-drafter")
    page = await client.get(f"/contracts/{draft.id}")
    assert f'href="/contracts/{draft.id}/bulk"' in page.text
    start = await client.get(f"/contracts/{draft.id}/bulk")
    assert start.status_code == 200
    assert "相手方（事業者）は1件だけ" in start.text  # the rule is said on the screen
    assert "（差し替え）" in start.text

    before = await counts(db_session)
    previewed = await upload(client, draft.id, CP932_ROWS.encode("cp932"))
    assert previewed.status_code == 200, previewed.text
    assert await counts(db_session) == before  # the preview wrote nothing
    check_preview(previewed.text)

    checked = preview_id(previewed.text)
    refused = await client.post(
        f"/contracts/{draft.id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": checked},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "確認" in BeautifulSoup(refused.text, "html.parser").select_one("#confirm-error").get_text()  # type: ignore[union-attr]
    assert "髙橋 一郎" in refused.text  # the same rows again, ready to tick and send
    assert await counts(db_session) == before

    sent = await client.post(
        f"/contracts/{draft.id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": checked, "confirm": "on"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    result_url = sent.headers["location"]
    result = await client.get(result_url)
    assert result.status_code == 200
    passwords = shown_once(result.text)
    assert len(passwords) == 3
    assert len(set(passwords)) == 3
    assert all(len(p) >= svc.MIN_CONTRACTOR_PASSWORD for p in passwords)
    table = BeautifulSoup(result.text, "html.parser").select("#passwords tbody tr")
    shown = {tr.select("td")[2].get_text(): tr.select("td")[-1].get_text() for tr in table}
    assert set(shown) == {"takahashi@example.co.jp", "yamasaki@example.co.jp", "sasaki@example.co.jp"}
    assert "盛総第101号" in table[0].get_text()
    await check_stored_batch(db_session, office, uuid.UUID(result_url.rsplit("/", 1)[-1]))

    again = await client.get(result_url)
    assert again.status_code == 200
    assert shown_once(again.text) == []
    assert "もう表示できません" in again.text
    for password in passwords:
        assert password not in again.text

    await check_made(db_session, office, draft, shown)
    await deliver_mail(db_session, settings, port)
    for address, password in shown.items():
        (mail,) = box.to(address)
        assert SUBJECT in str(mail["Subject"])
        body = mail.get_content()
        assert "/c/" in body
        assert password not in body  # never the password in the mail
    assert box.to("placeholder@example.co.jp") == []


async def check_stored_batch(session: AsyncSession, office: Office, batch_id: uuid.UUID) -> None:
    """The batch is PostgreSQL's: who started it, when, its counts and each row's outcome; the passwords dropped."""
    await system_access(session)
    batch = await session.get(BulkBatch, batch_id, populate_existing=True)
    assert batch is not None
    assert batch.started_by == f"staff:{office.drafter_a.id}"
    assert (batch.row_count, batch.sent_count, batch.failed_count) == (3, 3, 0)
    assert batch.finished_at is not None
    assert batch.sealed_passwords is None  # shown once, then dropped
    assert batch.passwords_shown_at is not None
    rows = (
        await session.scalars(select(BulkBatchRow).where(BulkBatchRow.batch_id == batch_id).order_by(BulkBatchRow.line))
    ).all()
    assert [(r.line, r.state) for r in rows] == [(line, BulkRowState.SENT) for line in (2, 3, 4)]
    assert rows[0].contract_number == "盛総第101号"
    assert all(r.contract_id for r in rows)


async def check_made(session: AsyncSession, office: Office, draft: Contract, shown: dict[str, str]) -> None:
    """Three contracts in circulation, each with its contractor, password hash and trail; the draft stays a draft."""
    await system_access(session)
    made = (
        await session.scalars(
            select(Contract).where(Contract.member_id == office.members.a.id, Contract.id != draft.id)
        )
    ).all()
    assert len(made) == 3
    for contract in made:
        await session.refresh(contract, ["parties", "status", "subject", "counterparty", "amount"])
        assert contract.status is ContractStatus.CIRCULATING
        (contractor,) = [p for p in contract.parties if p.kind is PartyKind.CONTRACTOR]
        assert contract.counterparty == contractor.company
        assert await verify_access_code(contractor.password_hash, shown[contractor.email])
        assert len(contract.parties) == 2
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.contract_id == contract.id))).all()
        bulk = [e.detail["bulk_sending"] for e in events if "bulk_sending" in e.detail]
        (origin,) = bulk  # one event: "came from bulk sending of draft X"
        assert isinstance(origin, dict)
        assert origin["draft"] == str(draft.id)
    by_email = {next(p.email for p in c.parties if p.kind is PartyKind.CONTRACTOR): c for c in made}
    assert by_email["takahashi@example.co.jp"].amount == 1_200_000
    assert by_email["sasaki@example.co.jp"].subject == SUBJECT
    await session.refresh(draft, ["status"])
    assert draft.status is ContractStatus.DRAFT


async def test_a_bom_utf8_file_with_problems_is_shown_by_line_and_writes_nothing(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    await sign_in(client, "morioka-drafter")
    body = (
        "company,person,email,amount,remarks\r\n"
        "岩手建設株式会社,岩手 一郎,iwate@example.co.jp,1000,\r\n"
        "吉田工業,𠮷田 二郎,yoshida@example.co.jp,1000,\r\n"
        "盛岡設備,盛岡 三郎,not-an-address,1000,\r\n"
        "紫波電気,紫波 四郎,IWATE@example.co.jp,千円,\r\n"
    )
    before = await counts(db_session)
    previewed = await upload(client, draft.id, b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert previewed.status_code == 422
    assert await counts(db_session) == before
    html = previewed.text
    assert "「remarks」" in BeautifulSoup(html, "html.parser").select_one("#file-problems").get_text()  # type: ignore[union-attr]
    assert line_problems(html, 2) == "問題なし"
    assert "U+20BB7" in line_problems(html, 3)
    assert "封緘に使うフォント" in line_problems(html, 3)
    assert "メールアドレスではありません" in line_problems(html, 4)
    assert "2行目" in line_problems(html, 5)  # the same address (in another case) as line 2
    assert "数値" in line_problems(html, 5) or "金額" in line_problems(html, 5)
    assert 'name="preview_id"' not in html  # nothing can be sent


async def test_a_draft_without_exactly_one_contractor_is_refused_with_the_rule(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    who = Actor("test")
    await svc.add_party(
        db_session,
        draft,
        svc.PartyInput(
            order_no=1, kind=PartyKind.CONTRACTOR, name="二人目", email="second@example.co.jp", password="second-pass"
        ),
        who,
    )
    await db_session.flush()
    await sign_in(client, "morioka-drafter")
    page = await client.get(f"/contracts/{draft.id}/bulk")
    assert "2件" in BeautifulSoup(page.text, "html.parser").select_one("#bulk-refusal").get_text()  # type: ignore[union-attr]
    before = await counts(db_session)
    refused = await upload(client, draft.id, CP932_ROWS.encode("cp932"))
    assert refused.status_code == 400
    assert await counts(db_session) == before


async def test_another_member_or_clerk_reaches_neither_the_draft_nor_the_passwords(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    await f.staff(db_session, office.members.b, "hachimantai-drafter", roles=("drafter",))
    await f.staff(db_session, office.members.a, "morioka-drafter2", roles=("drafter",))
    await f.staff(db_session, office.members.a, "morioka-viewer", roles=("viewer",))
    await sign_in(client, "morioka-drafter")
    previewed = await upload(client, draft.id, CP932_ROWS.encode("cp932"))
    sent = await client.post(
        f"/contracts/{draft.id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": preview_id(previewed.text), "confirm": "on"},
        follow_redirects=False,
    )
    result_url = sent.headers["location"]
    made = await counts(db_session)
    twice = await client.post(  # a second click on "send" sends nothing more
        f"/contracts/{draft.id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": preview_id(previewed.text), "confirm": "on"},
        follow_redirects=False,
    )
    assert twice.status_code == 400
    assert "もう一度アップロード" in twice.text
    assert await counts(db_session) == made

    await sign_in(client, "hachimantai-drafter")
    before = await counts(db_session)
    assert (await client.get(f"/contracts/{draft.id}/bulk")).status_code == 404
    assert (await upload(client, draft.id, CP932_ROWS.encode("cp932"))).status_code == 404
    sent_by_b = await client.post(
        f"/contracts/{draft.id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": "0" * 32, "confirm": "on"},
        follow_redirects=False,
    )
    assert sent_by_b.status_code == 404
    assert (await client.get(result_url)).status_code == 404
    assert (await client.get(f"{result_url}/progress")).status_code == 404
    assert await counts(db_session) == before
    await sign_in(client, "morioka-drafter2")  # the same member, another clerk: the passwords are not theirs
    assert (await client.get(result_url)).status_code == 404
    await sign_in(client, "morioka-viewer")
    assert (await client.get(f"/contracts/{draft.id}/bulk")).status_code == 403

    await sign_in(client, "morioka-drafter")
    assert len(shown_once((await client.get(result_url)).text)) == 3  # still there for the clerk who sent them


REFUSED = "refused@example.co.jp"
_REFUSE_SQL = (
    """
    CREATE FUNCTION test_refuse_party() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.email = 'refused@example.co.jp' THEN
        RAISE EXCEPTION 'the database refuses this party' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER test_refuse_party BEFORE INSERT OR UPDATE ON contract_party "
    "FOR EACH ROW EXECUTE FUNCTION test_refuse_party()",
)


def _rows(n: int, *, refused_line: int) -> bytes:
    lines = [HEADER_JA]
    for i in range(2, n + 2):
        email = REFUSED if i == refused_line else f"company{i}@example.co.jp"
        lines.append(f"第{i}商事株式会社,担当 {i}郎,{email},{i * 1000},盛総第{i}号,（{i}）,令和8年4月1日\r\n")
    return "".join(lines).encode("cp932")


async def _send_file(client: AsyncTestClient, draft_id: uuid.UUID, body: bytes) -> str:
    previewed = await upload(client, draft_id, body)
    assert previewed.status_code == 200, previewed.text
    sent = await client.post(
        f"/contracts/{draft_id}/bulk/send",
        data={"_csrf_token": await csrf_token(client), "preview_id": preview_id(previewed.text), "confirm": "on"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


async def _committed_draft(maker: Any) -> Contract:
    """Two members, member A's office and its prepared draft, committed (the worker must see them)."""
    async with maker() as session:
        two = await new_members(session)
        draft = await prepare_draft(session, await make_office(session, two))
        await session.commit()
    return draft


async def _what_is_stored(maker: Any) -> dict[str, int]:
    """Contracts in all (the draft and those sent), those in circulation, parties with the refused address."""
    async with maker() as session:
        await system_access(session)
        return {
            "contracts": int(await session.scalar(select(func.count()).select_from(Contract)) or 0),
            "circulating": int(
                await session.scalar(select(func.count()).where(Contract.status == ContractStatus.CIRCULATING)) or 0
            ),
            "refused parties": int(await session.scalar(select(func.count()).where(Party.email == REFUSED)) or 0),
        }


async def _outbox_and_trail_text(maker: Any) -> str:
    """Everything the outbox (task arguments, mails) and the audit trail hold, as text."""
    async with maker() as session:
        await system_access(session)
        outbox = (await session.scalars(select(OutboxMessage.kwargs))).all()
        trail = (await session.scalars(select(AuditEvent.detail))).all()
    return repr(outbox) + repr(trail)


async def _until_done(client: AsyncTestClient, maker: Any, sender: Any, url: str) -> None:
    """Poll the progress box as the page does (handing the outbox to the workers as beat would) until it is done."""
    deadline = time.monotonic() + 180
    while True:
        async with maker() as session:
            await relay_pending(session, app=sender)
            await session.commit()
        progress = await client.get(f"{url}/progress")
        assert progress.status_code == 200
        if progress.headers.get("hx-refresh") == "true":
            return
        assert time.monotonic() < deadline, progress.text
        await asyncio.sleep(1)


async def test_a_row_the_database_refuses_leaves_nothing_and_a_large_batch_runs_in_a_worker(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row is all or nothing, in the request (3 rows) and in a real worker (21 rows, with progress)."""
    _box, port = smtp_server
    monkeypatch.setenv("KYODO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KYODO_SMTP_PORT", str(port))
    with psycopg.connect(fresh_database.database.admin_url, autocommit=True) as owner:
        for statement in _REFUSE_SQL:  # a row the database refuses when it is written, as a constraint would
            owner.execute(statement)
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    worker = start_worker(fresh_database, tmp_path, name="bulk")
    try:
        draft = await _committed_draft(maker)
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            await sign_in(client, "morioka-drafter")

            # In the request: the refused row is listed with why; the other two are sent.
            small = await client.get(await _send_file(client, draft.id, _rows(3, refused_line=3)))
            assert "2件の契約を送信しました。送信できなかった行：1件。" in small.text
            failed = BeautifulSoup(small.text, "html.parser").select("#failed-rows tbody tr")
            assert len(failed) == 1
            assert REFUSED in failed[0].get_text()
            assert "何も残っていません" in failed[0].get_text()
            assert len(shown_once(small.text)) == 2

            # In a worker: more than BULK_BACKGROUND_ROWS rows, progress shown until done.
            url = await _send_file(client, draft.id, _rows(21, refused_line=10))
            first = await client.get(url)
            assert 'id="bulk-progress"' in first.text
            assert shown_once(first.text) == []
            sender = task_sender(fresh_database)
            await _until_done(client, maker, sender, url)
            large = await client.get(url)
            assert "20件の契約を送信しました。送信できなかった行：1件。" in large.text
            passwords = shown_once(large.text)
            assert len(set(passwords)) == 20
            assert shown_once((await client.get(url)).text) == []

            # The task delivered again for a finished batch sends nothing more; the result is PostgreSQL's.
            batch = url.rsplit("/", 1)[-1]
            sender.send_task("signing.bulk_send", kwargs={"member_id": str(draft.member_id), "batch_id": batch})
            await _until_done(client, maker, sender, url)
            assert "20件の契約を送信しました。送信できなかった行：1件。" in (await client.get(url)).text
            assert redis.Redis.from_url(fresh_database.redis.url).keys("kyodo:bulk:batch*") == []
            stored_batch = await _batch_row(maker, uuid.UUID(batch))
            assert (stored_batch.row_count, stored_batch.sent_count, stored_batch.failed_count) == (21, 20, 1)
            assert stored_batch.finished_at is not None
            assert stored_batch.sealed_passwords is None  # shown once, then dropped

        assert await _what_is_stored(maker) == {"contracts": 23, "circulating": 22, "refused parties": 0}
        stored = await _outbox_and_trail_text(maker)
        assert not [p for p in passwords if p in stored]  # no password in clear in PostgreSQL
    finally:
        worker.stop()
        await engine.dispose()


async def _batch_row(maker: Any, batch_id: uuid.UUID) -> BulkBatch:
    async with maker() as session:
        await system_access(session)
        batch: BulkBatch | None = await session.get(BulkBatch, batch_id)
        assert batch is not None
        return batch


async def test_passwords_not_looked_at_in_seven_days_are_gone_and_the_page_says_so(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    draft = await prepare_draft(db_session, office)
    await sign_in(client, "morioka-drafter")
    url = await _send_file(client, draft.id, CP932_ROWS.encode("cp932"))
    batch = await db_session.get(BulkBatch, uuid.UUID(url.rsplit("/", 1)[-1]))
    assert batch is not None
    assert batch.sealed_passwords is not None  # encrypted, waiting for the one view
    assert batch.passwords_until - batch.created_at <= dt.timedelta(days=7)
    batch.passwords_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # seven days later
    await db_session.flush()
    page = await client.get(url)
    assert shown_once(page.text) == []
    assert "7日以内に表示されなかった" in page.text
    assert "パスワードを再設定" in page.text  # how to give a new one
    assert "3件の契約を送信しました" in page.text
    stored = await db_session.get(BulkBatch, batch.id, populate_existing=True)
    assert stored is not None
    assert stored.sealed_passwords is None  # dropped unseen
    assert stored.passwords_shown_at is None
    assert stored.passwords_dropped_at is not None


@asynccontextmanager
async def _member_session(maker: Any, member_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """What the worker's task opens for each row: a session of the member, committed when the block ends."""
    async with maker() as session:
        try:
            await for_member(session, member_id)
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def _consistent(maker: Any, draft: Contract, batch_id: uuid.UUID) -> dict[str, int]:
    """Rows by state; each sent row has its own contract in circulation, and no contract of the batch lacks a row."""
    async with maker() as session:
        await system_access(session)
        rows = (await session.scalars(select(BulkBatchRow).where(BulkBatchRow.batch_id == batch_id))).all()
        made = (
            await session.scalars(
                select(Contract).where(Contract.member_id == draft.member_id, Contract.id != draft.id)
            )
        ).all()
        batch = await session.get(BulkBatch, batch_id)
    sent = [r for r in rows if r.state is BulkRowState.SENT]
    assert sorted(str(r.contract_id) for r in sent) == sorted(str(c.id) for c in made)  # one contract per sent row
    assert {c.status for c in made} <= {ContractStatus.CIRCULATING}  # nothing half sent (no copy left a draft)
    assert batch is not None
    assert (batch.sent_count, batch.failed_count) == (
        len(sent),
        len([r for r in rows if r.state is BulkRowState.FAILED]),
    )
    return {state.value: len([r for r in rows if r.state is state]) for state in BulkRowState}


async def test_a_worker_killed_mid_batch_and_the_task_delivered_again_sends_no_row_twice(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real worker killed (SIGKILL) while it sends; the task delivered again, twice at once: each row once."""
    _box, port = smtp_server
    monkeypatch.setenv("KYODO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KYODO_SMTP_PORT", str(port))
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    workers = [start_worker(fresh_database, tmp_path, name="bulk-killed")]
    try:
        draft = await _committed_draft(maker)
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            await sign_in(client, "morioka-drafter")
            url = await _send_file(client, draft.id, _rows(40, refused_line=0))
            batch_id = uuid.UUID(url.rsplit("/", 1)[-1])
            sender = task_sender(fresh_database)
            deadline = time.monotonic() + 180
            while (await _batch_row(maker, batch_id)).sent_count < 3:
                async with maker() as session:
                    await relay_pending(session, app=sender)
                    await session.commit()
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            popen = workers[0].popen
            assert popen is not None
            os.killpg(popen.pid, signal.SIGKILL)  # in the middle of a row, most likely
            popen.wait(10)
            killed = await _consistent(maker, draft, batch_id)
            assert killed["pending"] > 0, killed  # it did stop mid-batch
            assert 'id="bulk-progress"' in (await client.get(url)).text

            # Delivered again: to a new worker, and at the same time to a second run (as a broker may do).
            workers.append(start_worker(fresh_database, tmp_path, name="bulk-again"))
            kwargs = {"member_id": str(draft.member_id), "batch_id": str(batch_id)}
            sender.send_task("signing.bulk_send", kwargs=kwargs)
            second = await svc_run_batch(fresh_database, draft.member_id, batch_id, maker)
            assert second == "done"
            await _until_done(client, maker, sender, url)
            page = await client.get(url)
            assert "40件の契約を送信しました。送信できなかった行：0件。" in page.text
            assert len(set(shown_once(page.text))) == 40
        assert await _consistent(maker, draft, batch_id) == {"pending": 0, "sent": 40, "failed": 0}
        assert await _what_is_stored(maker) == {"contracts": 41, "circulating": 40, "refused parties": 0}
    finally:
        for worker in workers:
            worker.stop()
        await engine.dispose()


async def svc_run_batch(settings: Settings, member_id: uuid.UUID, batch_id: uuid.UUID, maker: Any) -> str:
    """The task's work, run here while the worker runs it too."""
    return await run_batch(
        settings,
        member_id=member_id,
        batch_id=str(batch_id),
        open_session=lambda member: _member_session(maker, member),
    )


async def test_passwords_unseen_for_seven_days_are_dropped_by_the_daily_purge(
    fresh_database: Settings, tmp_path: Path
) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        draft = await _committed_draft(maker)
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            await sign_in(client, "morioka-drafter")
            url = await _send_file(client, draft.id, CP932_ROWS.encode("cp932"))
            batch_id = uuid.UUID(url.rsplit("/", 1)[-1])
            now = dt.datetime.now(dt.UTC)
            assert svc.drop_expired_bulk_passwords(fresh_database, now + dt.timedelta(days=6)) == 0
            assert (await _batch_row(maker, batch_id)).sealed_passwords is not None
            assert svc.drop_expired_bulk_passwords(fresh_database, now + dt.timedelta(days=7, minutes=1)) == 1
            stored = await _batch_row(maker, batch_id)
            assert stored.sealed_passwords is None
            assert stored.passwords_dropped_at is not None
            page = await client.get(url)
            assert shown_once(page.text) == []
            assert "7日以内に表示されなかった" in page.text
            assert "3件の契約を送信しました" in page.text  # the result stays
    finally:
        await engine.dispose()
