"""Twenty parties, a LibreOffice file, boxes on every page: concluded only once sealed (WF-5, WF-7, SIG-1, SIG-3).

The file is LibreOffice Writer's (one resource dictionary shared by all pages,
a landscape annex), the case that once left contracts 封緘待ち for ever while
every party had been told 【締結完了】. Eighteen contractors and two signers of
the member agree; nobody hears 締結 and nothing is offered as the concluded
contract before a real worker has stored the seal; then every party and the
drafter are told, and a contractor's link from that mail downloads the sealed
file and the certificate, both valid offline.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage
from core.scope import Principal, PrincipalKind
from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from signing import services as svc
from signing.audit import Actor
from signing.mail import MAIL_TASK, open_link
from signing.models import Contract, ContractStatus, PartyKind
from signing.verification import verify_async
from testpki import PKIServer, TestPKI, settings_environment
from tests import factories as f
from tests.conftest import csrf_token
from tests.corpus.checks import BOTTOM, HEIGHT, LEFT, WIDTH, box_text, find_value, shapes, words
from tests.corpus.producers import Corpus
from tests.corpus.test_corpus_circulation import WORKER_START_SECONDS, _seal_tasks_sent, _wait_concluded, _worker
from tests.scope import system_access

CONTRACTORS = 18
PASSWORD = "kyodo-2026-pass"


async def _circulated(session: AsyncSession, settings: Settings, pdf: bytes) -> tuple[Contract, str]:
    """Everyone agreed in order: 18 contractors (one box on each page for the first ones), then two signers."""
    group = await f.consortium(session)
    member = await f.member(session, group, "032018", "盛岡市")
    mayor = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
    drafter = await f.staff(session, member, "morioka-drafter", roles=("drafter",), name="起案 太郎")
    signers = []
    for i in range(2):
        signer = await f.staff(session, member, f"morioka-signer{i}", roles=("signer",), name=f"締結 {i}")
        await f.grant(session, signer, mayor)
        signers.append(signer)
    await system_access(session)
    who = Actor(drafter.name)
    principal = Principal(
        kind=PrincipalKind.STAFF, id=drafter.id, name=drafter.name, consortium_id=group.id, member_id=member.id
    )
    contract = await svc.create_contract(
        session,
        principal,
        svc.ContractInput(
            subject="庁舎清掃業務委託契約",
            title_id=mayor.id,
            contract_number="R8-0020",
            amount=9_900_000,
            transaction_date=dt.date(2026, 4, 1),
            counterparty="岩手建設株式会社",
        ),
        who,
    )
    [document] = await svc.add_documents(session, settings, contract, [("業務委託契約書.pdf", pdf)], who)
    parties = []
    for i in range(CONTRACTORS):
        parties.append(
            await svc.add_party(
                session,
                contract,
                svc.PartyInput(
                    order_no=i + 1,
                    kind=PartyKind.CONTRACTOR,
                    company=f"株式会社髙橋建設 第{i + 1}支店",
                    name=f"山﨑 ｲﾁﾛｳ {i + 1}",
                    email=f"c{i}@example.co.jp",
                    password=PASSWORD,
                ),
                who,
            )
        )
    for i, signer in enumerate(signers):
        parties.append(
            await svc.add_party(
                session,
                contract,
                svc.PartyInput(
                    order_no=CONTRACTORS + 1 + i,
                    kind=PartyKind.STAFF,
                    name=signer.name,
                    email=signer.email,
                    staff_id=signer.id,
                    title_id=mayor.id,
                ),
                who,
            )
        )
    boxes = {}
    for page in range(len(document.page_sizes)):
        boxes[page] = await svc.add_text_box(
            session,
            contract,
            svc.TextBoxInput(
                document_id=document.id,
                party_id=parties[page].id,
                page=page,
                x=LEFT,
                y=BOTTOM,
                width=WIDTH,
                height=HEIGHT,
                label=f"受注者 {page + 1}頁",
            ),
            who,
        )
    await svc.send(session, settings, contract, who)
    for i, party in enumerate(parties):
        values = {str(box.id): box_text(page) for page, box in boxes.items() if box.party_id == party.id}
        if party.kind is PartyKind.CONTRACTOR:
            await svc.agree(session, settings, contract=contract, party=party, values=values, who=Actor(party.name))
        else:
            signer = signers[i - CONTRACTORS]
            signer_principal = Principal(
                kind=PrincipalKind.STAFF, id=signer.id, name=signer.name, consortium_id=group.id, member_id=member.id
            )
            await svc.staff_agree(
                session, settings, contract=contract, principal=signer_principal, values=values, who=Actor(signer.name)
            )
    return contract, str(document.id)


async def _mails(maker: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with maker() as session:
        await system_access(session)
        return list((await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))).all())


async def _seal_with_a_worker(
    settings: Settings, pki: TestPKI, maker: async_sessionmaker[AsyncSession], contract_id: uuid.UUID, tmp_path: Path
) -> None:
    """Hand the queued seal task to a real worker holding the provider's test key; wait until it concluded."""
    async with maker() as session:
        await system_access(session)
        rows = list(
            (await session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == svc.SEAL_TASK))).all()
        )
    env = settings_environment(pki.signing_settings("provider"))
    os.environ.update(env)
    try:
        worker = _worker(settings, tmp_path)
        try:
            worker.wait_heartbeat(WORKER_START_SECONDS)
            _seal_tasks_sent(settings, rows)
            await _wait_concluded(maker, {"libreoffice-writer": contract_id}, worker)
        finally:
            worker.stop()
    finally:
        for key in env:
            os.environ.pop(key, None)


