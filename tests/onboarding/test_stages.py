"""Staged go-live (ONB-1, ONB-2): transitions, trial runs, promotion that keeps every setting.

What a move wrote is read back from the database through a second session
(:func:`_database`), never from the objects this test or the service changed:
those would show a stage, a history entry or a detail that was never stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from onboarding import stages
from onboarding.environment import environment_of, is_test, mail_subject
from onboarding.metering import record_conclusion
from onboarding.models import ChecklistItem, Environment, StageChange, UsageEvent
from policy.models import MemberRole, PolicyRule
from tenants.models import (
    AddressBookEntry,
    ApiKey,
    ContractTitle,
    Department,
    IpRange,
    Member,
    MemberStatus,
    Staff,
    TitleGrant,
)
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.helpers import text_at

SETTINGS_TABLES = (Department, Staff, ContractTitle, TitleGrant, IpRange, AddressBookEntry, ApiKey, MemberRole)


@asynccontextmanager
async def _database(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A second session on the test's connection, seeing every member: what is stored, nothing cached."""
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        yield fresh


async def _stored(session: AsyncSession, member: Member) -> Member:
    async with _database(session) as fresh:
        stored = await fresh.get(Member, member.id)
        assert stored is not None
        return stored


async def _history(session: AsyncSession, member: Member) -> list[StageChange]:
    async with _database(session) as fresh:
        query = select(StageChange).where(StageChange.member_ref_id == member.id).order_by(StageChange.changed_at)
        return list((await fresh.scalars(query)).all())


