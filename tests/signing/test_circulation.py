"""A 20-party contract end to end: real HTTP, a real Celery worker and a real SMTP server (WF-2, WF-6…WF-10)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage, relay_pending
from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from signing.audit import verify_chains
from signing.mail import MAIL_TASK
from signing.models import AuditEvent, Contract, ContractStatus
from signing.services import SEAL_TASK
from tenants.models import SecurityEvent, SecurityEventKind
from tests import factories as f
from tests.conftest import csrf_token, sign_in, start_worker, task_sender
from tests.scope import system_access
from tests.signing.conftest import Mailbox, make_office, new_members

LINK = re.compile(r"/c/([A-Za-z0-9_\-]{20,})")
BOX = re.compile(r'name="box_([0-9a-f\-]{36})"')


class Circulation:
    """Drives the outbox relay and waits for mail at the real SMTP server."""

    def __init__(self, maker: Any, box: Mailbox, sender: Any) -> None:
        self.maker = maker
        self.box = box
        self.sender = sender

    async def pump(self) -> None:
        async with self.maker() as session:
            await relay_pending(session, app=self.sender)
            await session.commit()

    async def mail(self, address: str, count: int, timeout: float = 90.0) -> Any:
        """Wait until ``address`` received ``count`` mails; the last one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.pump()
            mails = self.box.to(address)
            if len(mails) >= count:
                return mails[count - 1]
            await asyncio.sleep(0.2)
        raise AssertionError(f"no mail #{count} for {address}; got {[m['To'] for m in self.box.messages]}")

    async def link(self, address: str, count: int = 1) -> str:
        body = (await self.mail(address, count)).get_content()
        found = LINK.search(body)
        assert found, body
        return found.group(1)


async def _contractor_agrees(client: AsyncTestClient, token: str, password: str, *, wrong_first: bool = False) -> None:
    gate = await client.get(f"/c/{token}")
    assert gate.status_code == 200, gate.text
    assert "アクセスパスワード" in gate.text
    csrf = await csrf_token(client)
    if wrong_first:
        wrong = await client.post(f"/c/{token}/password", data={"password": "wrong-one", "_csrf_token": csrf})
        assert wrong.status_code == 400
        assert "パスワードが正しくありません" in wrong.text
    ok = await client.post(
        f"/c/{token}/password", data={"password": password, "_csrf_token": csrf}, follow_redirects=False
    )
    assert ok.status_code == 303, ok.text
    page = await client.get(f"/c/{token}")
    assert "この契約に同意する" in page.text, page.text
    values = {f"box_{box_id}": "岩手建設株式会社 代表取締役 岩手 一郎" for box_id in BOX.findall(page.text)}
    agreed = await client.post(f"/c/{token}/agree", data={**values, "_csrf_token": csrf, "confirmed": "yes"})
    assert agreed.status_code == 200, agreed.text
    assert "同意を記録しました" in agreed.text


