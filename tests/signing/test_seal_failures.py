"""Concluded means sealed; a seal that cannot be made is explained and fixed, not retried blindly (WF-5, WF-10, SIG-1).

The sealing service runs in-process here against the real loopback TSA/OCSP
(the worker path is covered by test_seal_service and tests/corpus); staff act
through the real HTTP screens.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ServiceError
from core.outbox import OutboxMessage
from core.scope import Principal, PrincipalKind
from core.settings import Settings, SigningSettings
from signing import services as svc
from signing.audit import Actor
from signing.blobs import BlobStore
from signing.mail import MAIL_TASK
from signing.models import (
    AuditEvent,
    AuditKind,
    Contract,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
    SealedDocument,
)
from signing.seal_service import SealerPool, SealOutcome, seal_contract
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access

from .conftest import Office
from .pdfgen import make_pdf

OUTSIDE_THE_FONT = "𠮷野家"
"""𠮷 (U+20BB7, つちよし) is not in the embedded IPAexGothic: the seal cannot print it."""


@dataclass
class Agreed:
    contract: Contract
    contractor: Party
    signer: Party
    box_id: uuid.UUID
    document_id: uuid.UUID


def _drafter(office: Office) -> Principal:
    d = office.drafter_a
    return Principal(
        kind=PrincipalKind.STAFF,
        id=d.id,
        name=d.name,
        consortium_id=office.members.consortium.id,
        member_id=office.members.a.id,
    )


async def _mails(session: AsyncSession) -> list[tuple[str, str]]:
    await system_access(session)
    rows = (await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))).all()
    return [(str(m.kwargs["to"]), str(m.kwargs["subject"])) for m in rows]


async def _agree_all(session: AsyncSession, settings: Settings, office: Office, contract: Contract, value: str) -> None:
    await session.refresh(contract, ["documents", "parties", "sealed_documents", "status"])
    contractor = next(p for p in contract.parties if p.kind is PartyKind.CONTRACTOR)
    box = next(b for b in await svc.text_boxes(session, contract.id) if b.party_id == contractor.id)
    await svc.agree(
        session, settings, contract=contract, party=contractor, values={str(box.id): value}, who=Actor("契約者")
    )
    signer = office.signers_a[0]
    await svc.staff_agree(
        session,
        settings,
        contract=contract,
        principal=Principal(
            kind=PrincipalKind.STAFF,
            id=signer.id,
            name=signer.name,
            consortium_id=office.members.consortium.id,
            member_id=office.members.a.id,
        ),
        values={},
        who=Actor(signer.name),
    )


async def _agreed(session: AsyncSession, settings: Settings, office: Office, *, value: str) -> Agreed:
    """A contractor (with a box) then the mayor agreed; the contractor's stored value is ``value``."""
    await system_access(session)
    who = Actor(office.drafter_a.name)
    contract = await svc.create_contract(
        session,
        _drafter(office),
        svc.ContractInput(
            subject="道路補修工事",
            title_id=office.title_a.id,
            contract_number="R8-77",
            amount=1_000_000,
            transaction_date=dt.date(2026, 4, 1),
            counterparty="岩手建設株式会社",
        ),
        who,
    )
    (document,) = await svc.add_documents(session, settings, contract, [("工事請負契約書.pdf", make_pdf(1))], who)
    contractor = await svc.add_party(
        session,
        contract,
        svc.PartyInput(
            order_no=1,
            kind=PartyKind.CONTRACTOR,
            company="株式会社髙橋建設",
            name="髙橋 一郎",
            email="t@example.co.jp",
            password="kyodo-pass-2026",
        ),
        who,
    )
    signer = await svc.add_party(
        session,
        contract,
        svc.PartyInput(
            order_no=2,
            kind=PartyKind.STAFF,
            name=office.signers_a[0].name,
            email=office.signers_a[0].email,
            staff_id=office.signers_a[0].id,
            title_id=office.title_a.id,
        ),
        who,
    )
    box = await svc.add_text_box(
        session,
        contract,
        svc.TextBoxInput(
            document_id=document.id, party_id=contractor.id, page=0, x=72, y=100, width=160, height=22, label="受注者名"
        ),
        who,
    )
    await svc.send(session, settings, contract, who)
    await _agree_all(session, settings, office, contract, "髙橋建設")
    # A value agreed before the platform checked values on the form (or a font changed since):
    # it reaches the sealing service as it is.
    box.value = value
    await session.flush()
    assert contract.status is ContractStatus.SEALING
    return Agreed(contract, contractor, signer, box.id, document.id)


async def _status(session: AsyncSession, contract: Contract) -> ContractStatus:
    """The contract's status as stored now (the screens changed it in their own session)."""
    await session.refresh(contract, ["status"])
    return contract.status


@pytest.fixture
def pool(signing_settings: SigningSettings) -> SealerPool:
    return SealerPool(signing_settings)