async def _settings_snapshot(session: AsyncSession, member: Member) -> dict[str, list[tuple[Any, ...]]]:
    """Every settings row of the member, every column, in a stable order."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    async with _database(session) as fresh:
        for model in (*SETTINGS_TABLES, PolicyRule):
            table = model.__table__
            query = select(table).where(table.c.member_id == member.id).order_by(table.c.id)
            snapshot[model.__tablename__] = [tuple(r) for r in (await fresh.execute(query)).all()]
    return snapshot


async def test_stages_move_only_forward_in_order_and_are_recorded(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    member = await f.member(db_session, two_members.consortium, "032166", "滝沢市", status=MemberStatus.INVITED)
    assert is_test(member)
    with pytest.raises(stages.InvalidTransition, match="「招待済み」から「本番」"):
        await stages.transition(db_session, member, MemberStatus.LIVE, by="事務局 太郎")
    for to in (MemberStatus.SANDBOX, MemberStatus.TRIAL, MemberStatus.LIVE, MemberStatus.LEAVING):
        await stages.transition(db_session, member, to, by="事務局 太郎", effective_on=dt.date(2026, 10, 1))
    stored = await _stored(db_session, member)
    assert stored.status is MemberStatus.LEAVING
    assert environment_of(stored) is Environment.LIVE
    with pytest.raises(stages.InvalidTransition):
        await stages.transition(db_session, member, MemberStatus.LEFT, by="x")  # only deletion makes it "left"
    assert (await _stored(db_session, member)).status is MemberStatus.LEAVING
    history = await _history(db_session, member)
    assert [(h.from_status.value, h.to_status.value) for h in history] == [
        ("invited", "sandbox"),
        ("sandbox", "trial"),
        ("trial", "live"),
        ("live", "leaving"),
    ]
    assert {h.changed_by for h in history} == {"事務局 太郎"}
    assert all(h.changed_at is not None for h in history)


async def test_promotion_keeps_every_setting_and_clears_test_data(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    member = two_members.a
    member.status = MemberStatus.TRIAL
    dept = await f.department(db_session, member, "KEIYAKU", "契約課")
    clerk = await f.staff(db_session, member, "morioka-clerk", roles=("drafter", "signer"), department=dept)
    mayor = await f.title(db_session, member, "MAYOR", "市長", "盛岡市長")
    await f.grant(db_session, clerk, mayor)
    await f.ip_range(db_session, member, "192.0.2.0/24")
    assert mail_subject(member, "契約書の確認依頼") == "【テスト】契約書の確認依頼"

    # Five trial runs (a contract reported twice counts once) …
    contracts = [uuid.uuid4() for _ in range(5)]
    for contract in [*contracts, contracts[0]]:
        await record_conclusion(db_session, member, contract, occurred_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
    assert await stages.trial_run_count(db_session, member.id) == 5
    # … and the other member's data, which promotion must not touch.
    await record_conclusion(db_session, two_members.b, uuid.uuid4())

    before = await _settings_snapshot(db_session, member)
    change = await stages.transition(
        db_session, member, MemberStatus.LIVE, by="事務局", effective_on=dt.date(2026, 10, 1)
    )
    after = await _settings_snapshot(db_session, member)

    assert after == before  # every setting, every column: nothing re-entered, nothing lost
    assert sum(len(rows) for rows in before.values()) >= 7
    recorded = [h for h in await _history(db_session, member) if h.id == change.id]
    cleared = {
        "contract": 0,
        "bulk_batch": 0,
        "bulk_batch_row": 0,
        "usage_event": 5,
        "trial_run": 5,
    }  # no test contract
    assert [h.detail for h in recorded] == [{"trial_runs": 5, "cleared": cleared}]
    assert await stages.trial_run_count(db_session, member.id) == 0
    async with _database(db_session) as fresh:
        usage = select(func.count()).select_from(UsageEvent)
        assert await fresh.scalar(usage.where(UsageEvent.member_id == member.id)) == 0
        assert await fresh.scalar(usage.where(UsageEvent.member_id == two_members.b.id)) == 1
    # From now on the member's contracts are live, and mails are not marked.
    stored = await _stored(db_session, member)
    assert stored.status is MemberStatus.LIVE
    assert not is_test(stored)
    assert mail_subject(stored, "契約書の確認依頼") == "契約書の確認依頼"


def test_tables_holding_test_data_are_found_from_the_metadata() -> None:
    # Every member-owned table with an environment column: contracts, bulk sendings and usage, nothing hand-listed.
    assert stages.test_data_tables() == ["bulk_batch", "bulk_batch_row", "contract", "usage_event"]


async def test_secretariat_ticks_checklist_and_moves_stages_with_htmx(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    b = two_members.b
    b.status = MemberStatus.SANDBOX
    await db_session.flush()
    await sign_in(client, "jimukyoku")
    page = await client.get("/secretariat/onboarding/")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    section = soup.find("section", id=f"member-{b.id}")
    assert section is not None
    stage = section.select_one(".stage")
    assert stage is not None
    assert stage.get_text() == "サンドボックス"
    for field in soup.find_all(["input", "select"]):
        if field.get("type") != "hidden":
            assert soup.find("label", attrs={"for": str(field.get("id"))}) is not None, field

    token = await csrf_token(client)
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    ticked = await client.post(
        f"/secretariat/onboarding/{b.id}/checklist/staff_briefing",
        data={"done_on": "2026-10-05", "note": "本庁舎で実施（32名）"},
        headers=htmx,
    )
    assert ticked.status_code == 200
    part = BeautifulSoup(ticked.text, "html.parser")
    assert part.find("html") is None  # a partial, not a page
    row = part.select_one("tr.item-staff_briefing")
    assert row is not None
    assert row.select_one(".done-on").get_text() == "令和8年10月5日"  # type: ignore[union-attr]
    assert "本庁舎で実施（32名）" in row.get_text()

    asked = await client.post(f"/secretariat/onboarding/{b.id}/stage", data={"to": "trial"}, headers=htmx)
    assert "試行" in text_at(asked.text, f"#member-{b.id} h2"), "the stage changes only once confirmed"
    assert (await _stored(db_session, b)).status is MemberStatus.SANDBOX
    moved = await client.post(
        f"/secretariat/onboarding/{b.id}/stage", data={"to": "trial", "confirmed": "yes"}, headers=htmx
    )
    assert moved.status_code == 200
    assert BeautifulSoup(moved.text, "html.parser").select_one(".stage").get_text() == "試行"  # type: ignore[union-attr]
    refused = await client.post(f"/secretariat/onboarding/{b.id}/stage", data={"to": "left"}, headers=htmx)
    assert refused.status_code == 400
    assert "「試行」から「脱退済み」" in refused.text
    # What the requests stored, read from the database (the requests had sessions of their own).
    assert (await _stored(db_session, b)).status is MemberStatus.TRIAL
    assert [(h.from_status, h.to_status) for h in await _history(db_session, b)] == [
        (MemberStatus.SANDBOX, MemberStatus.TRIAL)
    ]
    async with _database(db_session) as fresh:
        step = await fresh.scalar(
            select(ChecklistItem).where(ChecklistItem.member_ref_id == b.id, ChecklistItem.item == "staff_briefing")
        )
        assert step is not None
        assert (step.done_on, step.note) == (dt.date(2026, 10, 5), "本庁舎で実施（32名）")

    # Without htmx the same form posts and redirects back to the page.
    plain = await client.post(
        f"/secretariat/onboarding/{b.id}/checklist/workflow_review",
        data={"done_on": "2026-10-06", "note": "", "_csrf_token": token},
        follow_redirects=False,
    )
    assert plain.status_code == 303


async def test_promotion_on_the_screen_says_what_it_deletes_and_when_the_service_starts(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    b = two_members.b
    b.status = MemberStatus.TRIAL
    b.go_live_on = None
    await db_session.flush()
    for _ in range(2):
        await record_conclusion(db_session, b, uuid.uuid4())
    await sign_in(client, "jimukyoku")
    htmx = {"HX-Request": "true", "X-CSRFToken": await csrf_token(client)}
    url = f"/secretariat/onboarding/{b.id}/stage"
    move = {"to": "live", "effective_on": "2026-12-10", "note": "試行5件完了"}

    asked = await client.post(url, data=move, headers=htmx)
    assert asked.status_code == 200
    question = text_at(asked.text, f"#member-{b.id}")
    assert f"{b.name}を「本番」に移しますか" in question
    assert "削除" in question
    assert "令和8年12月10日" in question, "the go-live day the report and invoices count from"
    assert "試行は2回" in question, "fewer trial runs than advised"
    assert (await _stored(db_session, b)).status is MemberStatus.TRIAL, "asking changes nothing"
    assert await _history(db_session, b) == []

    back = await client.post(url, data={**move, "confirmed": "no"}, headers=htmx)
    assert text_at(back.text, f"#member-{b.id} .stage") == "試行"
    assert await _history(db_session, b) == []

    done = await client.post(url, data={**move, "confirmed": "yes"}, headers=htmx)
    assert text_at(done.text, f"#member-{b.id} .stage") == "本番"
    stored = await _stored(db_session, b)
    assert (stored.status, stored.go_live_on) == (MemberStatus.LIVE, dt.date(2026, 12, 10))
    assert [(h.to_status, h.note) for h in await _history(db_session, b)] == [(MemberStatus.LIVE, "試行5件完了")]


async def test_onboarding_screen_is_the_secretariats_own_consortium_only(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    other = await f.consortium(db_session, "群馬県電子契約共同利用", slug="gunma")
    await f.secretariat(db_session, other, "gunma-jimukyoku")
    await sign_in(client, "gunma-jimukyoku")
    token = await csrf_token(client)
    listing = await client.get("/secretariat/onboarding/")
    assert listing.status_code == 200
    assert "盛岡市" not in listing.text
    a = two_members.a
    tick = await client.post(
        f"/secretariat/onboarding/{a.id}/checklist/staff_briefing", data={"done_on": "2026-10-01", "_csrf_token": token}
    )
    assert tick.status_code == 404
    move = await client.post(f"/secretariat/onboarding/{a.id}/stage", data={"to": "leaving", "_csrf_token": token})
    assert move.status_code == 404
    # Nothing of member A changed in the database (this test's own object would say LIVE whatever happened).
    assert (await _stored(db_session, a)).status is MemberStatus.LIVE
    assert await _history(db_session, a) == []
    async with _database(db_session) as fresh:
        ticked = select(func.count()).select_from(ChecklistItem).where(ChecklistItem.member_ref_id == a.id)
        assert await fresh.scalar(ticked) == 0
    # Member administrators never reach the secretariat's screens.
    await sign_in(client, "morioka-admin")
    assert (await client.get("/secretariat/onboarding/")).status_code == 403
    assert (await client.get("/secretariat/leaving/")).status_code == 403
