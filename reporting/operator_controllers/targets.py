"""The operator's quality targets of a consortium (SLA-2): a change is a new row from a month on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field
from core.i18n import gettext as _
from policy.guards import requires, requires_operator
from reporting.figures import JST, parse_month, targets_for
from reporting.operator_controllers.common import (
    ConsortiumQuery,
    FormError,
    pick_consortium,
)
from reporting.repository import ReportingRepository
from reporting.services import (
    set_targets,
)

__all__ = ["OperatorTargetController"]


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
        consortia, consortium = await pick_consortium(session, slug)
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
        consortium = (await pick_consortium(operator_session, slug))[1]
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
