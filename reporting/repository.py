"""Every query of reporting: measurements, incidents, maintenance, targets, plans and issued reports.

Rows that belong to one member (request telemetry, incidents' member links,
improvement plans, issued reports, and the other domains' staff, security
events, contracts and audit trail that reports count) are read through
:meth:`~core.repository.MemberScopedRepository.scoped`: a repository made for
a member sees only that member's rows. Reports compare and count several
members at once; for that the repository is made with ``member_id=None`` and
used inside :func:`core.scope.elevated` (tasks, operator commands and screens,
the secretariat's aggregates), and the methods take the members they are
about. Platform-wide facts (probes, incidents, maintenance windows, targets)
and the member directory carry no ``member_id`` and need no scope.

:func:`system_session` is the session of a task or an operator command that
works across members.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, delete, func, or_, select, text

from core.outbox import OutboxMessage
from core.repository import MemberScopedRepository
from reporting.models import (
    Incident,
    IncidentMember,
    IncidentProgress,
    IncidentReport,
    MaintenanceWindow,
    MonthlyReport,
    ProbeResult,
    ReportPlan,
    ReportRelease,
    ReportSecurity,
    RequestMinute,
    SlaTarget,
)
from signing.models import AuditEvent, AuditKind, Contract, ContractStatus, SealedDocument
from tenants.models import (
    Consortium,
    ContractorCompany,
    ContractorContact,
    ContractTitle,
    Department,
    Member,
    MemberStatus,
    OperatorAccount,
    SecurityEvent,
    SecurityEventKind,
    Staff,
    StaffStatus,
)

__all__ = ["DOWNLOADERS", "IN_SERVICE", "DayCounts", "OperationsFigures", "ReportingRepository"]

DOWNLOADERS = ("staff", "contractor", "api")
"""Who downloads, in the order reports list them."""

IN_SERVICE = (MemberStatus.TRIAL, MemberStatus.LIVE, MemberStatus.LEAVING)
"""Members whose staff hear about maintenance and incidents."""

DayCounts = tuple[int, int, list[int]]
"""One member's day: requests, server errors, summed latency histogram."""


