"""The operator's planned maintenance (SLA-5): announce with the consortium's notice, or call off."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field
from core.i18n import gettext as _
from policy.guards import requires, requires_operator
from reporting.figures import JST
from reporting.operator_controllers.common import (
    HISTORY_DAYS,
    ConsortiumQuery,
    FormError,
    local_time,
    pick_consortium,
)
from reporting.repository import ReportingRepository
from reporting.services import (
    MaintenanceNoticeError,
    cancel_maintenance,
    in_office_hours,
    schedule_maintenance,
)

__all__ = ["OperatorMaintenanceController"]


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
        consortia, consortium = await pick_consortium(session, slug)
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
        consortium = (await pick_consortium(operator_session, slug))[1]
        try:
            title = field(data, "title")
            if not title:
                raise FormError(_("Please enter {field}.").format(field=_("the work")))
            starts = local_time(data, "starts_at", _("the start"))
            ends = local_time(data, "ends_at", _("the end"))
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
