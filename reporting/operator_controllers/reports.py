"""The operator's monthly reports: every member's figures, reasons and improvement plans, issuing (MOR-14)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field
from core.i18n import current_locale
from core.i18n import gettext as _
from policy.guards import current_principal, requires, requires_operator
from reporting.figures import ITEMS, JST, compute_month, month_as_reported
from reporting.operator_controllers.common import (
    ConsortiumQuery,
    MonthQuery,
    month_of,
    pdf_download,
    pick_consortium,
)
from reporting.render import ITEM_LABELS
from reporting.repository import ReportingRepository
from reporting.services import (
    IssueRefusedError,
    add_release,
    issue_month,
    issue_report,
    remove_release,
    render,
    write_plan,
    write_security_measures,
)
from tenants.models import Member

__all__ = ["OperatorReportController"]


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
        form: dict[str, Any] | None = None,
        form_of: str = "",
        status_code: int = 200,
    ) -> Template:
        consortia, consortium = await pick_consortium(session, slug)
        figures, issued = await month_as_reported(session, consortium.id, month)
        repo = ReportingRepository(session, None)
        ids = [f.member_id for f in figures]
        return Template(
            "reporting/operator_reports.html",
            context={
                "consortia": consortia,
                "consortium": consortium,
                "month": month,
                "month_text": month.isoformat()[:7],
                "rows": figures,
                "issued": issued,
                "releases": await repo.releases(ids, month),
                "security": await repo.security_measures(ids, month),
                "item_labels": {item: label() for item, label in ITEM_LABELS.items()},
                "error": error,
                "notice": notice,
                "form": form or {},
                "form_of": form_of,
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
        return await self._page(operator_session, request, consortium, month_of(month))

    async def _member(self, session: AsyncSession, lg_code: str) -> Member:
        member = await ReportingRepository(session, None).member_by_code(lg_code)
        if member is None:
            raise NotFoundException()
        return member

    async def _slug(self, session: AsyncSession, member: Member) -> str:
        return (await ReportingRepository(session, None).consortium(member.consortium_id)).slug

    async def _change(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        lg_code: str,
        month: str,
        *,
        anchor: str,
        change: Callable[[uuid.UUID, dt.date], Awaitable[object]],
        form: dict[str, Any] | None = None,
    ) -> Redirect | Template:
        """Make one change to a member's report of ``month``, then back to its section (``#anchor-lg_code``);
        a refusal shows the page with the reason (and, for a form, what was typed)."""
        first = month_of(month)
        member = await self._member(session, lg_code)
        member_id, slug = member.id, await self._slug(session, member)
        try:
            await change(member_id, first)
        except IssueRefusedError as exc:
            form_of = f"{anchor}-{lg_code}" if form is not None else ""
            return await self._page(
                session, request, slug, first, error=str(exc), form=form, form_of=form_of, status_code=400
            )
        return Redirect(f"/operator/reports/?consortium={slug}&month={month}#{anchor}-{lg_code}", status_code=303)

    @get("/{lg_code:str}/{month:str}/draft.pdf")
    async def draft(
        self, operator_session: NamedDependency[AsyncSession], lg_code: FromPath[str], month: FromPath[str]
    ) -> Response[bytes]:
        """The member's report as it stands (not issued), to read before issuing."""
        first = month_of(month)
        member = await self._member(operator_session, lg_code)
        found = await compute_month(operator_session, member.consortium_id, first, member_ids=[member.id])
        if not found:
            raise NotFoundException(detail=_("The member was not in service in that month."))
        rendered = render(found[0], locale=current_locale.get())
        return pdf_download(rendered.pdf, f"kyodo-report-{lg_code}-{month}-draft.pdf")

    @get("/{lg_code:str}/{month:str}/report.pdf")
    async def issued_pdf(
        self, operator_session: NamedDependency[AsyncSession], lg_code: FromPath[str], month: FromPath[str]
    ) -> Response[bytes]:
        """The issued report, exactly as the member receives it."""
        member = await self._member(operator_session, lg_code)
        report = await ReportingRepository(operator_session, member.id).report(member.id, month_of(month))
        if report is None:
            raise NotFoundException()
        return pdf_download(report.pdf, f"kyodo-report-{lg_code}-{month}.pdf")

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
        principal = current_principal(request)

        async def change(member_id: uuid.UUID, first: dt.date) -> None:
            reason, plan = field(data, "reason"), field(data, "plan")
            await write_plan(operator_session, member_id, first, item=item, reason=reason, plan=plan, by=principal.name)

        return await self._change(request, operator_session, lg_code, month, anchor="m", change=change)

    @post("/{lg_code:str}/{month:str}/releases", status_code=303)
    async def release(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        data: Form,
        lg_code: FromPath[str],
        month: FromPath[str],
    ) -> Redirect | Template:
        """Add a release or change of the month to the member's report (NII-9(3))."""

        async def change(member_id: uuid.UUID, first: dt.date) -> None:
            try:
                day = dt.date.fromisoformat(field(data, "released_on")) if field(data, "released_on") else None
            except ValueError:
                raise IssueRefusedError(_("Please enter the date of the release or change.")) from None
            await add_release(
                operator_session,
                member_id,
                first,
                released_on=day,
                change=field(data, "change"),
                impact=field(data, "impact"),
                by=current_principal(request).name,
            )

        return await self._change(
            request, operator_session, lg_code, month, anchor="releases", change=change, form=data
        )

    @post("/{lg_code:str}/{month:str}/releases/{release_id:uuid}/delete", status_code=303)
    async def delete_release(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        lg_code: FromPath[str],
        month: FromPath[str],
        release_id: FromPath[uuid.UUID],
    ) -> Redirect | Template:
        """Remove a release entry written by mistake (not once the report is issued)."""

        async def change(member_id: uuid.UUID, first: dt.date) -> None:
            await remove_release(operator_session, member_id, first, release_id)

        return await self._change(request, operator_session, lg_code, month, anchor="releases", change=change)

    @post("/{lg_code:str}/{month:str}/security", status_code=303)
    async def security_measures(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        data: Form,
        lg_code: FromPath[str],
        month: FromPath[str],
    ) -> Redirect | Template:
        """Write the month's security measures (SAP-10(1)): detected, done, planned."""

        async def change(member_id: uuid.UUID, first: dt.date) -> None:
            await write_security_measures(
                operator_session,
                member_id,
                first,
                detected=field(data, "detected"),
                done=field(data, "done"),
                planned=field(data, "planned"),
                by=current_principal(request).name,
            )

        return await self._change(
            request, operator_session, lg_code, month, anchor="security", change=change, form=data
        )

    @post("/{lg_code:str}/{month:str}/issue", guards=[requires("report", "issue")], status_code=303)
    async def issue_one(
        self,
        request: Request[Any, Any, Any],
        operator_session: NamedDependency[AsyncSession],
        lg_code: FromPath[str],
        month: FromPath[str],
    ) -> Redirect | Template:
        """Issue one member's report; refused while a missed target has no plan."""

        async def change(member_id: uuid.UUID, first: dt.date) -> None:
            await issue_report(operator_session, member_id, first, issued_by=current_principal(request).name)

        return await self._change(request, operator_session, lg_code, month, anchor="m", change=change)

    @post("/issue", guards=[requires("report", "issue")], status_code=200)
    async def issue_all(
        self, request: Request[Any, Any, Any], operator_session: NamedDependency[AsyncSession], data: Form
    ) -> Template:
        """Issue every report of the consortium's month that can be; say which wait for a plan."""
        first = month_of(field(data, "month") or None)
        consortium = (await pick_consortium(operator_session, field(data, "consortium") or None))[1]
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
