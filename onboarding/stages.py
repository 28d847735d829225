"""Staged go-live: invited → sandbox → trial → live, later leaving → left (ONB-1, ONB-2).

Every move is checked against :data:`TRANSITIONS` and recorded as a
:class:`~onboarding.models.StageChange` (who, when, effective day). The move to
``live`` is the **promotion**: departments, staff, titles, roles, address book
and IP ranges are the same rows in test and live, so nothing is copied and
nothing is re-entered; what the promotion does is delete the member's test data
(rows with ``environment = 'test'`` in any member-owned table that has that
column, e.g. contracts and usage events) and reset the trial-run counter.

The secretariat's screens and operator commands call these functions with
their own session (members never move their own stage). Where a function needs
a member's own rows (trial runs, test data) it reads or deletes them inside
:func:`core.scope.elevated`, so the caller's scope is the same afterwards.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import today_jst
from core.db import complete_metadata
from core.errors import Invalid, NotFound
from core.i18n import format_date
from core.i18n import gettext as _
from core.scope import elevated
from core.web import Confirmation
from onboarding.models import CHECKLIST_ITEMS, ChecklistItem, StageChange
from onboarding.repository import OnboardingRepository
from tenants.models import Member, MemberStatus

__all__ = [
    "TRANSITIONS",
    "InvalidTransition",
    "MemberProgress",
    "consortium_progress",
    "promote_to_live",
    "record_trial_run",
    "stage_question",
    "test_data_tables",
    "tick",
    "transition",
    "trial_run_count",
]

TRANSITIONS: dict[MemberStatus, frozenset[MemberStatus]] = {
    MemberStatus.INVITED: frozenset({MemberStatus.SANDBOX}),
    MemberStatus.SANDBOX: frozenset({MemberStatus.TRIAL}),
    # Back to the sandbox when the trial shows that set-up needs more work.
    MemberStatus.TRIAL: frozenset({MemberStatus.LIVE, MemberStatus.SANDBOX}),
    MemberStatus.LIVE: frozenset({MemberStatus.LEAVING}),
    # A member may change its mind before its data is deleted; ``left`` is set
    # only by the deletion itself (onboarding.leaving.delete_member).
    MemberStatus.LEAVING: frozenset({MemberStatus.LIVE}),
    MemberStatus.LEFT: frozenset(),
}
"""Allowed moves from each stage."""


class InvalidTransition(Invalid):
    """The move is not allowed from the member's current stage (message in the user's language)."""


def test_data_tables() -> list[str]:
    """Member-owned tables that hold test data: they have both ``member_id`` and ``environment``."""
    return sorted(
        t.name for t in complete_metadata().sorted_tables if "member_id" in t.columns and "environment" in t.columns
    )


async def promote_to_live(session: AsyncSession, member_id: uuid.UUID) -> dict[str, int]:
    """Delete the member's test data and reset its trial-run counter; settings stay as they are.

    Returns table name → rows deleted. Tables are found from the metadata, so a
    contract table that has ``member_id`` and ``environment`` is included the day
    it exists.
    """
    repository = OnboardingRepository(session, member_id)
    async with elevated(session):
        cleared = await repository.delete_test_data(test_data_tables())
        cleared["trial_run"] = await repository.delete_trial_runs()
    return cleared


def _reachable(member: Member, to: MemberStatus) -> MemberStatus:
    """The member's current stage, when ``to`` can be reached from it; :class:`InvalidTransition` otherwise."""
    current = MemberStatus(member.status)
    if to not in TRANSITIONS[current]:
        raise InvalidTransition(
            _("A member cannot move from “{current}” to “{to}”.").format(
                current=stage_label(current), to=stage_label(to)
            )
        )
    return current


RECOMMENDED_TRIAL_RUNS = 5
"""Trial runs a member is advised to make before going live (the screen says "about five")."""


async def stage_question(
    session: AsyncSession, member: Member, to: MemberStatus, *, effective_on: dt.date | None = None
) -> Confirmation:
    """What moving ``member`` to ``to`` will do, asked on the screens before :func:`transition` runs.

    Refuses (:class:`InvalidTransition`) exactly when the move itself would.
    """
    current = _reachable(member, to)
    day = effective_on or today_jst()
    what = [
        _("{member} moves from “{current}” to “{to}” from {day}.").format(
            member=member.name, current=stage_label(current), to=stage_label(to), day=format_date(day, era=True)
        )
    ]
    destructive = False
    if to is MemberStatus.LIVE and current is MemberStatus.TRIAL:
        destructive = True
        repository = OnboardingRepository(session, member.id)
        async with elevated(session):
            counted = await repository.count_test_data(test_data_tables())
            runs = await repository.trial_run_count()
        contracts = counted.pop("contract", 0)
        what.append(
            _(
                "The test data is deleted and cannot be restored: {contracts} test contracts and {rows} other test "
                "records. Departments, staff, titles, roles, the address book and IP ranges stay as they are."
            ).format(contracts=contracts, rows=sum(counted.values()))
        )
        if member.go_live_on is None:
            what.append(
                _("The service starts on {day}: the monthly report and the invoices count from this day.").format(
                    day=format_date(day, era=True)
                )
            )
        if runs < RECOMMENDED_TRIAL_RUNS:
            what.append(
                _("Only {runs} trial runs were made; about {recommended} are advised before going live.").format(
                    runs=runs, recommended=RECOMMENDED_TRIAL_RUNS
                )
            )
    elif to is MemberStatus.SANDBOX and current is MemberStatus.TRIAL:
        what.append(_("The member goes back to setting up; its test contracts stay."))
    elif to is MemberStatus.LEAVING:
        destructive = True
        what.append(
            _(
                "The member starts leaving. Its staff keep working until its data is deleted, which is a separate "
                "step on the leaving screen."
            )
        )
    elif to is MemberStatus.LIVE and current is MemberStatus.LEAVING:
        what.append(_("The member stays: leaving is withdrawn and nothing is deleted."))
    return Confirmation(
        heading=_("Move {member} to “{to}”?").format(member=member.name, to=stage_label(to)),
        what=what,
        button=_("Change the stage"),
        destructive=destructive,
    )