async def test_a_value_outside_the_font_stops_the_seal_and_a_correction_concludes_it(  # noqa: PLR0915 - one story
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    settings: Settings,
    office: Office,
    pool: SealerPool,
) -> None:
    await f.operator(db_session, "kyodo-unyo")
    agreed = await _agreed(db_session, settings, office, value=OUTSIDE_THE_FONT)
    contract = agreed.contract

    assert await seal_contract(db_session, settings, pool, contract.id) is SealOutcome.FAILED
    await db_session.refresh(contract)
    assert contract.status is ContractStatus.SEAL_FAILED
    assert contract.concluded_at is None
    assert contract.seal_failure is not None
    assert contract.seal_failure["reason"] == "characters"
    assert contract.seal_failure["characters"] == "𠮷"
    assert await db_session.scalar(select(func.count()).select_from(SealedDocument)) == 0
    mails = await _mails(db_session)
    assert not [s for _to, s in mails if "締結完了" in s]
    assert (office.drafter_a.email, "【要対応】封緘できませんでした: 道路補修工事") in mails
    alert = [s for to, s in mails if to == "kyodo-unyo@kyodo.example.jp"]
    assert alert == ["【運用アラート】封緘失敗 (characters)"]
    # Not retried by itself: a second delivery of the task changes nothing.
    assert await seal_contract(db_session, settings, pool, contract.id) is SealOutcome.NOT_READY

    await sign_in(client, "morioka-drafter")
    page = await client.get(f"/contracts/{contract.id}")
    assert "封緘できませんでした" in page.text
    assert "「受注者名」（1ページ）の入力に、契約書に印字できない文字があります: 𠮷" in page.text
    api = {"Authorization": f"Bearer {office.key_a}"}
    shown = (await client.get(f"/api/v1/contracts/{contract.id}", headers=api)).json()
    assert shown["status"] == "seal_failed"
    assert "𠮷" in shown["seal_failure"]
    assert shown["concluded_at"] is None

    asked = await client.post(
        f"/contracts/{contract.id}/text-boxes/{agreed.box_id}/correction",
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert asked.status_code == 303, asked.text
    await db_session.refresh(contract)
    await db_session.refresh(agreed.contractor)
    await db_session.refresh(agreed.signer)
    assert await _status(db_session, contract) is ContractStatus.CIRCULATING
    assert not contract.seal_failure
    # The contractor is asked again with a new link, and the mayor, who agreed after seeing the value, waits.
    assert agreed.contractor.status is PartyStatus.NOTIFIED
    assert agreed.signer.status is PartyStatus.WAITING
    assert [s for to, s in await _mails(db_session) if to == "t@example.co.jp"][-1].startswith("【要対応】")

    # On the form, the same value is now refused with a Japanese explanation, before anything changes.
    with pytest.raises(ServiceError, match=r"「𠮷」\(U\+20BB7\)は封緘に使うフォントにないため使えません"):
        await svc.agree(
            db_session,
            settings,
            contract=contract,
            party=agreed.contractor,
            values={str(agreed.box_id): OUTSIDE_THE_FONT},
            who=Actor("契約者"),
        )
    await db_session.refresh(agreed.contractor)
    assert agreed.contractor.status is PartyStatus.NOTIFIED
    await _agree_all(db_session, settings, office, contract, "吉野家")
    assert await _status(db_session, contract) is ContractStatus.SEALING
    assert await seal_contract(db_session, settings, pool, contract.id) is SealOutcome.SEALED
    assert await _status(db_session, contract) is ContractStatus.CONCLUDED
    concluded = [(to, s) for to, s in await _mails(db_session) if "締結完了" in s]
    assert {to for to, _s in concluded} == {"t@example.co.jp", office.signers_a[0].email, office.drafter_a.email}
    sealed = await db_session.scalar(select(SealedDocument).where(SealedDocument.contract_id == contract.id))
    assert sealed is not None
    shown = (await client.get(f"/api/v1/contracts/{contract.id}", headers=api)).json()
    assert shown["concluded_at"] is not None
    (document,) = shown["documents"]
    assert document["sealed"] is True
    assert document["sha256"] == sealed.sha256
    assert document["size"] == sealed.size
    assert document["original_sha256"] != sealed.sha256
    download = await client.get(f"/contracts/{contract.id}/documents/{agreed.document_id}")
    assert download.headers["x-kyodo-sealed"] == "true"
    assert "%E6%9C%AA%E5%B0%81%E7%B7%98" not in download.headers["content-disposition"]  # no 未封緘
    kinds = (
        await db_session.scalars(
            select(AuditEvent.kind).where(AuditEvent.contract_id == contract.id).order_by(AuditEvent.id)
        )
    ).all()
    assert [k for k in kinds if k in (AuditKind.SEAL_FAILED, AuditKind.RECIRCULATED, AuditKind.SEALED)] == [
        AuditKind.SEAL_FAILED,
        AuditKind.RECIRCULATED,
        AuditKind.SEALED,
    ]


async def test_a_file_the_sealer_cannot_read_is_replaced_and_everyone_agrees_again(
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    settings: Settings,
    office: Office,
    pool: SealerPool,
) -> None:
    agreed = await _agreed(db_session, settings, office, value="髙橋建設")
    contract = agreed.contract
    # A file accepted before uploads were read the way the sealer reads them: viewers
    # repair its broken cross-reference pointer, the incremental seal cannot.
    broken = re.sub(rb"startxref\n(\d+)", lambda m: b"startxref\n%d" % (int(m.group(1)) + 7), make_pdf(1))
    document = contract.documents[0]
    document.sha256 = await BlobStore(settings).put(db_session, contract.member_id, broken)
    await db_session.flush()

    assert await seal_contract(db_session, settings, pool, contract.id) is SealOutcome.FAILED
    await db_session.refresh(contract)
    assert contract.status is ContractStatus.SEAL_FAILED
    assert contract.seal_failure is not None
    assert contract.seal_failure["reason"] == "document"

    await sign_in(client, "morioka-drafter")
    page = await client.get(f"/contracts/{contract.id}")
    assert "「工事請負契約書.pdf」を封緘できませんでした" in page.text
    assert "/correction" not in page.text  # no value to correct: only another file helps
    # Until then the contractor's link says plainly that nothing is concluded, and offers no download.
    replaced = await client.post(
        f"/contracts/{contract.id}/documents/{agreed.document_id}/replace",
        files={"file": ("工事請負契約書_修正.pdf", make_pdf(1, title="Corrected"), "application/pdf")},
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )
    assert replaced.status_code == 303, replaced.text
    await db_session.refresh(contract, ["status", "documents", "parties"])
    await db_session.refresh(document)
    for party in contract.parties:
        await db_session.refresh(party)
    assert await _status(db_session, contract) is ContractStatus.CIRCULATING
    assert document.file_name == "工事請負契約書_修正.pdf"
    statuses = {p.id: p.status for p in contract.parties}
    assert statuses == {agreed.contractor.id: PartyStatus.NOTIFIED, agreed.signer.id: PartyStatus.WAITING}

    await _agree_all(db_session, settings, office, contract, "髙橋建設")
    assert await seal_contract(db_session, settings, pool, contract.id) is SealOutcome.SEALED


async def test_a_file_only_viewers_can_repair_is_refused_at_upload(
    client: AsyncTestClient[Litestar], office: Office
) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    broken = re.sub(rb"startxref\n(\d+)", lambda m: b"startxref\n%d" % (int(m.group(1)) + 7), make_pdf(1))
    response = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "委託契約",
            "title_id": str(office.title_a.id),
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files={"files": ("壊れた.pdf", broken, "application/pdf")},
    )
    assert response.status_code == 400
    assert "「壊れた.pdf」はPDFとして読み取れません" in response.text


