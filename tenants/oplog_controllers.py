"""The operation-log screen of a member's administrators and auditors, and its CSV (DAT-6, NII-42/43).

Readable with ``audit:view`` only (administrators and the 監査担当 role), and
only the caller's own member's log: the secretariat and the operators hold no
such permission in any member. No handler queries or commits: :mod:`tenants.oplog`
reads, and the request commits the record of a CSV export.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST
from core.errors import Invalid
from core.i18n import gettext as _
from policy.guards import caller_member, requires
from tenants import oplog

__all__ = ["OperationLogController"]


def _day(raw: str | None) -> dt.date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(_("Please enter dates as YYYY-MM-DD.")) from None


def _filters(date_from: str | None, date_to: str | None, actor: str | None, kind: str | None) -> oplog.OperationFilters:
    wanted = (kind or "").strip()
    if wanted and wanted not in oplog.kind_labels():
        raise Invalid(_("Choose a kind of operation from the list."))
    since, until = _day(date_from), _day(date_to)
    if since and until and since > until:
        raise Invalid(_("The period starts after it ends."))
    return oplog.OperationFilters(date_from=since, date_to=until, actor=(actor or "").strip()[:100], kind=wanted)


def _query(filters: oplog.OperationFilters) -> str:
    return urlencode(
        [
            (key, value)
            for key, value in (
                ("date_from", filters.date_from.isoformat() if filters.date_from else ""),
                ("date_to", filters.date_to.isoformat() if filters.date_to else ""),
                ("actor", filters.actor),
                ("kind", filters.kind),
            )
            if value
        ]
    )


def actor_name(actor: str) -> str:
    """``staff:<id> 起案 太郎`` → ``起案 太郎`` (the id stays in the CSV)."""
    kind, _sep, rest = actor.partition(" ")
    return rest if ":" in kind and rest else actor


class OperationLogController(Controller):
    """``/admin/operations``: the member's operation log with filters, pages, CSV and the chain's verification."""

    path = "/admin/operations"
    include_in_schema = False
    guards = [requires("audit", "view")]  # noqa: RUF012

    @get("/")
    async def operations(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        date_from: FromQuery[str | None] = None,
        date_to: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        page: FromQuery[int] = 1,
    ) -> Template:
        """A page of the log, newest first, and whether the member's whole chain verifies."""
        _principal, member_id = caller_member(request)
        filters = _filters(date_from, date_to, actor, kind)
        result = await oplog.page(db_session, member_id, filters, number=page)
        verification = await oplog.verify(db_session, member_id, getattr(request.app.state, "redis", None))
        return Template(
            "admin/operations.html",
            context={
                "result": result,
                "f": filters,
                "query": _query(filters),
                "kinds": oplog.kind_labels(),
                "fields": oplog.field_labels(),
                "reasons": oplog.reason_labels(),
                "headings": oplog.column_labels(),
                "detail_text": oplog.detail_text,
                "verification": verification,
                "actor_name": actor_name,
                "jst": JST,
            },
        )

    @get("/export.csv")
    async def export(
        self,
        *,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        date_from: FromQuery[str | None] = None,
        date_to: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        """The filtered log as CSV (UTF-8 with BOM) with both hashes; the export is itself recorded."""
        _principal, member_id = caller_member(request)
        body = await oplog.csv_export(db_session, member_id, _filters(date_from, date_to, actor, kind))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="operation-log.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
