"""Onboarding's services give the caller's session back with the scope it came with.

A secretariat's request sees no member-owned row, a member's request only its
member's rows. Services that need the members' own rows (trial runs, usage,
test data, a leaving member's data) read them inside ``core.scope.elevated``;
after each call the same session must still see exactly what it saw before,
or the rest of the request (templates, further queries) would run with system
access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.scope import elevated, for_member
from core.settings import Settings
from onboarding import billing, leaving, stages
from onboarding.metering import record_conclusion
from onboarding.models import TrialRun, UsageEvent
from tenants.models import Member, MemberStatus, Staff
from tests.conftest import TwoMembers

OCTOBER = dt.date(2026, 10, 1)


def _scope(session: AsyncSession) -> tuple[str, bool]:
    return str(session.info.get("member_id") or ""), bool(session.info.get("system"))


async def _seen(session: AsyncSession, member: Member) -> dict[str, int]:
    """How many of ``member``'s staff, usage events and trial runs the session sees."""
    counts = {}
    for model in (Staff, UsageEvent, TrialRun):
        statement = select(func.count()).select_from(model).where(model.member_id == member.id)
        counts[model.__name__] = int(await session.scalar(statement) or 0)
    return counts


async def _scenario(session: AsyncSession, two: TwoMembers) -> None:
    """A live with an agreement and concluded contracts; B in trial with trial runs."""
    async with elevated(session):
        two.b.status = MemberStatus.TRIAL
        await billing.add_agreement_version(
            session, two.a, effective_from=OCTOBER, start_date=OCTOBER, end_date=dt.date(2031, 3, 31),
            monthly_fee=Decimal(50000), included_contracts=1, extra_contract_price=Decimal(1000), by="test",
        )  # fmt: skip
        for day in (5, 6):
            await record_conclusion(session, two.a, uuid.uuid4(), occurred_at=dt.datetime(2026, 10, day, tzinfo=JST))
        await record_conclusion(session, two.b, uuid.uuid4())
        await session.flush()


async def test_a_secretariat_session_sees_no_members_rows_after_any_service(
    db_session: AsyncSession, two_members: TwoMembers, settings: Settings
) -> None:
    a, b, group = two_members.a, two_members.b, two_members.consortium.id
    await _scenario(db_session, two_members)
    await for_member(db_session, None)  # how a secretariat's request starts
    nothing = {"Staff": 0, "UsageEvent": 0, "TrialRun": 0}
    assert await _seen(db_session, a) == nothing
    assert await _seen(db_session, b) == nothing

    async def unchanged(after: str) -> None:
        assert _scope(db_session) == ("", False), after
        assert await _seen(db_session, a) == nothing, after
        assert await _seen(db_session, b) == nothing, after

    progress = await stages.consortium_progress(db_session, group)
    assert {p.member.id: p.trial_runs for p in progress} == {a.id: 0, b.id: 1}
    await unchanged("consortium_progress")
    change = await stages.transition(db_session, b, MemberStatus.LIVE, by="事務局", effective_on=OCTOBER)
    assert change.detail["trial_runs"] == 1
    await unchanged("transition to live (promotion clears the test data)")
    charges = await billing.compute_month(db_session, group, OCTOBER)
    assert [(c.member.id, int(c.amount)) for c in charges][-1] == (a.id, 1000)  # one contract beyond the one included
    await unchanged("compute_month")
    issued = await billing.issue_month(db_session, group, OCTOBER, by="事務局")
    assert len(issued) == 1
    await unchanged("issue_month")
    await billing.issue_credit_note(db_session, issued[0].id, by="事務局", note="誤り")
    await unchanged("issue_credit_note")
    await stages.transition(db_session, b, MemberStatus.LEAVING, by="事務局")
    report = await leaving.delete_member(db_session, b, settings, by="事務局")
    assert report.row_counts["staff"] == 1
    await unchanged("delete_member")


async def test_a_members_session_sees_only_its_own_rows_after_any_service(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    a, b, group = two_members.a, two_members.b, two_members.consortium.id
    await _scenario(db_session, two_members)
    await for_member(db_session, a.id)  # how a request of member A's staff starts
    own = {"Staff": 1, "UsageEvent": 2, "TrialRun": 0}
    nothing = {"Staff": 0, "UsageEvent": 0, "TrialRun": 0}
    assert await _seen(db_session, a) == own
    assert await _seen(db_session, b) == nothing

    async def unchanged(after: str) -> None:
        assert _scope(db_session) == (str(a.id), False), after
        assert await _seen(db_session, a) == own, after
        assert await _seen(db_session, b) == nothing, after

    await stages.consortium_progress(db_session, group)
    await unchanged("consortium_progress")
    await billing.compute_month(db_session, group, OCTOBER)
    await unchanged("compute_month")
    await stages.transition(db_session, b, MemberStatus.LIVE, by="事務局")
    await unchanged("transition to live")
