"""The start page as a to-do list: what waits for each person, with counts and links into the filtered list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from signing.models import Contract, ContractStatus, Party, PartyKind, PartyStatus
from tests import factories as f
from tests.conftest import sign_in
from tests.scope import system_access
from tests.signing.conftest import Office

NOW = dt.datetime.now(dt.UTC)


async def _contract(
    session: AsyncSession, office: Office, subject: str, status: ContractStatus, *, member: Any = None, **fields: Any
) -> Contract:
    member = member or office.members.a
    title = office.title_a if member is office.members.a else office.title_b
    row = Contract(
        member_id=member.id,
        title_id=title.id,
        subject=subject,
        status=status,
        created_by_id=fields.pop("created_by_id", office.drafter_a.id if member is office.members.a else None),
        **fields,
    )
    session.add(row)
    await session.flush()
    return row


def _party(contract: Contract, order: int, status: PartyStatus, **fields: Any) -> Party:
    return Party(member_id=contract.member_id, contract_id=contract.id, order_no=order, status=status, **fields)


def _section(html: str, todo: str) -> Any:
    soup = BeautifulSoup(html, "html.parser")
    section = soup.find(id=f"todo-{todo}")
    assert section is not None, html
    return section


def _count(html: str, todo: str) -> int:
    found = BeautifulSoup(html, "html.parser").find(id=f"count-{todo}")
    assert found is not None, todo
    return int(found.get_text())


async def test_each_person_sees_what_waits_for_them(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await system_access(db_session)
    signer = office.signers_a[0]
    asked = await _contract(db_session, office, "公園清掃業務委託", ContractStatus.CIRCULATING, sent_at=NOW)
    db_session.add_all(
        [
            _party(
                asked,
                1,
                PartyStatus.AGREED,
                kind=PartyKind.CONTRACTOR,
                company="岩手建設",
                name="岩手 一郎",
                email="ichiro@iwate.co.jp",
            ),
            _party(
                asked,
                2,
                PartyStatus.NOTIFIED,
                kind=PartyKind.STAFF,
                name=signer.name,
                email=signer.email,
                staff_id=signer.id,
                title_id=office.title_a.id,
                notified_at=NOW - dt.timedelta(hours=5),
            ),
        ]
    )
    await _contract(db_session, office, "下書きの委託", ContractStatus.DRAFT)
    other_drafter = await f.staff(db_session, office.members.a, "morioka-drafter2", roles=("drafter",))
    await _contract(db_session, office, "他人の下書き", ContractStatus.DRAFT, created_by_id=other_drafter.id)
    declined = await _contract(db_session, office, "差し戻された委託", ContractStatus.DECLINED, sent_at=NOW)
    db_session.add(
        _party(
            declined,
            1,
            PartyStatus.DECLINED,
            kind=PartyKind.CONTRACTOR,
            company="盛岡設備",
            name="盛岡 二郎",
            email="jiro@morioka-setsubi.jp",
            decline_reason="金額が見積と違います",
        )
    )
    await _contract(db_session, office, "封緘中の委託", ContractStatus.SEALING, sent_at=NOW)
    await _contract(db_session, office, "今月の委託", ContractStatus.CONCLUDED, sent_at=NOW, concluded_at=NOW)
    await _contract(db_session, office, "昔の委託", ContractStatus.CONCLUDED, concluded_at=NOW - dt.timedelta(days=70))
    # Another member's contract asking "the same" person never shows (another member, another staff row).
    await _contract(db_session, office, "八幡平の委託", ContractStatus.CIRCULATING, member=office.members.b)
    await db_session.flush()

    await sign_in(client, "morioka-signer0")
    page = await client.get("/app")
    assert page.status_code == 200, page.text
    sign = _section(page.text, "sign")
    assert [a.get_text() for a in sign.select(".todo-items a")] == ["公園清掃業務委託"]
    assert sign.select_one(".todo-items a")["href"] == f"/contracts/{asked.id}"
    assert _count(page.text, "sign") == 1
    assert "八幡平の委託" not in page.text
    assert _section(page.text, "sign").find("a", href="/contracts?todo=sign")
    listed = BeautifulSoup((await client.get("/contracts?todo=sign")).text, "html.parser")
    assert [a.get_text() for a in listed.select("#results tbody a")] == ["公園清掃業務委託"]
    assert listed.find(id="todo-filter") is not None
    # A signer does not draft: no drafts section.
    assert BeautifulSoup(page.text, "html.parser").find(id="todo-drafts") is None

    client.cookies.clear()
    await sign_in(client, "morioka-drafter")
    page = await client.get("/app")
    counts = {todo: _count(page.text, todo) for todo in ("drafts", "circulating", "declined", "sealing", "concluded")}
    assert counts == {"drafts": 1, "circulating": 1, "declined": 1, "sealing": 1, "concluded": 1}
    assert BeautifulSoup(page.text, "html.parser").find(id="todo-sign") is None
    circulating = _section(page.text, "circulating").get_text(" ", strip=True)
    assert "公園清掃業務委託" in circulating
    assert f"{signer.name} の確認待ち" in circulating  # whose turn
    assert "から" in circulating  # since when
    declined_text = _section(page.text, "declined").get_text(" ", strip=True)
    assert "盛岡設備 盛岡 二郎 が差し戻しました" in declined_text
    assert "金額が見積と違います" in declined_text
    assert "他人の下書き" not in page.text
    assert "昔の委託" not in page.text
    assert _section(page.text, "concluded").find("a", string="今月の委託")
    # The list filtered by a section holds what the section counts.
    for todo, subjects in (
        ("declined", ["差し戻された委託"]),
        ("drafts", ["下書きの委託"]),
        ("concluded", ["今月の委託"]),
    ):
        listed = BeautifulSoup((await client.get(f"/contracts?todo={todo}")).text, "html.parser")
        assert [a.get_text() for a in listed.select("#results tbody a")] == subjects, todo


async def test_secretariat_and_operator_get_no_contract_to_do(client: AsyncTestClient, office: Office) -> None:
    await sign_in(client, "jimukyoku")
    page = await client.get("/app")
    assert page.status_code == 200
    assert 'id="todo-h"' not in page.text
    assert "/secretariat/members" in page.text