@pytest.mark.worker
async def test_twenty_parties_on_a_libreoffice_file_conclude_only_once_sealed(
    fresh_database: Settings, corpus: Corpus, pki: TestPKI, pki_server: PKIServer, tmp_path: Path
) -> None:
    settings = fresh_database
    pdf = corpus.data(corpus.entry("libreoffice-writer"))
    assert len(shapes(pdf)) >= 2
    engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            contract, document_id = await _circulated(session, settings, pdf)
            await session.commit()
        assert contract.status is ContractStatus.SEALING
        before = await _mails(maker)
        assert len(before) == 20  # one request per party, nothing more
        # (Signers are asked 「契約の締結をお願いします」; nobody is told it is concluded.)
        assert not [
            m for m in before if "締結完了" in str(m.kwargs["subject"]) or "締結されました" in str(m.kwargs["body"])
        ]

        async with AsyncTestClient(app=create_app(settings)) as client:
            # A contractor's request link still opens: 封緘待ち, and no download of the "concluded" contract.
            first = next(m for m in before if m.kwargs["to"] == "c0@example.co.jp")
            token = open_link(settings, str(first.kwargs["sealed_link"])).rsplit("/", 1)[-1]
            await client.get(f"/c/{token}")
            await client.post(
                f"/c/{token}/password", data={"password": PASSWORD, "_csrf_token": await csrf_token(client)}
            )
            assert (await client.get(f"/c/{token}/documents/{document_id}")).status_code == 409
            assert (await client.get(f"/c/{token}/certificate")).status_code == 409

            await _seal_with_a_worker(settings, pki, maker, contract.id, tmp_path)

            concluded = [m for m in await _mails(maker) if "締結完了" in str(m.kwargs["subject"])]
            told = sorted(str(m.kwargs["to"]) for m in concluded)
            expected = sorted(
                [f"c{i}@example.co.jp" for i in range(CONTRACTORS)]
                + [f"morioka-signer{i}@example.lg.jp" for i in range(2)]
                + ["morioka-drafter@example.lg.jp"]
            )
            assert told == expected

            # The link in the 締結完了 mail downloads the sealed file and the certificate.
            mail = next(m for m in concluded if m.kwargs["to"] == "c1@example.co.jp")
            link = open_link(settings, str(mail.kwargs["sealed_link"]))
            final = link.rsplit("/", 1)[-1]
            page = await client.get(f"/c/{final}")
            assert page.status_code == 200
            await client.post(
                f"/c/{final}/password", data={"password": PASSWORD, "_csrf_token": await csrf_token(client)}
            )
            sealed = await client.get(f"/c/{final}/documents/{document_id}")
            assert sealed.status_code == 200
            assert sealed.headers["x-kyodo-sealed"] == "true"
            certificate = await client.get(f"/c/{final}/certificate")
            assert certificate.status_code == 200
        for data in (sealed.content, certificate.content):
            report = await verify_async(data, trust_roots=[pki.root_cert])
            assert report.ok, report.problems
            assert report.archive_timestamped
        assert shapes(sealed.content) == shapes(pdf)
        pages = words(sealed.content, tmp_path)
        for i in range(len(pages)):
            assert find_value(pages[i], box_text(i)) is not None, f"page {i + 1}: value missing"
    finally:
        await engine.dispose()