class ReportingRepository(MemberScopedRepository):
    """Reporting's queries, within one member (``member_id``) or, elevated, across members (None)."""

    # ------------------------------------------------------------ members and consortia

    async def consortia(self) -> list[Consortium]:
        """Every consortium, by name."""
        return list(await self.session.scalars(select(Consortium).order_by(Consortium.name)))

    async def consortium_ids(self) -> list[uuid.UUID]:
        """Every consortium's id, by name (for the monthly run)."""
        return list(await self.session.scalars(select(Consortium.id).order_by(Consortium.name)))

    async def consortium(self, consortium_id: uuid.UUID) -> Consortium:
        """The consortium (it must exist)."""
        return await self.session.get_one(Consortium, consortium_id)

    async def consortium_id_by_slug(self, slug: str) -> uuid.UUID | None:
        """The consortium called ``slug``, if any."""
        found: uuid.UUID | None = await self.session.scalar(select(Consortium.id).where(Consortium.slug == slug))
        return found

    async def consortium_of(self, member_id: uuid.UUID) -> uuid.UUID:
        """The consortium a member belongs to."""
        return (await self.session.execute(select(Member.consortium_id).where(Member.id == member_id))).scalar_one()

    async def members(
        self, consortium_id: uuid.UUID | None = None, *, member_ids: Iterable[uuid.UUID] | None = None
    ) -> list[Member]:
        """Members (of one consortium, or only those listed), by local government code."""
        query = select(Member).order_by(Member.lg_code)
        if consortium_id is not None:
            query = query.where(Member.consortium_id == consortium_id)
        if member_ids is not None:
            query = query.where(Member.id.in_(list(member_ids)))
        return list(await self.session.scalars(query))

    async def joined_members(self, consortium_id: uuid.UUID) -> list[Member]:
        """Members of the consortium that have joined (not invited, not a sandbox), by code."""
        return list(
            await self.session.scalars(
                select(Member)
                .where(
                    Member.consortium_id == consortium_id,
                    Member.status.not_in([MemberStatus.INVITED, MemberStatus.SANDBOX]),
                )
                .order_by(Member.lg_code)
            )
        )

    async def member_by_code(self, lg_code: str, *, consortium_id: uuid.UUID | None = None) -> Member | None:
        """The member with local government code ``lg_code`` (within ``consortium_id`` if given)."""
        query = select(Member).where(Member.lg_code == lg_code)
        if consortium_id is not None:
            query = query.where(Member.consortium_id == consortium_id)
        found: Member | None = await self.session.scalar(query)
        return found

    async def member_ids_by_codes(self, codes: Iterable[str]) -> list[uuid.UUID]:
        """Ids of the members with these local government codes (unknown codes are left out)."""
        return list(await self.session.scalars(select(Member.id).where(Member.lg_code.in_(list(codes)))))

    # ------------------------------------------------------------ measurements

    async def failed_probe_minutes(self, start: dt.datetime, end: dt.datetime) -> set[int]:
        """Minutes (``epoch // 60``) in ``[start, end)`` in which a probe failed."""
        failed = await self.session.scalars(
            select(func.floor(func.extract("epoch", ProbeResult.checked_at) / 60).cast(Integer))
            .where(ProbeResult.checked_at >= start, ProbeResult.checked_at < end, ProbeResult.ok.is_(False))
            .distinct()
        )
        return {int(m) for m in failed}

    async def probe_gaps(
        self, start: dt.datetime, end: dt.datetime, *, stale_after: dt.timedelta
    ) -> tuple[list[tuple[dt.datetime, dt.datetime]], dt.datetime | None, dt.datetime | None]:
        """Where probe results stop in ``[start, end)``: (gaps, first result, last result).

        A gap is ``(result, next result)`` more than ``stale_after`` apart; only
        the gaps come back from the database (one window function), never every row.
        """
        ordered = (
            select(
                ProbeResult.checked_at.label("at"),
                func.lag(ProbeResult.checked_at).over(order_by=ProbeResult.checked_at).label("before"),
            )
            .where(ProbeResult.checked_at >= start - stale_after, ProbeResult.checked_at < end)
            .subquery()
        )
        rows = await self.session.execute(
            select(ordered.c.before, ordered.c.at).where(
                ordered.c.before.is_not(None), ordered.c.at - ordered.c.before > stale_after
            )
        )
        bounds = (
            await self.session.execute(
                select(func.min(ProbeResult.checked_at), func.max(ProbeResult.checked_at)).where(
                    ProbeResult.checked_at >= start - stale_after, ProbeResult.checked_at < end
                )
            )
        ).one()
        return [(row[0], row[1]) for row in rows], bounds[0], bounds[1]

    async def latency_by_day(
        self, member_ids: Sequence[uuid.UUID], start: dt.datetime, end: dt.datetime, *, bins: int
    ) -> dict[uuid.UUID, dict[dt.date, DayCounts]]:
        """Per member and Japan-time day: requests, server errors, the first ``bins`` bins summed (one query)."""
        day = func.date(func.timezone("Asia/Tokyo", RequestMinute.minute)).label("day")
        rows = await self.session.execute(
            self.scoped(RequestMinute)
            .where(RequestMinute.member_id.in_(member_ids), RequestMinute.minute >= start, RequestMinute.minute < end)
            .with_only_columns(
                RequestMinute.member_id,
                day,
                func.sum(RequestMinute.requests),
                func.sum(RequestMinute.server_errors),
                *[func.sum(RequestMinute.histogram[i + 1]) for i in range(bins)],
            )
            .group_by(RequestMinute.member_id, "day")
        )
        out: dict[uuid.UUID, dict[dt.date, DayCounts]] = defaultdict(dict)
        for member_id, on, requests, errors, *counts in rows:
            out[member_id][on] = (int(requests), int(errors), [int(b or 0) for b in counts])
        return out

    async def add_request_minutes(self, rows: list[dict[str, Any]]) -> None:
        """Add counts to ``request_minute`` (one row per member and minute; counts of a removed member are dropped)."""
        await self.session.execute(_UPSERT_MINUTE, rows)

    async def security_counts(
        self, member_ids: Sequence[uuid.UUID], start: dt.datetime, end: dt.datetime
    ) -> dict[uuid.UUID, dict[str, int]]:
        """Security events per member and kind in ``[start, end)`` (every kind present, zero if none)."""
        rows = await self.session.execute(
            self.scoped(SecurityEvent)
            .where(
                SecurityEvent.member_id.in_(member_ids),
                SecurityEvent.occurred_at >= start,
                SecurityEvent.occurred_at < end,
            )
            .with_only_columns(SecurityEvent.member_id, SecurityEvent.kind, func.count())
            .group_by(SecurityEvent.member_id, SecurityEvent.kind)
        )
        out: dict[uuid.UUID, dict[str, int]] = defaultdict(lambda: {k.value: 0 for k in SecurityEventKind})
        for member_id, kind, count in rows:
            out[member_id][SecurityEventKind(kind).value] = int(count)
        return out

    async def concluded_counts(
        self, member_id: uuid.UUID, period: tuple[dt.datetime, dt.datetime]
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Contracts of ``member_id`` concluded in ``[start, end)``: (by department, by contract title).

        Contracts without a department or title are grouped under an empty name.
        """
        start, end = period
        concluded = self.scoped(Contract).where(
            Contract.member_id == member_id,
            Contract.status == ContractStatus.CONCLUDED,
            Contract.concluded_at >= start,
            Contract.concluded_at < end,
        )
        by_department = (
            await self.session.execute(
                concluded.with_only_columns(func.coalesce(Department.name, ""), func.count())
                .select_from(Contract)
                .outerjoin(Department, Department.id == Contract.department_id)
                .group_by(Department.name)
                .order_by(func.count().desc(), Department.name)
            )
        ).all()
        by_title = (
            await self.session.execute(
                concluded.with_only_columns(func.coalesce(ContractTitle.name, ""), func.count())
                .select_from(Contract)
                .outerjoin(ContractTitle, ContractTitle.id == Contract.title_id)
                .group_by(ContractTitle.name)
                .order_by(func.count().desc(), ContractTitle.name)
            )
        ).all()
        return (
            [(str(name), int(count)) for name, count in by_department],
            [(str(name), int(count)) for name, count in by_title],
        )

    async def downloads(
        self, member_ids: Iterable[uuid.UUID], period: tuple[dt.datetime, dt.datetime]
    ) -> dict[uuid.UUID, dict[str, int]]:
        """Downloads per member in ``[start, end)``, by who downloaded (every key of :data:`DOWNLOADERS`)."""
        ids = list(member_ids)
        start, end = period
        # The audit actor starts with who it was: staff:<id> …, party:<id> …, apikey:<id> ….
        who = case(
            (AuditEvent.actor.startswith("party:"), "contractor"),
            (AuditEvent.actor.startswith("apikey:"), "api"),
            else_="staff",
        )
        rows = await self.session.execute(
            self.scoped(AuditEvent)
            .where(
                AuditEvent.member_id.in_(ids),
                AuditEvent.kind == AuditKind.DOWNLOADED.value,
                AuditEvent.occurred_at >= start,
                AuditEvent.occurred_at < end,
            )
            .with_only_columns(AuditEvent.member_id, who, func.count())
            .group_by(AuditEvent.member_id, who)
        )
        counts = {member_id: dict.fromkeys(DOWNLOADERS, 0) for member_id in ids}
        for member_id, kind, count in rows.tuples():
            counts[member_id][str(kind)] = int(count)
        return counts

    # ------------------------------------------------------------ incidents

    async def incident(self, incident_id: uuid.UUID) -> Incident | None:
        """One incident, if it exists."""
        return await self.session.get(Incident, incident_id)

    async def incident_one(self, incident_id: uuid.UUID) -> Incident:
        """One incident (``NoResultFound`` when there is none)."""
        return await self.session.get_one(Incident, incident_id)

    async def incidents_between(self, start: dt.datetime, end: dt.datetime) -> list[Incident]:
        """Incidents open at some time in ``[start, end)``, by start."""
        return list(
            await self.session.scalars(
                select(Incident)
                .where(Incident.started_at < end, or_(Incident.recovered_at.is_(None), Incident.recovered_at > start))
                .order_by(Incident.started_at)
            )
        )

    async def recent_incidents(self, since: dt.datetime) -> list[Incident]:
        """Open incidents first, then those started since ``since``, newest first."""
        return list(
            await self.session.scalars(
                select(Incident)
                .where(or_(Incident.recovered_at.is_(None), Incident.started_at >= since))
                .order_by(Incident.recovered_at.is_(None).desc(), Incident.started_at.desc())
            )
        )

    async def visible_incidents(self, member_id: uuid.UUID | None, since: dt.datetime) -> list[Incident]:
        """Incidents open or recovered since ``since`` that concern ``member_id`` (all-member ones included)."""
        concerns: ColumnElement[bool] = Incident.all_members.is_(True)
        if member_id is not None:
            link = (
                self.scoped(IncidentMember)
                .where(IncidentMember.incident_id == Incident.id, IncidentMember.member_id == member_id)
                .exists()
            )
            concerns = or_(concerns, link)
        return list(
            await self.session.scalars(
                select(Incident)
                .where(
                    concerns,
                    Incident.status == "confirmed",
                    or_(Incident.recovered_at.is_(None), Incident.recovered_at >= since),
                )
                .order_by(Incident.started_at.desc())
            )
        )

    async def incident_links(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
        """Incident → the members it affects, for incidents that did not hit everyone."""
        links: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        if not incident_ids:
            return links
        rows = await self.session.execute(
            self.scoped(IncidentMember)
            .where(IncidentMember.incident_id.in_(incident_ids))
            .with_only_columns(IncidentMember.incident_id, IncidentMember.member_id)
        )
        for incident_id, member_id in rows.tuples():
            links[incident_id].add(member_id)
        return links

    async def affected_names(self, incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        """Incident → names of the members it affects, by local government code."""
        if not incident_ids:
            return {}
        rows = await self.session.execute(
            self.scoped(IncidentMember)
            .where(IncidentMember.incident_id.in_(incident_ids))
            .with_only_columns(IncidentMember.incident_id, Member.name)
            .join_from(IncidentMember, Member, Member.id == IncidentMember.member_id)
            .order_by(Member.lg_code)
        )
        names: dict[uuid.UUID, list[str]] = {}
        for incident_id, name in rows.tuples():
            names.setdefault(incident_id, []).append(name)
        return names

    def link_incident(self, incident_id: uuid.UUID, member_id: uuid.UUID) -> None:
        """Record that an incident affects a member."""
        self.add(IncidentMember(incident_id=incident_id, member_id=member_id))

    async def unlink_incident(self, incident_id: uuid.UUID, keep: Iterable[uuid.UUID]) -> None:
        """Forget the members an incident is linked to, except those in ``keep`` (use inside elevated)."""
        await self.session.execute(
            delete(IncidentMember).where(
                IncidentMember.incident_id == incident_id, IncidentMember.member_id.not_in(list(keep))
            )
        )

    # ------------------------------------------------------------ incidents reported by members

    async def incident_reports(self, member_id: uuid.UUID) -> list[tuple[IncidentReport, Incident]]:
        """The member's reported incidents with the incident each opened, newest first."""
        rows = await self.session.execute(
            self.scoped(IncidentReport)
            .where(IncidentReport.member_id == member_id)
            .add_columns(Incident)
            .join(Incident, Incident.id == IncidentReport.incident_id)
            .order_by(IncidentReport.reported_at.desc())
        )
        return [(report, incident) for report, incident in rows.tuples()]

    async def incident_report(
        self, member_id: uuid.UUID, report_id: uuid.UUID
    ) -> tuple[IncidentReport, Incident] | None:
        """One of the member's reported incidents (None when it is another member's or does not exist)."""
        row = (
            await self.session.execute(
                self.scoped(IncidentReport)
                .where(IncidentReport.member_id == member_id, IncidentReport.id == report_id)
                .add_columns(Incident)
                .join(Incident, Incident.id == IncidentReport.incident_id)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def reports_of_incidents(
        self, incident_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[IncidentReport, str]]:
        """Incident → the member's report that opened it and the member's name (use inside elevated)."""
        if not incident_ids:
            return {}
        rows = await self.session.execute(
            self.scoped(IncidentReport)
            .where(IncidentReport.incident_id.in_(list(incident_ids)))
            .add_columns(Member.name)
            .join(Member, Member.id == IncidentReport.member_id)
        )
        return {report.incident_id: (report, name) for report, name in rows.tuples()}

    # ------------------------------------------------------------ maintenance

    async def maintenance_window(self, window_id: uuid.UUID, *, for_update: bool = False) -> MaintenanceWindow | None:
        """One maintenance window, if it exists (locked with ``for_update``)."""
        return await self.session.get(MaintenanceWindow, window_id, with_for_update=for_update)

    async def maintenance_window_one(self, window_id: uuid.UUID, *, for_update: bool = False) -> MaintenanceWindow:
        """One maintenance window (``NoResultFound`` when there is none), locked with ``for_update``."""
        return await self.session.get_one(MaintenanceWindow, window_id, with_for_update=for_update)

    async def maintenance_between(
        self, consortium_id: uuid.UUID, start: dt.datetime, end: dt.datetime
    ) -> list[MaintenanceWindow]:
        """The consortium's windows, not cancelled, touching ``[start, end)``, by start."""
        return list(
            await self.session.scalars(
                select(MaintenanceWindow)
                .where(
                    MaintenanceWindow.consortium_id == consortium_id,
                    MaintenanceWindow.cancelled.is_(False),
                    MaintenanceWindow.starts_at < end,
                    MaintenanceWindow.ends_at > start,
                )
                .order_by(MaintenanceWindow.starts_at)
            )
        )

    async def active_maintenance(self, consortium_id: uuid.UUID | None, now: dt.datetime) -> list[MaintenanceWindow]:
        """Windows not over at ``now`` and not cancelled, of one consortium or of all, by start."""
        query = select(MaintenanceWindow).where(MaintenanceWindow.cancelled.is_(False), MaintenanceWindow.ends_at > now)
        if consortium_id is not None:
            query = query.where(MaintenanceWindow.consortium_id == consortium_id)
        return list(await self.session.scalars(query.order_by(MaintenanceWindow.starts_at)))

    async def maintenance_since(self, consortium_id: uuid.UUID, since: dt.datetime) -> list[MaintenanceWindow]:
        """The consortium's windows ending at ``since`` or later (cancelled ones included), newest first."""
        return list(
            await self.session.scalars(
                select(MaintenanceWindow)
                .where(MaintenanceWindow.consortium_id == consortium_id, MaintenanceWindow.ends_at >= since)
                .order_by(MaintenanceWindow.starts_at.desc())
            )
        )

    # ------------------------------------------------------------ targets

    async def targets_in_force(self, consortium_id: uuid.UUID, day: dt.date) -> SlaTarget | None:
        """The consortium's targets in force on ``day`` (None when it never set any)."""
        found: SlaTarget | None = await self.session.scalar(
            select(SlaTarget)
            .where(SlaTarget.consortium_id == consortium_id, SlaTarget.effective_from <= day)
            .order_by(SlaTarget.effective_from.desc())
            .limit(1)
        )
        return found

    async def target_history(self, consortium_id: uuid.UUID) -> list[SlaTarget]:
        """Every target row of the consortium, the latest first."""
        return list(
            await self.session.scalars(
                select(SlaTarget)
                .where(SlaTarget.consortium_id == consortium_id)
                .order_by(SlaTarget.effective_from.desc())
            )
        )

    async def targets_set_from(self, consortium_id: uuid.UUID, effective_from: dt.date) -> bool:
        """True when the consortium already has targets from exactly ``effective_from``."""
        found = await self.session.scalar(
            select(SlaTarget.id).where(
                SlaTarget.consortium_id == consortium_id, SlaTarget.effective_from == effective_from
            )
        )
        return found is not None

    # ------------------------------------------------------------ plans and issued reports

    async def plans(
        self, member_ids: Sequence[uuid.UUID], month: dt.date
    ) -> dict[uuid.UUID, dict[str, tuple[str, str]]]:
        """Member → item → (reason, improvement plan) written for ``month``."""
        out: dict[uuid.UUID, dict[str, tuple[str, str]]] = defaultdict(dict)
        for plan in await self.all(
            self.scoped(ReportPlan).where(ReportPlan.member_id.in_(member_ids), ReportPlan.month == month)
        ):
            out[plan.member_id][plan.item] = (plan.reason, plan.plan)
        return out

    async def plan(self, member_id: uuid.UUID, month: dt.date, item: str) -> ReportPlan | None:
        """The reason and plan written for one item of a member's month, if any."""
        return await self.first(
            self.scoped(ReportPlan).where(
                ReportPlan.member_id == member_id, ReportPlan.month == month, ReportPlan.item == item
            )
        )

    async def releases(self, member_ids: Sequence[uuid.UUID], month: dt.date) -> dict[uuid.UUID, list[ReportRelease]]:
        """Member → releases and changes written for ``month``, by date."""
        out: dict[uuid.UUID, list[ReportRelease]] = defaultdict(list)
        for row in await self.all(
            self.scoped(ReportRelease)
            .where(ReportRelease.member_id.in_(member_ids), ReportRelease.month == month)
            .order_by(ReportRelease.released_on, ReportRelease.created_at)
        ):
            out[row.member_id].append(row)
        return out

    async def release(self, member_id: uuid.UUID, release_id: uuid.UUID) -> ReportRelease | None:
        """One release entry of the member, if any."""
        return await self.first(
            self.scoped(ReportRelease).where(ReportRelease.member_id == member_id, ReportRelease.id == release_id)
        )

    async def remove(self, row: object) -> None:
        """Delete a row of the member's (a draft section entry)."""
        await self.session.delete(row)

    async def security_measures(
        self, member_ids: Sequence[uuid.UUID], month: dt.date
    ) -> dict[uuid.UUID, ReportSecurity]:
        """Member → the security measures written for ``month``."""
        rows = await self.all(
            self.scoped(ReportSecurity).where(ReportSecurity.member_id.in_(member_ids), ReportSecurity.month == month)
        )
        return {row.member_id: row for row in rows}

    async def report(self, member_id: uuid.UUID, month: dt.date) -> MonthlyReport | None:
        """The member's issued report of ``month``, if any."""
        return await self.first(
            self.scoped(MonthlyReport).where(MonthlyReport.member_id == member_id, MonthlyReport.month == month)
        )

    async def reports(self, member_id: uuid.UUID) -> list[MonthlyReport]:
        """The member's issued reports, newest first."""
        return list(
            await self.all(
                self.scoped(MonthlyReport)
                .where(MonthlyReport.member_id == member_id)
                .order_by(MonthlyReport.month.desc())
            )
        )

    async def issued_at(self, member_ids: Sequence[uuid.UUID], month: dt.date) -> dict[uuid.UUID, dt.datetime]:
        """Member → when its report of ``month`` was issued (members without one are left out)."""
        rows = await self.session.execute(
            self.scoped(MonthlyReport)
            .where(MonthlyReport.month == month, MonthlyReport.member_id.in_(member_ids))
            .with_only_columns(MonthlyReport.member_id, MonthlyReport.issued_at)
        )
        return dict(rows.tuples().all())

    async def issued_figures(
        self, member_ids: Sequence[uuid.UUID], month: dt.date
    ) -> dict[uuid.UUID, tuple[dt.datetime, dict[str, Any]]]:
        """Member → (when issued, the figures kept with the report) of ``month``, for members with an issued one."""
        rows = await self.session.execute(
            self.scoped(MonthlyReport)
            .where(MonthlyReport.month == month, MonthlyReport.member_id.in_(member_ids))
            .with_only_columns(MonthlyReport.member_id, MonthlyReport.issued_at, MonthlyReport.figures)
        )
        return {member_id: (at, dict(figures)) for member_id, at, figures in rows.tuples().all()}

    async def issued_member_ids(self, month: dt.date) -> set[uuid.UUID]:
        """Members whose report of ``month`` is issued."""
        rows = await self.session.scalars(
            self.scoped(MonthlyReport).where(MonthlyReport.month == month).with_only_columns(MonthlyReport.member_id)
        )
        return set(rows)

    async def issued_from(self, consortium_id: uuid.UUID, month: dt.date) -> bool:
        """True when a report of ``month`` or later is issued for a member of the consortium."""
        members = select(Member.id).where(Member.consortium_id == consortium_id)
        found = await self.session.scalar(
            self.scoped(MonthlyReport)
            .where(MonthlyReport.month >= month, MonthlyReport.member_id.in_(members))
            .with_only_columns(MonthlyReport.id)
            .limit(1)
        )
        return found is not None

    # ------------------------------------------------------------ who is told

    async def staff_emails(self, member_ids: Iterable[uuid.UUID] | None, consortium_id: uuid.UUID | None) -> set[str]:
        """Active staff of members in service (of the consortium and/or the members listed)."""
        query = (
            self.scoped(Staff)
            .with_only_columns(Staff.email)
            .join_from(Staff, Member, Member.id == Staff.member_id)
            .where(Member.status.in_(IN_SERVICE), Staff.status == StaffStatus.ACTIVE)
        )
        if consortium_id is not None:
            query = query.where(Member.consortium_id == consortium_id)
        if member_ids is not None:
            query = query.where(Member.id.in_(list(member_ids)))
        return set(await self.session.scalars(query))

    async def progress(self, incident_id: uuid.UUID) -> list[IncidentProgress]:
        """An incident's progress entries, in time order."""
        return list(
            await self.session.scalars(
                select(IncidentProgress)
                .where(IncidentProgress.incident_id == incident_id)
                .order_by(IncidentProgress.at, IncidentProgress.id)
            )
        )

    async def member_names(self, member_ids: Iterable[uuid.UUID]) -> list[str]:
        """Names of these members, by local government code."""
        return list(
            await self.session.scalars(
                select(Member.name).where(Member.id.in_(list(member_ids))).order_by(Member.lg_code)
            )
        )

    async def affected_member_ids(self, incident_id: uuid.UUID) -> list[uuid.UUID]:
        """Members linked to an incident that did not hit everyone."""
        return list(
            await self.session.scalars(
                self.scoped(IncidentMember)
                .where(IncidentMember.incident_id == incident_id)
                .with_only_columns(IncidentMember.member_id)
            )
        )

    async def contractor_emails(self, consortium_id: uuid.UUID) -> set[str]:
        """Every contractor contact of the consortium's companies."""
        return set(
            await self.session.scalars(
                select(ContractorContact.email)
                .join(ContractorCompany, ContractorCompany.id == ContractorContact.company_id)
                .where(ContractorCompany.consortium_id == consortium_id)
            )
        )

    async def operator_emails(self) -> set[str]:
        """Every active operator's address."""
        return set(await self.session.scalars(select(OperatorAccount.email).where(OperatorAccount.active.is_(True))))

    # ------------------------------------------------------------ operations

    async def restored_counts(self) -> dict[str, int]:
        """Rows of the tables a restore drill reports (use inside :func:`core.scope.elevated`)."""
        counts = {}
        for name, model in (
            ("member", Member),
            ("contract", Contract),
            ("contract_audit_event", AuditEvent),
            ("contract_sealed_document", SealedDocument),
        ):
            counts[name] = int(await self.session.scalar(select(func.count()).select_from(model)) or 0)
        return counts

    async def newest_sealed_document(self) -> SealedDocument | None:
        """The sealed file written last, of any member (use inside :func:`core.scope.elevated`)."""
        found: SealedDocument | None = await self.session.scalar(
            self.scoped(SealedDocument).order_by(SealedDocument.created_at.desc()).limit(1)
        )
        return found

    async def operations(self, *, now: dt.datetime, renew_within: dt.timedelta) -> OperationsFigures:
        """What an operator alerts on, across every member (use inside :func:`core.scope.elevated`)."""
        sealing, failed, oldest_sealing = (
            await self.session.execute(
                self.scoped(Contract)
                .where(Contract.status.in_([ContractStatus.SEALING, ContractStatus.SEAL_FAILED]))
                .with_only_columns(
                    func.count().filter(Contract.status == ContractStatus.SEALING),
                    func.count().filter(Contract.status == ContractStatus.SEAL_FAILED),
                    func.min(Contract.completed_at).filter(Contract.status == ContractStatus.SEALING),
                )
            )
        ).one()
        backlog, oldest_unsent = (
            await self.session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.sent_at.is_(None))
            )
        ).one()
        later = SealedDocument.__table__.alias("later")  # a file renewed since is not due
        renewal_due = await self.session.scalar(
            self.scoped(SealedDocument)
            .where(
                SealedDocument.renew_by.is_not(None),
                SealedDocument.renew_by <= now + renew_within,
                ~select(later.c.id)
                .where(later.c.document_id == SealedDocument.document_id, later.c.version > SealedDocument.version)
                .exists(),
            )
            .with_only_columns(func.count())
        )
        tsa_expiry = await self.session.scalar(
            self.scoped(SealedDocument).with_only_columns(func.max(SealedDocument.renew_by))
        )
        mail_failures = await self.session.scalar(
            self.scoped(AuditEvent)
            .where(AuditEvent.kind == AuditKind.MAIL_FAILED.value)
            .with_only_columns(func.count())
        )
        last_probe = (
            await self.session.execute(
                select(ProbeResult.checked_at, ProbeResult.ok, ProbeResult.latency_ms)
                .order_by(ProbeResult.checked_at.desc())
                .limit(1)
            )
        ).first()
        probes_failed = await self.session.scalar(
            select(func.count()).where(ProbeResult.ok.is_(False), ProbeResult.checked_at >= now - dt.timedelta(hours=1))
        )
        return OperationsFigures(
            seals_waiting=int(sealing),
            seals_failed=int(failed),
            oldest_seal_waiting_since=oldest_sealing,
            outbox_backlog=int(backlog),
            oldest_unsent_since=oldest_unsent,
            renewal_due=int(renewal_due or 0),
            newest_timestamp_valid_until=tsa_expiry,
            mail_failures=int(mail_failures or 0),
            last_probe_at=last_probe[0] if last_probe else None,
            last_probe_ok=bool(last_probe[1]) if last_probe else None,
            last_probe_latency_ms=float(last_probe[2]) if last_probe else None,
            probes_failed_last_hour=int(probes_failed or 0),
        )


@dataclass(frozen=True)
class OperationsFigures:
    """The platform's state in numbers (``/metrics``)."""

    seals_waiting: int
    seals_failed: int
    oldest_seal_waiting_since: dt.datetime | None
    outbox_backlog: int
    oldest_unsent_since: dt.datetime | None
    renewal_due: int
    """Sealed files whose newest timestamp is due for renewal and not yet renewed."""
    newest_timestamp_valid_until: dt.datetime | None
    """Expiry of the TSA certificate behind the newest document timestamp."""
    mail_failures: int
    """Mails recorded as undeliverable on contracts' trails, ever (a counter)."""
    last_probe_at: dt.datetime | None
    last_probe_ok: bool | None
    last_probe_latency_ms: float | None
    probes_failed_last_hour: int


_UPSERT_MINUTE = text(
    """
    INSERT INTO request_minute (member_id, minute, requests, server_errors, latency_ms_sum, histogram)
    SELECT :member_id, :minute, :requests, :errors, :latency_sum, :histogram
    -- A member removed meanwhile has nowhere to go: its counts are dropped, not retried forever.
    WHERE EXISTS (SELECT 1 FROM member WHERE member.id = :member_id)
    ON CONFLICT (member_id, minute) DO UPDATE SET
        requests = request_minute.requests + excluded.requests,
        server_errors = request_minute.server_errors + excluded.server_errors,
        latency_ms_sum = request_minute.latency_ms_sum + excluded.latency_ms_sum,
        histogram = ARRAY(
            SELECT a + b FROM unnest(request_minute.histogram, excluded.histogram) WITH ORDINALITY AS t(a, b, i)
            ORDER BY i
        )
    """
)
