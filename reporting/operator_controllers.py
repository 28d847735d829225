"""The operator's screens: monthly reports (plans, issuing), incidents, maintenance and targets.

Only the provider's operators reach them (guard :func:`policy.guards.requires_operator`).
They work on every member's figures, so handlers take ``operator_session``: the
request's session inside :func:`core.scope.elevated`, which the dependency gives
to operators only. Operators see figures, incidents and maintenance, never a
contract. The handlers read through :class:`reporting.repository.ReportingRepository`
and act through :mod:`reporting.services`; the request commits (or, for a
refused form, rolls back) once the response is chosen.

Forms that cannot be accepted come back with what was typed and the reason in
plain words (status 400), instead of an error page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list
from core.i18n import current_locale
from core.i18n import gettext as _
from core.settings import Settings
from policy.guards import current_principal, requires, requires_operator
from reporting.figures import ITEMS, JST, compute_month, parse_month, targets_for
from reporting.models import Incident
from reporting.notify import notify_incident
from reporting.render import ITEM_LABELS
from reporting.repository import ReportingRepository
from reporting.services import (
    IncidentError,
    IssueRefusedError,
    MaintenanceNoticeError,
    cancel_maintenance,
    in_office_hours,
    issue_month,
    issue_report,
    open_incident,
    record_recovery,
    render,
    schedule_maintenance,
    set_targets,
    write_plan,
)
from reporting.tasks import previous_month
from tenants.models import Consortium, Member

__all__ = [
    "OperatorIncidentController",
    "OperatorMaintenanceController",
    "OperatorReportController",
    "OperatorTargetController",
]

ConsortiumQuery = Annotated[str | None, QueryParameter(name="consortium", required=False)]
MonthQuery = Annotated[str | None, QueryParameter(name="month", pattern=r"^\d{4}-\d{2}$", required=False)]
HISTORY_DAYS = 90


class FormError(ValueError):
    """A field the operator must correct; the message is already in the user's language."""


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _pick(session: AsyncSession, slug: str | None) -> tuple[list[Consortium], Consortium]:
    """Every consortium and the one the screen is about (the first when none is named)."""
    consortia = await ReportingRepository(session, None).consortia()
    if not consortia:
        raise NotFoundException(detail=_("No consortium exists yet."))
    chosen = next((c for c in consortia if c.slug == slug), None) if slug else consortia[0]
    if chosen is None:
        raise NotFoundException(detail=_("No consortium {slug} exists.").format(slug=slug))
    return consortia, chosen


def _local_time(form: dict[str, Any], name: str, label: str, *, required: bool = True) -> dt.datetime | None:
    """A ``datetime-local`` field, read as Japan time."""
    text = field(form, name)
    if not text:
        if required:
            raise FormError(_("Please enter {field}.").format(field=label))
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=JST)
    except ValueError:
        raise FormError(_("{field} is not a date and time.").format(field=label)) from None


def _month(text: str | None) -> dt.date:
    if not text:
        return previous_month(dt.datetime.now(JST).date())
    try:
        return parse_month(text)
    except ValueError as exc:
        raise NotFoundException() from exc


def _download(body: bytes, filename: str) -> Response[bytes]:
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