async def _draft(client: AsyncTestClient, office: Any, api: dict[str, str]) -> tuple[str, str]:
    """A contract with one PDF, 17 contractors and 3 staff signers, and two text boxes."""
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "広域ごみ処理施設運営業務委託契約",
            "title_id": str(office.title_a.id),
            "amount": "98000000",
            "transaction_date": "2026-11-21",
            "counterparty": "岩手環境共同企業体",
        },
        files=[("files", ("契約書.pdf", f.pdf(2), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    contract_id = created.json()["id"]
    document_id = created.json()["documents"][0]["id"]
    # 17 contractors: two in parallel first, then one after another; 3 staff signers last.
    parties: list[dict[str, Any]] = []
    for i in range(17):
        order = 1 if i < 2 else i
        parties.append(
            {
                "order_no": order,
                "kind": "contractor",
                "company": f"共同企業体構成員{i}",
                "name": f"担当 {i}",
                "email": f"c{i}@example.co.jp",
                "password": f"pass-{i}-word",
            }
        )
    for j, signer in enumerate(office.signers_a):
        parties.append({"order_no": 17 if j < 2 else 18, "kind": "staff", "staff_id": str(signer.id)})
    ids = []
    for party in parties:
        added = await client.post(f"/api/v1/contracts/{contract_id}/parties", headers=api, json=party)
        assert added.status_code == 201, added.text
        ids.append(added.json()["id"])
    assert len(ids) == 20
    for party_id, label in ((ids[0], "記名押印欄"), (ids[17], "職員確認欄")):
        placed = await client.post(
            f"/api/v1/contracts/{contract_id}/text-boxes",
            headers=api,
            json={
                "document_id": document_id,
                "party_id": party_id,
                "page": 1,
                "x": 300,
                "y": 100,
                "width": 220,
                "height": 30,
                "label": label,
            },
        )
        assert placed.status_code == 201, placed.text
    return contract_id, document_id


async def _staff_sign(client: AsyncTestClient, circulation: Circulation, office: Any, contract_id: str) -> None:
    # Staff signers: two in parallel, then the last one, in the app under their title.
    for j, signer in enumerate(office.signers_a):
        await circulation.mail(signer.email, 1)
        async with AsyncTestClient(app=client.app) as staff_client:
            await sign_in(staff_client, signer.login_id)
            page = await staff_client.get(f"/contracts/{contract_id}")
            assert "名義で締結する" in page.text, page.text
            values = {f"box_{b}": "契約課 確認済" for b in BOX.findall(page.text)}
            signed = await staff_client.post(
                f"/contracts/{contract_id}/sign",
                data={**values, "_csrf_token": await csrf_token(staff_client), "confirmed": "yes"},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.text
            if j == 0:
                again = await staff_client.post(
                    f"/contracts/{contract_id}/sign",
                    data={**values, "_csrf_token": await csrf_token(staff_client), "confirmed": "yes"},
                )
                assert again.status_code == 409
                assert "すでに同意済み" in again.text


async def _check_trail(maker: Any, contract_id: str) -> None:
    """The contract waits for sealing, the seal task is queued and the audit chain verifies."""
    async with maker() as session:
        await system_access(session)
        contract = await session.get(Contract, contract_id)
        assert contract is not None
        assert contract.status is ContractStatus.SEALING
        seal = await session.scalar(select(OutboxMessage).where(OutboxMessage.task_name == SEAL_TASK))
        assert seal is not None
        assert seal.kwargs == {"contract_id": contract_id}
        kinds = (await session.scalars(select(AuditEvent.kind).where(AuditEvent.contract_id == contract.id))).all()
        for kind in ("created", "uploaded", "sent", "opened", "password_failed", "filled", "agreed", "forwarded"):
            assert kind in kinds
        assert kinds.count("agreed") == 20
        assert kinds[-1] in ("completed", "downloaded")
        assert await verify_chains(session) == []
        events = (await session.scalars(select(SecurityEvent.kind))).all()
        assert SecurityEventKind.CONTRACTOR_PASSWORD_FAILED in events


async def _forward_then_agree(client: AsyncTestClient, circulation: Circulation, token: str) -> None:
    # c3 forwards to a colleague, who then answers with the same password.
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    await client.post(f"/c/{token}/password", data={"password": "pass-3-word", "_csrf_token": csrf})
    forwarded = await client.post(
        f"/c/{token}/forward",
        data={"name": "転送先 花子", "email": "hanako@example.co.jp", "_csrf_token": csrf, "confirmed": "yes"},
    )
    assert forwarded.status_code == 200, forwarded.text
    dead = await client.get(f"/c/{token}")
    assert dead.status_code == 404
    assert "このリンクは使えなくなりました" in dead.text
    token = await circulation.link("hanako@example.co.jp")
    await _contractor_agrees(client, token, "pass-3-word")


async def _nothing_concluded_before_the_seal(
    client: AsyncTestClient,
    circulation: Circulation,
    *,
    maker: Any,
    api: dict[str, str],
    contract_id: str,
    document_id: str,
) -> None:
    # Concluded means sealed: nobody is told 締結 and nothing is offered as the concluded
    # contract before the seal exists. (This worker has no sealing key: it stays 封緘待ち.)
    earlier = await circulation.link("c5@example.co.jp", 1)
    page = await client.get(f"/c/{earlier}")
    assert page.status_code == 200
    assert "封緘待ち" in page.text
    assert "電子署名" in page.text
    csrf = await csrf_token(client)
    await client.post(f"/c/{earlier}/password", data={"password": "pass-5-word", "_csrf_token": csrf})
    early = await client.get(f"/c/{earlier}/documents/{document_id}")
    assert early.status_code == 409
    assert "封緘" in early.text
    staff_copy = await client.get(f"/api/v1/contracts/{contract_id}/documents/{document_id}", headers=api)
    assert staff_copy.status_code == 200
    assert staff_copy.headers["x-kyodo-sealed"] == "false"
    assert "%E6%9C%AA%E5%B0%81%E7%B7%98_" in staff_copy.headers["content-disposition"]  # 未封緘_
    async with maker() as session:
        await system_access(session)
        queued = (await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))).all()
    subjects = [str(m.kwargs["subject"]) for m in queued]
    assert len(subjects) > 20
    assert not [s for s in subjects if "締結完了" in s], subjects


async def test_twenty_parties_conclude_through_mail_links(
    fresh_database: Settings, tmp_path: Path, smtp_server: tuple[Mailbox, int], monkeypatch
) -> None:
    box, port = smtp_server
    monkeypatch.setenv("KYODO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KYODO_SMTP_PORT", str(port))
    worker = start_worker(fresh_database, tmp_path, name="mail")
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            two = await new_members(session)
            office = await make_office(session, two)
            await session.commit()
        circulation = Circulation(maker, box, task_sender(fresh_database))
        api = {"Authorization": f"Bearer {office.key_a}"}
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            contract_id, document_id = await _draft(client, office, api)
            sent = await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)
            assert sent.status_code == 200, sent.text
            # Sending twice changes nothing (double click).
            assert (await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)).status_code == 200

            # Order 1: two contractors in parallel.
            first = [await circulation.link("c0@example.co.jp"), await circulation.link("c1@example.co.jp")]
            assert "pass-0-word" not in (await circulation.mail("c0@example.co.jp", 1)).get_content()
            assert box.to("c2@example.co.jp") == []
            await _contractor_agrees(client, first[0], "pass-0-word")
            assert box.to("c2@example.co.jp") == []  # order 2 waits for everyone of order 1
            await _contractor_agrees(client, first[1], "pass-1-word", wrong_first=True)

            for i in range(2, 17):
                token = await circulation.link(f"c{i}@example.co.jp")
                if i == 3:
                    await _forward_then_agree(client, circulation, token)
                    continue
                await _contractor_agrees(client, token, "pass-" + str(i) + "-word")

            await _staff_sign(client, circulation, office, contract_id)

            status = await client.get(f"/api/v1/contracts/{contract_id}/status", headers=api)
            assert status.json()["status"] == "sealing"
            assert status.json()["concluded_at"] is None
            await _nothing_concluded_before_the_seal(
                client, circulation, maker=maker, api=api, contract_id=contract_id, document_id=document_id
            )

        await _check_trail(maker, contract_id)
    finally:
        worker.stop()
        await engine.dispose()