async def transition(
    session: AsyncSession,
    member: Member,
    to: MemberStatus,
    *,
    by: str,
    effective_on: dt.date | None = None,
    note: str = "",
) -> StageChange:
    """Move ``member`` to stage ``to`` and record who did it and when.

    Raises:
        InvalidTransition: ``to`` is not reachable from the current stage.
    """
    current = _reachable(member, to)
    detail: dict[str, object] = {}
    if to is MemberStatus.LIVE and current is MemberStatus.TRIAL:
        async with elevated(session):
            detail["trial_runs"] = await trial_run_count(session, member.id)
            detail["cleared"] = await promote_to_live(session, member.id)
    change = StageChange(
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        from_status=current,
        to_status=to,
        changed_by=by,
        effective_on=effective_on or today_jst(),
        note=note,
        detail=detail,
    )
    member.status = to
    if to is MemberStatus.LIVE and member.go_live_on is None:
        # The service window of the SLA report and the billed days start here.
        member.go_live_on = change.effective_on
    session.add(change)
    await session.flush()
    return change


def stage_label(status: MemberStatus) -> str:
    """The stage's name in the user's language."""
    labels = {
        MemberStatus.INVITED: _("Invited"),
        MemberStatus.SANDBOX: _("Sandbox"),
        MemberStatus.TRIAL: _("Trial"),
        MemberStatus.LIVE: _("Live"),
        MemberStatus.LEAVING: _("Leaving"),
        MemberStatus.LEFT: _("Left"),
    }
    return labels[status]


def checklist_label(item: str) -> str:
    """An onboarding step's name in the user's language."""
    labels = {
        "staff_briefing": _("Staff briefing"),
        "contractor_briefing": _("Contractor briefing"),
        "workflow_review": _("Workflow review"),
        "regulation_review": _("Regulation review"),
        "data_preparation": _("Data preparation"),
        "trial_runs": _("Trial runs"),
        "go_live_date": _("Go-live date"),
    }
    return labels[item]


async def record_trial_run(session: AsyncSession, member_id: uuid.UUID, contract_id: uuid.UUID) -> bool:
    """Count a contract concluded in the test environment as a trial run (once per contract).

    Returns True when it was counted now, False when it had been counted before.
    """
    return await OnboardingRepository(session, member_id).add_trial_run(contract_id)


async def trial_run_count(session: AsyncSession, member_id: uuid.UUID) -> int:
    """How many trial runs the member has made since it last went live."""
    return await OnboardingRepository(session, member_id).trial_run_count()


async def tick(
    session: AsyncSession, member: Member, item: str, *, done_on: dt.date | None, note: str, by: str
) -> ChecklistItem:
    """Record (or clear, with ``done_on=None``) an onboarding step of ``member``.

    Raises:
        NotFound: ``item`` is not one of :data:`~onboarding.models.CHECKLIST_ITEMS`.
    """
    if item not in CHECKLIST_ITEMS:
        raise NotFound(_("No such step."))
    row = await session.scalar(
        select(ChecklistItem).where(ChecklistItem.member_ref_id == member.id, ChecklistItem.item == item)
    )
    if row is None:
        row = ChecklistItem(consortium_id=member.consortium_id, member_ref_id=member.id, item=item)
        session.add(row)
    row.done_on = done_on
    row.note = note.strip()[:2000]
    row.updated_by = by
    await session.flush()
    return row


@dataclass
class MemberProgress:
    """What the secretariat sees of one member's onboarding (no contract contents)."""

    member: Member
    trial_runs: int
    items: dict[str, ChecklistItem | None] = field(default_factory=dict)
    history: list[StageChange] = field(default_factory=list)

    @property
    def next_stages(self) -> list[MemberStatus]:
        """Stages the secretariat may move the member to."""
        order = list(MemberStatus)
        return sorted(TRANSITIONS[MemberStatus(self.member.status)], key=order.index)


async def consortium_progress(
    session: AsyncSession, consortium_id: uuid.UUID, member_id: uuid.UUID | None = None
) -> list[MemberProgress]:
    """Stage, trial-run count, checklist and history of the consortium's members."""
    query = select(Member).where(Member.consortium_id == consortium_id).order_by(Member.lg_code)
    if member_id is not None:
        query = query.where(Member.id == member_id)
    members = (await session.scalars(query)).all()
    ids = [m.id for m in members]
    async with elevated(session):  # trial runs are the members' own rows; only their number is read
        counts = await OnboardingRepository(session, None).trial_run_counts(ids)
    items = (await session.scalars(select(ChecklistItem).where(ChecklistItem.member_ref_id.in_(ids)))).all()
    history = (
        await session.scalars(
            select(StageChange).where(StageChange.member_ref_id.in_(ids)).order_by(StageChange.changed_at)
        )
    ).all()
    result = []
    for m in members:
        progress = MemberProgress(member=m, trial_runs=int(counts.get(m.id, 0)))
        ticked: dict[str, ChecklistItem | None] = dict.fromkeys(CHECKLIST_ITEMS)
        progress.items = ticked
        for row in items:
            if row.member_ref_id == m.id:
                progress.items[row.item] = row
        progress.history = [h for h in history if h.member_ref_id == m.id]
        result.append(progress)
    return result