class OperatorReportController(Controller):
    """Monthly reports of every member: figures, reasons and improvement plans, issuing."""

    path = "/operator/reports"
    include_in_schema = False
    guards = [requires_operator, requires("report", "view")]  # noqa: RUF012 - Litestar's declaration style

    async def _page(
        self,
        session: AsyncSession,
        request: Request[Any, Any, Any],
        slug: str | None,
        month: dt.date,
        *,
        error: str | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        consortia, consortium = await _pick(session, slug)
        figures = await compute_month(session, consortium.id, month)
        issued = await ReportingRepository(session, None).issued_at([f.member_id for f in figures], month)
        return Template(
            "reporting/operator_reports.html",
            context={
                "consortia": consortia,
                "consortium": consortium,
                "month": month,
                "month_text": month.isoformat()[:7],
                "rows": figures,
                "issued": issued,
                "item_labels": {item: label() for item, label in ITEM_LABELS.items()},
                "error": error,
                "notice": notice,
                "principal": current_principal(request),
                "jst": JST,
            },
            status_code=status_code,
        )

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        consortium: ConsortiumQuery = None,
        month: MonthQuery = None,
    ) -> Template:
        """Every member in service in ``month`` (default: last month): figures, missed targets, plans, issued."""
        return await self._page(operator_session, request, consortium, _month(month))

    async def _member(self, session: AsyncSession, lg_code: str) -> Member:
        member = await ReportingRepository(session, None).member_by_code(lg_code)
        if member is None:
            raise NotFoundException()
        return member

    async def _slug(self, session: AsyncSession, member: Member) -> str:
        return (await ReportingRepository(session, None).consortium(member.consortium_id)).slug

    @get("/{lg_code:str}/{month:str}/draft.pdf")
    async def draft(
        self, operator_session: NamedDependency[AsyncSession], lg_code: FromPath[str], month: FromPath[str]
    ) -> Response[bytes]:
        """The member's report as it stands (not issued), to read before issuing."""
        first = _month(month)
        member = await self._member(operator_session, lg_code)
        found = await compute_month(operator_session, member.consortium_id, first, member_ids=[member.id])
        if not found:
            raise NotFoundException(detail=_("The member was not in service in that month."))
        rendered = render(found[0], locale=current_locale.get())
        return _download(rendered.pdf, f"kyodo-report-{lg_code}-{month}-draft.pdf")

    @get("/{lg_code:str}/{month:str}/report.pdf")
    async def issued_pdf(
        self, operator_session: NamedDependency[AsyncSession], lg_code: FromPath[str], month: FromPath[str]
    ) -> Response[bytes]:
        """The issued report, exactly as the member receives it."""
        member = await self._member(operator_session, lg_code)
        report = await ReportingRepository(operator_session, member.id).report(member.id, _month(month))
        if report is None:
            raise NotFoundException()
        return _download(report.pdf, f"kyodo-report-{lg_code}-{month}.pdf")

    @post("/{lg_code:str}/{month:str}/plans/{item:str}", status_code=303)
    async def plan(
        self,
        *,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        data: Form,
        lg_code: FromPath[str],
        month: FromPath[str],
        item: FromPath[str],
    ) -> Redirect | Template:
        """Write why a target was missed and the improvement plan (MOR-14(2))."""
        if item not in ITEMS:
            raise NotFoundException()
        first = _month(month)
        member = await self._member(operator_session, lg_code)
        member_id, slug = member.id, await self._slug(operator_session, member)
        principal = current_principal(request)
        try:
            await write_plan(
                operator_session,
                member_id,
                first,
                item=item,
                reason=field(data, "reason"),
                plan=field(data, "plan"),
                by=principal.name,
            )
        except IssueRefusedError as exc:
            return await self._page(operator_session, request, slug, first, error=str(exc), status_code=400)
        return Redirect(f"/operator/reports/?consortium={slug}&month={month}#m-{lg_code}", status_code=303)

    @post("/{lg_code:str}/{month:str}/issue", guards=[requires("report", "issue")], status_code=303)
    async def issue_one(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        lg_code: FromPath[str],
        month: FromPath[str],
    ) -> Redirect | Template:
        """Issue one member's report; refused while a missed target has no plan."""
        first = _month(month)
        member = await self._member(operator_session, lg_code)
        member_id, slug = member.id, await self._slug(operator_session, member)
        try:
            await issue_report(operator_session, member_id, first, issued_by=current_principal(request).name)
        except IssueRefusedError as exc:
            return await self._page(operator_session, request, slug, first, error=str(exc), status_code=400)
        return Redirect(f"/operator/reports/?consortium={slug}&month={month}#m-{lg_code}", status_code=303)

    @post("/issue", guards=[requires("report", "issue")], status_code=200)
    async def issue_all(
        self, request: Request[Any, Any, Any], operator_session: NamedDependency[AsyncSession], data: Form
    ) -> Template:
        """Issue every report of the consortium's month that can be; say which wait for a plan."""
        first = _month(field(data, "month") or None)
        consortium = (await _pick(operator_session, field(data, "consortium") or None))[1]
        slug = consortium.slug
        issued, waiting = await issue_month(
            operator_session, consortium.id, first, issued_by=current_principal(request).name
        )
        # Issued with the page that says so: the request commits both, or (the page failing) neither.
        notice = _("{count} reports issued.").format(count=len(issued))
        if waiting:
            notice += " " + _("Waiting for an improvement plan: {members}").format(
                members="、".join(f.member_name for f in waiting)
            )
        return await self._page(operator_session, request, slug, first, notice=notice)


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
            started = _local_time(data, "started_at", _("the start"))
            detected = _local_time(data, "detected_at", _("the time of detection"))
            expected = _local_time(data, "expected_recovery_at", _("the expected recovery"), required=False)
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
            await notify_incident(operator_session, _settings(request), incident, recovered=False)
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
        incident = await ReportingRepository(session, None).incident(incident_id)
        if incident is None:
            raise NotFoundException()
        return Template(
            "reporting/operator_incident.html",
            context={
                "incident": incident,
                "affected": (await _affected_names(session, [incident])).get(incident.id, []),
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
            recovered = _local_time(data, "recovered_at", _("the recovery"))
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
            await notify_incident(operator_session, _settings(request), incident, recovered=True)
        return Redirect(f"/operator/incidents/{incident.id}", status_code=303)


async def _affected_names(session: AsyncSession, incidents: list[Incident]) -> dict[uuid.UUID, list[str]]:
    return await ReportingRepository(session, None).affected_names([i.id for i in incidents if not i.all_members])


class OperatorMaintenanceController(Controller):
    """Planned maintenance (SLA-5): announce with the consortium's notice, or call off."""

    path = "/operator/maintenance"
    include_in_schema = False
    guards = [requires_operator, requires("maintenance", "manage")]  # noqa: RUF012 - Litestar's declaration style

    async def _page(
        self,
        session: AsyncSession,
        slug: str | None,
        *,
        form: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        consortia, consortium = await _pick(session, slug)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=HISTORY_DAYS)
        windows = await ReportingRepository(session, None).maintenance_since(consortium.id, since)
        return Template(
            "reporting/operator_maintenance.html",
            context={
                "consortia": consortia,
                "consortium": consortium,
                "windows": windows,
                "office_hours": {w.id: in_office_hours(w.starts_at, w.ends_at) for w in windows},
                "now": dt.datetime.now(dt.UTC),
                "form": form or {},
                "error": error,
                "jst": JST,
            },
            status_code=status_code,
        )

    @get("/")
    async def index(
        self, operator_session: NamedDependency[AsyncSession], consortium: ConsortiumQuery = None
    ) -> Template:
        """Windows of the consortium (current, announced, last 90 days) and the form to announce one."""
        return await self._page(operator_session, consortium)

    @post("/", status_code=303)
    async def announce(self, operator_session: NamedDependency[AsyncSession], data: Form) -> Redirect | Template:
        """Announce a window; the mail to staff and contractors goes out through the outbox."""
        slug = field(data, "consortium") or None
        consortium = (await _pick(operator_session, slug))[1]
        try:
            title = field(data, "title")
            if not title:
                raise FormError(_("Please enter {field}.").format(field=_("the work")))
            starts = _local_time(data, "starts_at", _("the start"))
            ends = _local_time(data, "ends_at", _("the end"))
            assert starts is not None
            assert ends is not None
            await schedule_maintenance(
                operator_session,
                consortium.id,
                title=title,
                starts_at=starts,
                ends_at=ends,
                description=field(data, "description"),
                emergency=bool(field(data, "emergency")),
            )
        except (FormError, MaintenanceNoticeError) as exc:
            return await self._page(operator_session, slug, form=data, error=str(exc), status_code=400)
        return Redirect(f"/operator/maintenance/?consortium={consortium.slug}", status_code=303)

    @post("/{window_id:uuid}/cancel", status_code=303)
    async def cancel(
        self, operator_session: NamedDependency[AsyncSession], window_id: FromPath[uuid.UUID]
    ) -> Redirect | Template:
        """Call off a window; if it was announced, everyone who was told is told again."""
        repo = ReportingRepository(operator_session, None)
        window = await repo.maintenance_window(window_id)
        if window is None:
            raise NotFoundException()
        slug = (await repo.consortium(window.consortium_id)).slug
        try:
            await cancel_maintenance(operator_session, window_id)
        except MaintenanceNoticeError as exc:
            return await self._page(operator_session, slug, error=str(exc), status_code=400)
        return Redirect(f"/operator/maintenance/?consortium={slug}", status_code=303)


class OperatorTargetController(Controller):
    """Quality targets of a consortium (SLA-2): a change is a new row from a month on."""

    path = "/operator/targets"
    include_in_schema = False
    guards = [requires_operator, requires("target", "manage")]  # noqa: RUF012 - Litestar's declaration style

    async def _page(
        self,
        session: AsyncSession,
        slug: str | None,
        *,
        form: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        consortia, consortium = await _pick(session, slug)
        history = await ReportingRepository(session, None).target_history(consortium.id)
        current = await targets_for(session, consortium.id, dt.datetime.now(JST).date())
        return Template(
            "reporting/operator_targets.html",
            context={
                "consortia": consortia,
                "consortium": consortium,
                "history": history,
                "current": current,
                "form": form or {},
                "error": error,
            },
            status_code=status_code,
        )

    @get("/")
    async def index(
        self, operator_session: NamedDependency[AsyncSession], consortium: ConsortiumQuery = None
    ) -> Template:
        """Targets in force, their history and the form to change them from a month on."""
        return await self._page(operator_session, consortium)

    @post("/", status_code=303)
    async def change(self, operator_session: NamedDependency[AsyncSession], data: Form) -> Redirect | Template:
        """New targets from the first day of a month that has no issued report yet."""
        slug = field(data, "consortium") or None
        consortium = (await _pick(operator_session, slug))[1]
        try:
            try:
                effective = parse_month(field(data, "effective_from"))
            except ValueError:
                raise FormError(_("Please choose the month the targets apply from.")) from None
            try:
                availability = Decimal(field(data, "availability"))
                recovery = int(field(data, "recovery_minutes"))
                response = int(field(data, "response_ms"))
            except (InvalidOperation, ValueError):
                raise FormError(_("Please enter the targets as numbers.")) from None
            if not Decimal("90") <= availability <= Decimal("100"):
                raise FormError(_("The availability target must be between 90 and 100 percent."))
            if recovery <= 0 or response <= 0:
                raise FormError(_("The recovery and response targets must be above zero."))
            repo = ReportingRepository(operator_session, None)
            if await repo.issued_from(consortium.id, effective):
                raise FormError(
                    _("Reports from {month} on are already issued; targets can only change for later months.").format(
                        month=effective.isoformat()[:7]
                    )
                )
            if await repo.targets_set_from(consortium.id, effective):
                raise FormError(_("Targets from this month are already set."))
            await set_targets(
                operator_session,
                consortium.id,
                effective_from=effective,
                availability_percent=availability,
                recovery_minutes=recovery,
                response_ms=response,
            )
        except FormError as exc:
            return await self._page(operator_session, slug, form=data, error=str(exc), status_code=400)
        return Redirect(f"/operator/targets/?consortium={consortium.slug}", status_code=303)
