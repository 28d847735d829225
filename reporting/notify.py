"""Mail of reporting: maintenance announcements (SLA-5), incident notices (SLA-6), operator notices.

Nothing here talks to SMTP. Each message is written to the outbox with
:func:`signing.mail.queue_mail` in the caller's transaction and sent by the
platform's mail task, so it goes wherever every other mail of the platform goes
(the SMTP server, or the development mailbox at ``/dev/mail`` in ``kyodo demo``)
and is retried the same way. Each function is safe to run twice: what was
announced is marked, and a second run finds nothing left to send.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import format_date
from core.i18n import gettext as _
from core.scope import elevated
from core.settings import Settings
from reporting.figures import JST
from reporting.models import Incident, IncidentReport, MaintenanceWindow
from reporting.render import report_language
from reporting.repository import ReportingRepository
from signing.mail import queue_mail

__all__ = [
    "URGENCY_LABELS",
    "notify_incident",
    "notify_maintenance",
    "notify_maintenance_cancelled",
    "notify_operators_of_incident_report",
    "notify_operators_of_waiting_reports",
]


URGENCY_LABELS: dict[str, Callable[[], str]] = {
    "high": lambda: _("High: work has stopped"),
    "normal": lambda: _("Normal: work is hindered"),
    "low": lambda: _("Low: it can wait"),
}
"""How urgent a reporting administrator finds it, as screens and mails say it."""


def _when(at: dt.datetime) -> str:
    local = at.astimezone(JST)
    return f"{format_date(local)} {local:%H:%M}"


async def _recipients(session: AsyncSession, consortium_id: uuid.UUID) -> list[str]:
    """Active staff of the consortium's members in service, and every contractor contact.

    Staff are every member's rows: read inside :func:`core.scope.elevated`, only their addresses.
    """
    repo = ReportingRepository(session, None)
    async with elevated(session):
        staff = await repo.staff_emails(None, consortium_id)
    return sorted({*staff, *await repo.contractor_emails(consortium_id)})


def _queue_all(session: AsyncSession, settings: Settings, recipients: Iterable[str], subject: str, body: str) -> int:
    count = 0
    for address in recipients:
        queue_mail(session, settings, to=address, subject=subject, body=body)
        count += 1
    return count


async def notify_maintenance(session: AsyncSession, settings: Settings, window_id: uuid.UUID) -> int:
    """Queue the announcement of a window to members' staff and contractors; returns messages queued."""
    window = await ReportingRepository(session, None).maintenance_window(window_id, for_update=True)
    if window is None or window.notified_at is not None or window.cancelled:
        return 0
    with report_language("ja"):
        subject = _("[Kyodo] Planned maintenance: {title}").format(title=window.title)
        if window.emergency:
            subject = _("[Kyodo] Emergency maintenance: {title}").format(title=window.title)
        body = _(
            "The electronic-contract service Kyodo will be unavailable for maintenance.\n\n"
            "Work: {title}\nFrom: {start}\nTo: {end}\n\n{description}\n\n"
            "Please finish or postpone signing during this time. Status: {url}/status"
        ).format(
            title=window.title,
            start=_when(window.starts_at),
            end=_when(window.ends_at),
            description=window.description,
            url=settings.server.staff_base_url(),
        )
    sent = _queue_all(session, settings, await _recipients(session, window.consortium_id), subject, body)
    window.notified_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return sent


async def notify_maintenance_cancelled(session: AsyncSession, settings: Settings, window: MaintenanceWindow) -> int:
    """Queue the news that an announced window will not take place (nothing when it was never announced)."""
    if window.notified_at is None or window.cancellation_notified_at is not None:
        return 0
    with report_language("ja"):
        subject = _("[Kyodo] Maintenance cancelled: {title}").format(title=window.title)
        body = _(
            "The maintenance announced for {start} to {end} ({title}) will not take place. "
            "The service stays available as usual.\n\nStatus: {url}/status"
        ).format(
            title=window.title,
            start=_when(window.starts_at),
            end=_when(window.ends_at),
            url=settings.server.staff_base_url(),
        )
    sent = _queue_all(session, settings, await _recipients(session, window.consortium_id), subject, body)
    window.cancellation_notified_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return sent


async def _affected_staff(session: AsyncSession, incident: Incident) -> list[str]:
    repo = ReportingRepository(session, None)
    async with elevated(session):
        if incident.all_members:
            return sorted(await repo.staff_emails(None, None))
        return sorted(await repo.staff_emails(await repo.affected_member_ids(incident.id), None))


