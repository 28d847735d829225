"""Operator and secretariat actions of reporting: incidents, maintenance, targets, plans, issuing.

Every function takes a session; callers commit. Workers, operator commands and
screens call them inside :func:`core.scope.elevated`; the queries are
:class:`reporting.repository.ReportingRepository`'s.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import holidays
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST, month_end, month_is_over
from core.errors import Conflict, Invalid, NotFound
from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import Principal
from core.settings import Settings
from reporting.figures import ITEMS, MemberMonth, compute_month, consortium_of
from reporting.models import (
    Incident,
    IncidentProgress,
    IncidentReport,
    MaintenanceWindow,
    MonthlyReport,
    ReportPlan,
    ReportRelease,
    ReportSecurity,
    SlaTarget,
)
from reporting.notify import notify_operators_of_incident_report
from reporting.render import ITEM_LABELS, render_csv, render_pdf, report_language
from reporting.repository import ReportingRepository
from tenants.models import Consortium, Member

__all__ = [
    "INCIDENT_STATUSES",
    "NOTIFY_MAINTENANCE_CANCELLED_TASK",
    "NOTIFY_MAINTENANCE_TASK",
    "OFFICE_HOURS",
    "SEVERITIES",
    "URGENCIES",
    "IncidentError",
    "IssueRefusedError",
    "MaintenanceNoticeError",
    "ReviewLine",
    "active_maintenance",
    "add_progress",
    "add_release",
    "cancel_maintenance",
    "in_office_hours",
    "incident_state_label",
    "is_office_day",
    "issue_month",
    "issue_report",
    "members_of",
    "open_incident",
    "record_recovery",
    "remove_release",
    "render",
    "report_incident",
    "schedule_maintenance",
    "set_targets",
    "triage_incident",
    "visible_incidents",
    "weekly_review",
    "write_plan",
    "write_security_measures",
]

NOTIFY_MAINTENANCE_TASK = "reporting.notify_maintenance"
"""Outbox task that mails a maintenance announcement to members and contractors."""
NOTIFY_MAINTENANCE_CANCELLED_TASK = "reporting.notify_maintenance_cancelled"
"""Outbox task that mails the cancellation of an announced window."""


class MaintenanceNoticeError(Invalid):
    """Planned maintenance that cannot be announced or called off as asked (too late, out of order, over)."""


class IssueRefusedError(Conflict):
    """A report cannot be issued or changed in its state (missed target without a plan, not in service, issued)."""


class IncidentError(Invalid):
    """An incident record that cannot be right (times out of order, nobody affected)."""


OFFICE_HOURS = (dt.time(8, 30), dt.time(17, 15))
"""Weekday office hours of Japanese local governments; planned maintenance should avoid them (SLA-5)."""


@functools.cache
def _japanese_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_office_day(day: dt.date) -> bool:
    """A weekday that is neither a Japanese public holiday (振替休日 included) nor in 年末年始 (29 Dec – 3 Jan)."""
    if day.weekday() >= 5:
        return False
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return False
    return day not in _japanese_holidays(day.year)


def in_office_hours(starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    """True when ``[starts_at, ends_at)`` touches office hours (Japan time) of an office day (:func:`is_office_day`)."""
    day = starts_at.astimezone(JST).date()
    while day <= ends_at.astimezone(JST).date():
        if is_office_day(day):
            open_at = dt.datetime.combine(day, OFFICE_HOURS[0], JST)
            close_at = dt.datetime.combine(day, OFFICE_HOURS[1], JST)
            if starts_at < close_at and ends_at > open_at:
                return True
        day += dt.timedelta(days=1)
    return False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


MIN_NOTICE_DAYS = 7
"""The shortest notice any consortium may set for planned maintenance (SLA-6)."""


async def set_notice_days(session: AsyncSession, consortium_id: uuid.UUID, days: int) -> Consortium:
    """Set how many days before planned maintenance members and contractors are told.

    Raises:
        MaintenanceNoticeError: fewer than :data:`MIN_NOTICE_DAYS` days, or more than a year.
    """
    if not MIN_NOTICE_DAYS <= days <= 365:
        raise MaintenanceNoticeError(
            _("The notice period must be between {low} and 365 days.").format(low=MIN_NOTICE_DAYS)
        )
    consortium = await ReportingRepository(session, None).consortium(consortium_id)
    if consortium is None:
        raise NotFound(_("The consortium was not found."))
    consortium.maintenance_notice_days = days
    await session.flush()
    return consortium


async def schedule_maintenance(
    session: AsyncSession,
    consortium_id: uuid.UUID,
    *,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    description: str = "",
    emergency: bool = False,
    now: dt.datetime | None = None,
) -> MaintenanceWindow:
    """Announce a maintenance window and queue the announcement mail (SLA-5); a window already over mails nobody.

    Raises:
        MaintenanceNoticeError: it starts sooner than ``Consortium.maintenance_notice_days``
            from now and is not flagged as emergency, or it ends before it starts.
    """
    now = now or _now()
    if ends_at <= starts_at:
        raise MaintenanceNoticeError(_("The maintenance must end after it starts."))
    consortium = await ReportingRepository(session, None).consortium(consortium_id)
    notice = dt.timedelta(days=consortium.maintenance_notice_days)
    if not emergency and starts_at - now < notice:
        earliest = (now + notice).astimezone(JST)
        raise MaintenanceNoticeError(
            _(
                "Planned maintenance must be announced at least {days} days ahead (earliest start now: {earliest}). "
                "Flag it as emergency if it cannot wait; it then counts as downtime."
            ).format(days=consortium.maintenance_notice_days, earliest=f"{earliest:%Y-%m-%d %H:%M}")
        )
    window = MaintenanceWindow(
        consortium_id=consortium_id,
        title=title,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        announced_at=now,
        emergency=emergency,
    )
    session.add(window)
    await session.flush()
    if ends_at > now:
        # Work already over (an emergency recorded afterwards) is announced to nobody.
        enqueue(session, NOTIFY_MAINTENANCE_TASK, window_id=str(window.id))
    return window


async def cancel_maintenance(
    session: AsyncSession, window_id: uuid.UUID, *, now: dt.datetime | None = None
) -> MaintenanceWindow:
    """Call off a window that has not ended (it then counts for nothing); announced ones are told by mail.

    Raises:
        MaintenanceNoticeError: the window is already over or cancelled.
    """
    window = await ReportingRepository(session, None).maintenance_window_one(window_id, for_update=True)
    if window.cancelled:
        raise MaintenanceNoticeError(_("This maintenance is already cancelled."))
    if window.ends_at <= (now or _now()):
        raise MaintenanceNoticeError(_("This maintenance is over; it can no longer be cancelled."))
    window.cancelled = True
    await session.flush()
    enqueue(session, NOTIFY_MAINTENANCE_CANCELLED_TASK, window_id=str(window.id))
    return window


async def active_maintenance(
    session: AsyncSession, consortium_id: uuid.UUID | None, *, now: dt.datetime | None = None
) -> list[MaintenanceWindow]:
    """Windows not over yet (current and announced), of one consortium or of all."""
    return await ReportingRepository(session, None).active_maintenance(consortium_id, now or _now())


async def open_incident(
    session: AsyncSession,
    *,
    title: str,
    started_at: dt.datetime,
    detected_at: dt.datetime,
    symptom: str,
    members: Iterable[uuid.UUID] | None = None,
    first_notified_at: dt.datetime | None = None,
    expected_recovery_at: dt.datetime | None = None,
    severity: str = "major",
) -> Incident:
    """Record an incident; ``members=None`` means it affects every member.

    Raises:
        IncidentError: it was detected before it started, or names no affected member.
    """
    affected = list(members) if members is not None else None
    if severity not in SEVERITIES:
        raise IncidentError(_("The severity must be critical, major or minor."))
    if detected_at < started_at:
        raise IncidentError(_("An incident cannot be detected before it started."))
    if affected is not None and not affected:
        raise IncidentError(_("Choose the affected members, or all members."))
    if expected_recovery_at is not None and expected_recovery_at < started_at:
        raise IncidentError(_("The expected recovery cannot be before the start."))
    incident = Incident(
        expected_recovery_at=expected_recovery_at,
        title=title,
        started_at=started_at,
        detected_at=detected_at,
        first_notified_at=first_notified_at,
        symptom=symptom,
        all_members=affected is None,
        severity=severity,
    )
    session.add(incident)
    await session.flush()
    repo = ReportingRepository(session, None)
    for member_id in affected or []:
        repo.link_incident(incident.id, member_id)
    await session.flush()
    return incident


SEVERITIES = ("critical", "major", "minor")
"""Incident severities: critical (重大, the serious-incident report is due), major (重要), minor (軽微)."""

INCIDENT_STATUSES = ("reported", "confirmed", "dismissed")
"""reported (申告受付: reported by a member, not triaged yet), confirmed (a failure of the service), dismissed."""

URGENCIES = ("high", "normal", "low")
"""How urgent a member's administrator finds what they report."""