async def test_another_member_cannot_correct_or_replace(
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    settings: Settings,
    office: Office,
    pool: SealerPool,
) -> None:
    agreed = await _agreed(db_session, settings, office, value=OUTSIDE_THE_FONT)
    assert await seal_contract(db_session, settings, pool, agreed.contract.id) is SealOutcome.FAILED
    await f.staff(db_session, office.members.b, "hachimantai-drafter", roles=("drafter",))
    await sign_in(client, "hachimantai-drafter")
    csrf = await csrf_token(client)
    base = f"/contracts/{agreed.contract.id}"
    page = await client.get(base)
    assert page.status_code == 404
    asked = await client.post(f"{base}/text-boxes/{agreed.box_id}/correction", data={"_csrf_token": csrf})
    assert asked.status_code == 404
    replaced = await client.post(
        f"{base}/documents/{agreed.document_id}/replace",
        files={"file": ("x.pdf", make_pdf(1), "application/pdf")},
        data={"_csrf_token": csrf},
    )
    assert replaced.status_code == 404
    await system_access(db_session)
    await db_session.refresh(agreed.contract)
    assert agreed.contract.status is ContractStatus.SEAL_FAILED


async def test_other_systems_fix_it_through_the_api_and_only_their_own(
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    settings: Settings,
    office: Office,
    pool: SealerPool,
) -> None:
    agreed = await _agreed(db_session, settings, office, value=OUTSIDE_THE_FONT)
    assert await seal_contract(db_session, settings, pool, agreed.contract.id) is SealOutcome.FAILED
    base = f"/api/v1/contracts/{agreed.contract.id}"
    other = {"Authorization": f"Bearer {office.key_b}"}
    assert (await client.post(f"{base}/text-boxes/{agreed.box_id}/correction", headers=other)).status_code == 404
    replaced = await client.post(
        f"{base}/documents/{agreed.document_id}/replace",
        headers=other,
        files={"file": ("x.pdf", make_pdf(1), "application/pdf")},
    )
    assert replaced.status_code == 404
    own = {"Authorization": f"Bearer {office.key_a}"}
    status = (await client.get(f"{base}/status", headers=own)).json()
    assert status["status"] == "seal_failed"
    assert "𠮷" in status["seal_failure"]
    asked = await client.post(f"{base}/text-boxes/{agreed.box_id}/correction", headers=own)
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "circulating"
    assert asked.json()["seal_failure"] is None
    again = await client.post(f"{base}/text-boxes/{agreed.box_id}/correction", headers=own)
    assert again.status_code == 409
    assert "封緘できなかった契約書にだけ" in again.text