async def _scope(session: AsyncSession, incident: Incident) -> str:
    """Whom the incident affects, as the notice names it."""
    if incident.all_members:
        return _("every member of the platform")
    repo = ReportingRepository(session, None)
    async with elevated(session):
        names = await repo.member_names(await repo.affected_member_ids(incident.id))
    return "、".join(names)


async def notify_incident(session: AsyncSession, settings: Settings, incident: Incident, *, recovered: bool) -> int:
    """Queue a notice of an incident (or of its recovery) to the staff of the members it affects.

    The first notice sets ``first_notified_at`` (MOR-18: the time members were told).
    The affected staff are read inside :func:`core.scope.elevated`.
    """
    with report_language("ja"):
        if recovered and incident.recovered_at is not None:
            subject = _("[Kyodo] Recovered: {title}").format(title=incident.title)
            body = _(
                "The service has recovered from the failure below.\n\n"
                "Failure: {title}\nStarted: {start}\nRecovered: {end}\n\nCause: {cause}\n"
                "Prevention: {prevention}\n\nStatus: {url}/status"
            ).format(
                title=incident.title,
                start=_when(incident.started_at),
                end=_when(incident.recovered_at),
                cause=incident.cause or "—",
                prevention=incident.prevention or "—",
                url=settings.server.staff_base_url(),
            )
        else:
            expected = (
                _when(incident.expected_recovery_at) if incident.expected_recovery_at else _("under investigation")
            )
            subject = _("[Kyodo] Failure: {title}").format(title=incident.title)
            body = _(
                "A failure affects the electronic-contract service Kyodo.\n\n"
                "Failure: {title}\nStarted: {start}\nSymptom: {symptom}\nExpected recovery: {expected}\n\n"
                "We will tell you when the service has recovered. Status: {url}/status"
            ).format(
                title=incident.title,
                start=_when(incident.started_at),
                symptom=incident.symptom or "—",
                expected=expected,
                url=settings.server.staff_base_url(),
            )
        scope = _("Affected: {scope}").format(scope=await _scope(session, incident))
    body = f"{scope}\n\n{body}"
    sent = _queue_all(session, settings, await _affected_staff(session, incident), subject, body)
    if incident.first_notified_at is None:
        incident.first_notified_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return sent


async def notify_operators_of_waiting_reports(
    session: AsyncSession, settings: Settings, month: dt.date, waiting: list[str]
) -> int:
    """Tell every active operator which reports of ``month`` wait for an improvement plan."""
    if not waiting:
        return 0
    operators = await ReportingRepository(session, None).operator_emails()
    with report_language("ja"):
        subject = _("[Kyodo] Monthly reports waiting for an improvement plan ({month})").format(
            month=month.isoformat()[:7]
        )
        body = _(
            "Targets were missed and these reports cannot be issued until the reason and the improvement plan "
            "are written:\n\n{lines}\n\nWrite them here: {url}/operator/reports?month={month}"
        ).format(lines="\n".join(waiting), url=settings.server.staff_base_url(), month=month.isoformat()[:7])
    return _queue_all(session, settings, sorted(set(operators)), subject, body)


async def notify_operators_of_incident_report(
    session: AsyncSession, settings: Settings, report: IncidentReport, incident: Incident, member_name: str
) -> int:
    """Tell every active operator that a member reported an incident, with everything the reporter wrote."""
    operators = await ReportingRepository(session, None).operator_emails()
    with report_language("ja"):
        urgency = URGENCY_LABELS.get(report.urgency, lambda: report.urgency)()
        subject = _("[Kyodo] Incident reported by {member} (urgency: {urgency})").format(
            member=member_name, urgency=urgency
        )
        body = _(
            "{member} reported an incident. Please triage it: set the severity, the members affected and write "
            "the progress.\n\nReported by: {who} at {when}\nWhat happened: {what}\nSince: {since}\n"
            "Screens or contracts affected: {affected}\nUrgency: {urgency}\nTelephone: {phone}\n\n"
            "Triage: {url}/operator/incidents/{incident_id}"
        ).format(
            member=member_name,
            who=report.reported_by,
            when=_when(report.reported_at),
            what=report.what,
            since=_when(report.since),
            affected=report.affected or "—",
            urgency=urgency,
            phone=report.phone,
            url=settings.server.staff_base_url(),
            incident_id=incident.id,
        )
    return _queue_all(session, settings, sorted(operators), subject, body)