_PHONE = re.compile(r"^\+?[0-9][0-9()\- ]{8,18}[0-9]$")


def _summary(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def report_incident(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    what: str,
    since: dt.datetime | None,
    affected: str,
    urgency: str,
    phone: str,
    now: dt.datetime | None = None,
) -> IncidentReport:
    """A member's administrator reports an incident (障害申告): it opens an incident marked 申告受付.

    The incident concerns the reporting member only and counts nowhere until an
    operator confirms it (:func:`triage_incident`). Every active operator is mailed
    through the outbox in the same transaction.

    Raises:
        IncidentError: a field is missing or cannot be right (what happened, since when, urgency, phone).
    """
    now = now or _now()
    member_id = principal.member_id
    if member_id is None:
        raise IncidentError(_("Only a member's staff can report an incident."))
    what, affected, phone = what.strip(), affected.strip(), phone.strip()
    if not what:
        raise IncidentError(_("Please write what happened."))
    if since is None:
        raise IncidentError(_("Please enter since when it happens."))
    if since > now + dt.timedelta(minutes=5):
        raise IncidentError(_("The start cannot be in the future."))
    if urgency not in URGENCIES:
        raise IncidentError(_("Please choose how urgent it is."))
    if not _PHONE.match(phone):
        raise IncidentError(_("Please enter a telephone number we can call back (digits and hyphens)."))
    repo = ReportingRepository(session, member_id)
    member_name = principal.member_name or (await repo.member_names([member_id]) or [""])[0]
    incident = Incident(
        title=_("Reported by {member}: {summary}").format(member=member_name, summary=_summary(what)),
        started_at=since,
        detected_at=max(now, since),
        symptom=what,
        all_members=False,
        severity="major",
        status="reported",
    )
    session.add(incident)
    await session.flush()
    repo.link_incident(incident.id, member_id)
    report = IncidentReport(
        member_id=member_id,
        incident_id=incident.id,
        staff_id=principal.id,
        reported_by=principal.name,
        reported_at=now,
        what=what,
        since=since,
        affected=affected,
        urgency=urgency,
        phone=phone,
    )
    repo.add(report)
    await session.flush()
    await notify_operators_of_incident_report(session, settings, report, incident, member_name)
    return report


def incident_state_label(incident: Incident) -> str:
    """Where an incident stands, as members and operators read it (申告受付, 対応中, 復旧, …)."""
    if incident.status == "reported":
        return _("Report received")
    if incident.status == "dismissed":
        return _("Closed: not a failure of the service")
    return _("Recovered") if incident.recovered_at is not None else _("Being handled")


async def triage_incident(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    status: str,
    severity: str,
    title: str,
    members: Iterable[uuid.UUID] | None,
) -> Incident:
    """An operator's triage: confirm (or dismiss) an incident, set its severity, title and the members it affects.

    ``members=None`` means every member. The session must be elevated (operators).

    Raises:
        IncidentError: unknown status or severity, an empty title, or no affected member.
    """
    incident = await ReportingRepository(session, None).incident_one(incident_id)
    affected = list(members) if members is not None else None
    if status not in INCIDENT_STATUSES:
        raise IncidentError(_("Please choose the status of the incident."))
    if severity not in SEVERITIES:
        raise IncidentError(_("The severity must be critical, major or minor."))
    if not title.strip():
        raise IncidentError(_("Please enter {field}.").format(field=_("what failed")))
    if affected is not None and not affected:
        raise IncidentError(_("Choose the affected members, or all members."))
    incident.status, incident.severity, incident.title = status, severity, title.strip()[:200]
    incident.all_members = affected is None
    repo = ReportingRepository(session, None)
    linked = set(await repo.affected_member_ids(incident_id))
    await repo.unlink_incident(incident_id, affected or [])
    for member_id in affected or []:
        if member_id not in linked:
            repo.link_incident(incident_id, member_id)
    await session.flush()
    return incident


async def add_progress(
    session: AsyncSession, incident_id: uuid.UUID, *, note: str, by: str, at: dt.datetime | None = None
) -> IncidentProgress:
    """Write one entry of an incident's progress (経緯).

    Raises:
        IncidentError: the note is empty, or dated before the incident started.
    """
    incident = await ReportingRepository(session, None).incident(incident_id)
    if incident is None:
        raise NotFound(_("The incident was not found."))
    at = at or _now()
    if not note.strip():
        raise IncidentError(_("Please write what was found or done."))
    if at < incident.started_at:
        raise IncidentError(_("A progress entry cannot be before the incident started."))
    entry = IncidentProgress(incident_id=incident_id, at=at, note=note.strip(), written_by=by)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ReviewLine:
    """One incident in the weekly review (OPS 003)."""

    incident: Incident
    progress: list[IncidentProgress]
    recovery_minutes: int | None
    open: bool


async def weekly_review(session: AsyncSession, *, days: int = 7, now: dt.datetime | None = None) -> list[ReviewLine]:
    """Incidents open at some time in the last ``days`` days, with their progress, oldest first."""
    now = now or _now()
    repo = ReportingRepository(session, None)
    lines = []
    for incident in await repo.incidents_between(now - dt.timedelta(days=days), now):
        minutes = (
            None
            if incident.recovered_at is None
            else int((incident.recovered_at - incident.started_at).total_seconds() // 60)
        )
        lines.append(ReviewLine(incident, await repo.progress(incident.id), minutes, incident.recovered_at is None))
    return lines


async def record_recovery(
    session: AsyncSession, incident_id: uuid.UUID, *, recovered_at: dt.datetime, cause: str, prevention: str
) -> Incident:
    """Close an incident with its cause and prevention (MOR-18(4)).

    Raises:
        IncidentError: the recovery is before the start, or in the future.
    """
    incident = await ReportingRepository(session, None).incident_one(incident_id)
    if recovered_at < incident.started_at:
        raise IncidentError(_("The recovery cannot be before the start of the incident."))
    if recovered_at > _now() + dt.timedelta(minutes=5):
        raise IncidentError(_("The recovery cannot be in the future."))
    incident.recovered_at = recovered_at
    incident.cause = cause
    incident.prevention = prevention
    await session.flush()
    return incident


async def visible_incidents(
    session: AsyncSession, member_id: uuid.UUID | None, *, since: dt.datetime
) -> list[Incident]:
    """Incidents open or recovered since ``since`` that concern ``member_id`` (all-member ones included).

    With the member-scoped session of a request, row-level security already hides
    other members' links; the repository, made for that member, says the same explicitly.
    """
    return await ReportingRepository(session, member_id).visible_incidents(member_id, since)


async def set_targets(
    session: AsyncSession,
    consortium_id: uuid.UUID,
    *,
    effective_from: dt.date,
    availability_percent: Decimal,
    recovery_minutes: int,
    response_ms: int,
) -> SlaTarget:
    """Targets from ``effective_from`` on; earlier months keep the targets they had."""
    target = SlaTarget(
        consortium_id=consortium_id,
        effective_from=effective_from,
        availability_percent=availability_percent,
        recovery_minutes=recovery_minutes,
        response_ms=response_ms,
    )
    session.add(target)
    await session.flush()
    return target


async def write_plan(
    session: AsyncSession, member_id: uuid.UUID, month: dt.date, *, item: str, reason: str, plan: str, by: str
) -> ReportPlan:
    """The reason a target was missed and the improvement plan (replaces an earlier draft; refused once issued)."""
    if item not in ITEMS:
        raise ValueError(f"unknown item {item!r}; one of {', '.join(ITEMS)}")
    if not reason.strip() or not plan.strip():
        raise IssueRefusedError(_("Please write both the reason and the improvement plan."))
    repo = ReportingRepository(session, member_id)
    if await repo.report(member_id, month):
        raise IssueRefusedError(_("The report of this month is already issued; it cannot change."))
    row = await repo.plan(member_id, month, item)
    if row is None:
        row = ReportPlan(member_id=member_id, month=month, item=item, reason=reason, plan=plan, written_by=by)
        repo.add(row)
    else:
        row.reason, row.plan, row.written_by = reason, plan, by
    await session.flush()
    return row


async def _refuse_if_issued(repo: ReportingRepository, member_id: uuid.UUID, month: dt.date) -> None:
    if await repo.report(member_id, month):
        raise IssueRefusedError(_("The report of this month is already issued; it cannot change."))


async def add_release(
    session: AsyncSession,
    member_id: uuid.UUID,
    month: dt.date,
    *,
    released_on: dt.date | None,
    change: str,
    impact: str,
    by: str,
) -> ReportRelease:
    """Add a release or change of ``month`` to the member's report (NII-9(3)); refused once issued."""
    repo = ReportingRepository(session, member_id)
    await _refuse_if_issued(repo, member_id, month)
    if released_on is None:
        raise IssueRefusedError(_("Please enter the date of the release or change."))
    if (released_on.year, released_on.month) != (month.year, month.month):
        raise IssueRefusedError(
            _("The release date must lie in the month of the report ({month}).").format(month=f"{month:%Y-%m}")
        )
    if not change.strip():
        raise IssueRefusedError(_("Please write what changed."))
    row = ReportRelease(
        member_id=member_id,
        month=month,
        released_on=released_on,
        change=change.strip(),
        impact=impact.strip(),
        written_by=by,
    )
    repo.add(row)
    await session.flush()
    return row


async def remove_release(session: AsyncSession, member_id: uuid.UUID, month: dt.date, release_id: uuid.UUID) -> None:
    """Remove a release entry written by mistake; refused once the report is issued."""
    repo = ReportingRepository(session, member_id)
    await _refuse_if_issued(repo, member_id, month)
    row = await repo.release(member_id, release_id)
    if row is None or row.month != month:
        raise NotFound(_("The entry was not found."))
    await repo.remove(row)
    await session.flush()


async def write_security_measures(
    session: AsyncSession,
    member_id: uuid.UUID,
    month: dt.date,
    *,
    detected: str,
    done: str,
    planned: str,
    by: str,
) -> ReportSecurity | None:
    """The month's security measures (SAP-10(1)), replacing an earlier draft; all empty removes them.

    Raises:
        IssueRefusedError: the report of the month is already issued.
    """
    repo = ReportingRepository(session, member_id)
    await _refuse_if_issued(repo, member_id, month)
    detected, done, planned = detected.strip(), done.strip(), planned.strip()
    row = (await repo.security_measures([member_id], month)).get(member_id)
    if not (detected or done or planned):
        if row is not None:
            await repo.remove(row)
            await session.flush()
        return None
    if row is None:
        row = ReportSecurity(
            member_id=member_id, month=month, detected=detected, done=done, planned=planned, written_by=by
        )
        repo.add(row)
    else:
        row.detected, row.done, row.planned, row.written_by = detected, done, planned, by
    await session.flush()
    return row


@dataclass(frozen=True)
class Rendered:
    """A report ready to store or download."""

    figures: MemberMonth
    pdf: bytes
    csv: bytes


def render(
    figures: MemberMonth,
    *,
    locale: str = "ja",
    era: bool = True,
    issued_at: dt.datetime | None = None,
    font: Path | None = None,
) -> Rendered:
    """PDF and CSV of the figures in ``locale`` (Japanese era dates by default in Japanese)."""
    with report_language(locale):
        pdf = render_pdf(figures, era=era, issued_at=issued_at, font=font)
        return Rendered(figures, pdf, render_csv(figures, era=era))


async def issue_report(
    session: AsyncSession,
    member_id: uuid.UUID,
    month: dt.date,
    *,
    issued_by: str,
    now: dt.datetime | None = None,
    figures: MemberMonth | None = None,
    font: Path | None = None,
) -> MonthlyReport:
    """Compute, render and store a member's report for ``month``; an issued report never changes.

    Returns the report already issued if there is one. ``figures`` computed for many
    members at once (:func:`issue_month`) may be passed in to avoid computing again.

    Raises:
        IssueRefusedError: a target was missed and its reason and improvement plan are not
            written yet (MOR-14(2)), or the member was not in service that month.
    """
    repo = ReportingRepository(session, member_id)
    existing = await repo.report(member_id, month)
    if existing is not None:
        return existing
    now = now or _now()
    if not month_is_over(month, now.astimezone(JST).date()):
        raise IssueRefusedError(
            _("The report for {month} can be issued once the month is over, from {day} on.").format(
                month=f"{month:%Y-%m}", day=(month_end(month) + dt.timedelta(days=1)).isoformat()
            )
        )
    if figures is None:
        consortium_id = await consortium_of(session, member_id)
        found = await compute_month(session, consortium_id, month, member_ids=[member_id], now=now)
        if not found:
            raise IssueRefusedError(_("The member was not in service in that month."))
        figures = found[0]
    if figures.missing_plans:
        raise IssueRefusedError(
            _("Targets were missed without a written reason and improvement plan: {items}").format(
                items="、".join(ITEM_LABELS[item]() for item in figures.missing_plans)
            )
        )
    rendered = render(figures, issued_at=now, font=font)
    report = MonthlyReport(
        member_id=member_id,
        month=month,
        issued_at=now,
        issued_by=issued_by,
        figures=figures.to_json(),
        pdf=rendered.pdf,
        csv=rendered.csv,
        pdf_sha256=hashlib.sha256(rendered.pdf).hexdigest(),
        csv_sha256=hashlib.sha256(rendered.csv).hexdigest(),
    )
    repo.add(report)
    await session.flush()
    return report


async def issue_month(
    session: AsyncSession, consortium_id: uuid.UUID, month: dt.date, *, issued_by: str
) -> tuple[list[MonthlyReport], list[MemberMonth]]:
    """Issue the reports of a consortium's month not issued yet; returns (newly issued, waiting for a plan).

    The session must have system access. Figures are computed once for all members.
    """
    issued: list[MonthlyReport] = []
    waiting: list[MemberMonth] = []
    now = _now()
    done_before = await ReportingRepository(session, None).issued_member_ids(month)
    for figures in await compute_month(session, consortium_id, month, now=now):
        if figures.member_id in done_before:
            continue
        if figures.missing_plans:
            waiting.append(figures)
            continue
        issued.append(
            await issue_report(session, figures.member_id, month, issued_by=issued_by, now=now, figures=figures)
        )
    return issued, waiting


async def members_of(session: AsyncSession, consortium_id: uuid.UUID) -> list[Member]:
    """Members of a consortium, by local government code."""
    return await ReportingRepository(session, None).members(consortium_id)
