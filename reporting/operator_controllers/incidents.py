"""The operator's incidents (MOR-18): record, tell the affected members, record recovery, cause and prevention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list
from core.i18n import gettext as _
from policy.guards import current_principal, requires, requires_operator
from reporting.figures import JST
from reporting.models import Incident
from reporting.notify import URGENCY_LABELS, notify_incident
from reporting.operator_controllers.common import (
    HISTORY_DAYS,
    FormError,
    local_time,
    settings_of,
)
from reporting.repository import ReportingRepository
from reporting.services import (
    SEVERITIES,
    IncidentError,
    add_progress,
    incident_state_label,
    open_incident,
    record_recovery,
    triage_incident,
)

SEVERITY_LABELS: dict[str, Callable[[], str]] = {
    "critical": lambda: _("Critical"),
    "major": lambda: _("Major"),
    "minor": lambda: _("Minor"),
}

__all__ = ["OperatorIncidentController"]


class OperatorIncidentController(Controller):
    """Incidents (MOR-18): record, tell the affected members, record recovery, cause and prevention."""

    path = "/operator/incidents"
    include_in_schema = False
    guards = [requires_operator, requires("incident", "manage")]  # noqa: RUF012 - Litestar's declaration style

    async def _page(
        self,
        session: AsyncSession,
        *,
        form: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=HISTORY_DAYS)
        repo = ReportingRepository(session, None)
        incidents = await repo.recent_incidents(since)
        members = await repo.members()
        return Template(
            "reporting/operator_incidents.html",
            context={
                "incidents": incidents,
                "members": members,
                "affected": await _affected_names(session, incidents),
                "reports": await repo.reports_of_incidents([i.id for i in incidents]),
                "state": incident_state_label,
                "severity_labels": {k: v() for k, v in SEVERITY_LABELS.items()},
                "form": form or {},
                "error": error,
                "jst": JST,
            },
            status_code=status_code,
        )

    @get("/")
    async def index(self, operator_session: NamedDependency[AsyncSession]) -> Template:
        """Open incidents first, then those of the last 90 days, and the form to record one."""
        return await self._page(operator_session)

    @post("/", status_code=303)
    async def record(
        self, request: Request[Any, Any, Any], operator_session: NamedDependency[AsyncSession], data: Form
    ) -> Redirect | Template:
        """Record an incident; with "notify" the affected members' staff are mailed at once."""
        try:
            title = field(data, "title")
            if not title:
                raise FormError(_("Please enter {field}.").format(field=_("what failed")))
            started = local_time(data, "started_at", _("the start"))
            detected = local_time(data, "detected_at", _("the time of detection"))
            expected = local_time(data, "expected_recovery_at", _("the expected recovery"), required=False)
            assert started is not None
            assert detected is not None
            members: list[uuid.UUID] | None = None
            if field(data, "scope") != "all":
                codes = field_list(data, "members")
                members = await ReportingRepository(operator_session, None).member_ids_by_codes(codes)
            incident = await open_incident(
                operator_session,
                title=title,
                started_at=started,
                detected_at=detected,
                expected_recovery_at=expected,
                symptom=field(data, "symptom"),
                members=members,
            )
        except (FormError, IncidentError) as exc:
            return await self._page(operator_session, form=data, error=str(exc), status_code=400)
        if field(data, "notify"):
            await notify_incident(operator_session, settings_of(request), incident, recovered=False)
        return Redirect(f"/operator/incidents/{incident.id}", status_code=303)

    @get("/{incident_id:uuid}")
    async def detail(
        self, operator_session: NamedDependency[AsyncSession], incident_id: FromPath[uuid.UUID]
    ) -> Template:
        """One incident, with the form to record its recovery."""
        return await self._detail(operator_session, incident_id)

    async def _detail(
        self,
        session: AsyncSession,
        incident_id: uuid.UUID,
        *,
        form: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        repo = ReportingRepository(session, None)
        incident = await repo.incident(incident_id)
        if incident is None:
            raise NotFoundException()
        reported = (await repo.reports_of_incidents([incident.id])).get(incident.id)
        linked = set(await repo.affected_member_ids(incident.id))
        return Template(
            "reporting/operator_incident.html",
            context={
                "incident": incident,
                "affected": (await _affected_names(session, [incident])).get(incident.id, []),
                "report": reported[0] if reported else None,
                "reporter": reported[1] if reported else "",
                "urgency": URGENCY_LABELS.get(reported[0].urgency, lambda: "")() if reported else "",
                "progress": await repo.progress(incident.id),
                "members": await repo.members(),
                "linked": {m.lg_code for m in await repo.members(member_ids=linked)} if linked else set(),
                "state": incident_state_label(incident),
                "severities": [(k, SEVERITY_LABELS[k]()) for k in SEVERITIES],
                "form": form or {},
                "error": error,
                "jst": JST,
            },
            status_code=status_code,
        )

    @post("/{incident_id:uuid}/recovery", status_code=303)
    async def recovery(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        incident_id: FromPath[uuid.UUID],
        data: Form,
    ) -> Redirect | Template:
        """Record recovery, cause and prevention; with "notify" the affected members are told."""
        if await ReportingRepository(operator_session, None).incident(incident_id) is None:
            raise NotFoundException()
        try:
            recovered = local_time(data, "recovered_at", _("the recovery"))
            assert recovered is not None
            incident = await record_recovery(
                operator_session,
                incident_id,
                recovered_at=recovered,
                cause=field(data, "cause"),
                prevention=field(data, "prevention"),
            )
        except (FormError, IncidentError) as exc:
            return await self._detail(operator_session, incident_id, form=data, error=str(exc), status_code=400)
        if field(data, "notify"):
            await notify_incident(operator_session, settings_of(request), incident, recovered=True)
        return Redirect(f"/operator/incidents/{incident.id}", status_code=303)

    @post("/{incident_id:uuid}/triage", status_code=303)
    async def triage(
        self, operator_session: NamedDependency[AsyncSession], incident_id: FromPath[uuid.UUID], data: Form
    ) -> Redirect | Template:
        """Triage: confirm or dismiss, set the severity, the title and the members affected."""
        repo = ReportingRepository(operator_session, None)
        if await repo.incident(incident_id) is None:
            raise NotFoundException()
        try:
            members: list[uuid.UUID] | None = None
            if field(data, "scope") != "all":
                members = await repo.member_ids_by_codes(field_list(data, "members"))
            await triage_incident(
                operator_session,
                incident_id,
                status=field(data, "status"),
                severity=field(data, "severity"),
                title=field(data, "title"),
                members=members,
            )
        except IncidentError as exc:
            return await self._detail(operator_session, incident_id, form=data, error=str(exc), status_code=400)
        return Redirect(f"/operator/incidents/{incident_id}", status_code=303)

    @post("/{incident_id:uuid}/progress", status_code=303)
    async def progress(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        incident_id: FromPath[uuid.UUID],
        data: Form,
    ) -> Redirect | Template:
        """Write a progress entry (経緯); the reporting member sees it on its screen."""
        if await ReportingRepository(operator_session, None).incident(incident_id) is None:
            raise NotFoundException()
        try:
            at = local_time(data, "at", _("the time"), required=False)
            await add_progress(
                operator_session, incident_id, note=field(data, "note"), by=current_principal(request).name, at=at
            )
        except (FormError, IncidentError) as exc:
            return await self._detail(operator_session, incident_id, form=data, error=str(exc), status_code=400)
        return Redirect(f"/operator/incidents/{incident_id}#progress", status_code=303)


async def _affected_names(session: AsyncSession, incidents: list[Incident]) -> dict[uuid.UUID, list[str]]:
    return await ReportingRepository(session, None).affected_names([i.id for i in incidents if not i.all_members])
