"""Screens of reporting: the status page and maintenance banner, members' reports, the secretariat's roll-up.

A member's staff see their own member's incidents and issued reports (the
request session is scoped to the member; row-level security hides the rest).
The secretariat sees its consortium's members' figures side by side, computed by
:func:`reporting.rollup.consortium_rollup`, and never a contract document.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core import spreadsheet
from core.forms import Form, field
from core.i18n import current_locale
from core.i18n import gettext as _
from core.scope import Principal
from policy.guards import caller_member, current_principal, requires, requires_member_staff, requires_secretariat
from reporting.figures import JST, parse_month
from reporting.notify import URGENCY_LABELS
from reporting.operator_controllers.common import FormError, local_time, settings_of
from reporting.render import DOWNLOADER_LABELS, ITEM_LABELS
from reporting.repository import ReportingRepository
from reporting.rollup import MemberUsage, consortium_rollup, member_draft, usage_between
from reporting.services import (
    URGENCIES,
    IncidentError,
    active_maintenance,
    incident_state_label,
    render,
    report_incident,
    visible_incidents,
)
from reporting.tasks import previous_month

__all__ = ["MemberIncidentController", "MemberReportController", "SecretariatReportController", "StatusController"]

MonthQuery = Annotated[str | None, QueryParameter(name="month", pattern=r"^\d{4}-\d{2}$", required=False)]
DateQuery = Annotated[dt.date | None, QueryParameter(required=False)]
MAX_USAGE_DAYS = 3 * 366
"""Longest period of one usage query (three years: the operation logs are kept that long)."""


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def _consortium_of(principal: Principal | None) -> uuid.UUID | None:
    """Whose maintenance to show: the caller's consortium; everyone's for the public and operators."""
    if principal is None or principal.is_operator:
        return None
    return principal.consortium_id


def _download(body: bytes, filename: str, media_type: str) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"},
    )


def _month_or_last(month: str | None) -> dt.date:
    return parse_month(month) if month else previous_month(dt.datetime.now(JST).date())


def _usage_csv(rows: list[MemberUsage], labels: dict[str, str]) -> bytes:
    """UTF-8 with BOM, so that Excel opens the Japanese text correctly."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow([_("Local government code"), _("Member"), _("Department"), _("Contracts concluded")])
    for row in rows:
        for department, count in row.contracts_by_department or [("", 0)]:
            writer.writerow([row.lg_code, row.member_name, department, count])
    writer.writerow([])
    writer.writerow([_("Local government code"), _("Member"), *labels.values()])
    for row in rows:
        writer.writerow([row.lg_code, row.member_name, *(row.downloads.get(who, 0) for who in labels)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class StatusController(Controller):
    """Current incidents and planned maintenance (public; signed-in staff also see their member's)."""

    path = "/status"
    include_in_schema = False

    @get("/")
    async def status(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Open and recent incidents (last 7 days) and maintenance not over yet."""
        principal = _principal(request)
        now = dt.datetime.now(dt.UTC)
        incidents = await visible_incidents(
            db_session, principal.member_id if principal else None, since=now - dt.timedelta(days=7)
        )
        windows = await active_maintenance(db_session, _consortium_of(principal), now=now)
        return Template(
            "reporting/status.html", context={"incidents": incidents, "windows": windows, "now": now, "jst": JST}
        )

    @get("/banner")
    async def banner(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The maintenance banner that every page loads (empty when nothing is announced)."""
        principal = _principal(request)
        windows = await active_maintenance(db_session, _consortium_of(principal))
        return Template("reporting/banner.html", context={"windows": windows, "jst": JST})


class MemberReportController(Controller):
    """A member's issued monthly reports."""

    path = "/reports"
    include_in_schema = False
    guards = [requires_member_staff, requires("report", "view")]  # noqa: RUF012 - Litestar's declaration style

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Issued reports of the caller's member, newest first."""
        principal, member_id = caller_member(request)
        reports = await ReportingRepository(db_session, member_id).reports(member_id)
        return Template(
            "reporting/member_reports.html", context={"reports": reports, "principal": principal, "jst": JST}
        )

    @get("/{month:str}/{fmt:str}")
    async def download(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        month: FromPath[str],
        fmt: FromPath[str],
    ) -> Response[bytes]:
        """The issued report of ``month`` (``YYYY-MM``) as ``pdf`` or ``csv``."""
        _, member_id = caller_member(request)
        try:
            first = parse_month(month)
        except ValueError as exc:
            raise NotFoundException() from exc
        report = await ReportingRepository(db_session, member_id).report(member_id, first)
        if report is None or fmt not in ("pdf", "csv"):
            raise NotFoundException()
        name = f"kyodo-report-{month}"
        if fmt == "pdf":
            return _download(report.pdf, f"{name}.pdf", "application/pdf")
        return _download(report.csv, f"{name}.csv", "text/csv; charset=utf-8")


class MemberIncidentController(Controller):
    """A member's administrators report an incident (障害申告) and follow what the operators do about it."""

    path = "/incident-reports"
    include_in_schema = False
    guards = [requires_member_staff, requires("incident", "report")]  # noqa: RUF012 - Litestar's declaration style

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        *,
        form: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        principal, member_id = caller_member(request)
        reports = await ReportingRepository(session, member_id).incident_reports(member_id)
        return Template(
            "reporting/member_incidents.html",
            context={
                "reports": reports,
                "principal": principal,
                "form": form or {},
                "error": error,
                "urgencies": [(u, URGENCY_LABELS[u]()) for u in URGENCIES],
                "state": incident_state_label,
            },
            status_code=status_code,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The member's reported incidents with their status, and the form to report one."""
        return await self._page(request, db_session)

    @post("/", status_code=303)
    async def submit(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: Form
    ) -> Redirect | Template:
        """Report an incident: it reaches the operators' incident list at once, and they are mailed."""
        principal, _member = caller_member(request)
        try:
            since = local_time(data, "since", _("since when it happens"))
            report = await report_incident(
                db_session,
                settings_of(request),
                principal,
                what=field(data, "what"),
                since=since,
                affected=field(data, "affected"),
                urgency=field(data, "urgency"),
                phone=field(data, "phone"),
            )
        except (FormError, IncidentError) as exc:
            return await self._page(request, db_session, form=data, error=str(exc), status_code=400)
        return Redirect(f"/incident-reports/{report.id}?done=reported", status_code=303)

    @get("/{incident_report_id:uuid}")
    async def detail(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        incident_report_id: FromPath[uuid.UUID],
    ) -> Template:
        """One reported incident: what was reported, its status and the operators' progress entries."""
        principal, member_id = caller_member(request)
        repo = ReportingRepository(db_session, member_id)
        found = await repo.incident_report(member_id, incident_report_id)
        if found is None:
            raise NotFoundException()
        report, incident = found
        return Template(
            "reporting/member_incident.html",
            context={
                "report": report,
                "incident": incident,
                "progress": await repo.progress(incident.id),
                "state": incident_state_label(incident),
                "urgency": URGENCY_LABELS.get(report.urgency, lambda: report.urgency)(),
                "just_reported": request.query_params.get("done") == "reported",
                "principal": principal,
            },
        )


class SecretariatReportController(Controller):
    """The consortium roll-up: every member's figures side by side, usage per period."""

    path = "/secretariat/reports"
    include_in_schema = False
    guards = [requires_secretariat, requires("report", "view")]  # noqa: RUF012 - Litestar's declaration style

    @get("/")
    async def rollup(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], month: MonthQuery = None
    ) -> Template:
        """Figures of ``month`` (default: last month) for every member in service."""
        principal = current_principal(request)
        first = _month_or_last(month)
        rows = await consortium_rollup(db_session, principal.consortium_id, first)
        return Template(
            "reporting/rollup.html",
            context={
                "rows": rows,
                "month": first,
                "month_text": first.isoformat()[:7],
                "principal": principal,
                "item_labels": {item: label() for item, label in ITEM_LABELS.items()},
                "downloader_labels": {who: label() for who, label in DOWNLOADER_LABELS.items()},
            },
        )

    @get("/usage")
    async def usage(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        from_: Annotated[dt.date | None, QueryParameter(name="from", required=False)] = None,
        to: DateQuery = None,
        fmt: Annotated[str, QueryParameter(name="format", required=False)] = "html",
    ) -> Template | Response[bytes]:
        """Usage per member for any period (default: this fiscal year so far): contracts and downloads (SLA-7)."""
        principal = current_principal(request)
        today = dt.datetime.now(JST).date()
        fiscal_start = dt.date(today.year if today.month >= 4 else today.year - 1, 4, 1)
        first, last = from_ or fiscal_start, to or today
        error = None
        if last < first:
            error = _("The end of the period is before its start.")
        elif (last - first).days > MAX_USAGE_DAYS:
            error = _("Choose a period of at most three years.")
        rows: list[MemberUsage] = [] if error else await usage_between(db_session, principal.consortium_id, first, last)
        labels = {who: label() for who, label in DOWNLOADER_LABELS.items()}
        if fmt == "csv" and not error:
            return _download(_usage_csv(rows, labels), f"kyodo-usage-{first}-{last}.csv", "text/csv; charset=utf-8")
        return Template(
            "reporting/usage.html",
            context={"rows": rows, "first": first, "last": last, "labels": labels, "error": error},
            status_code=400 if error else 200,
        )

    @get("/{lg_code:str}/{month:str}/draft.pdf")
    async def draft(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        lg_code: FromPath[str],
        month: FromPath[str],
    ) -> Response[bytes]:
        """A member's report as it stands (not issued), to check before issuing."""
        principal = current_principal(request)
        try:
            first = parse_month(month)
        except ValueError as exc:
            raise NotFoundException() from exc
        figures = await member_draft(db_session, principal.consortium_id, lg_code, first)
        if figures is None:
            raise NotFoundException()
        rendered = render(figures, locale=current_locale.get())
        return _download(rendered.pdf, f"kyodo-report-{lg_code}-{month}-draft.pdf", "application/pdf")
