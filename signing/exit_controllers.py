"""Screens of a member's exit: its administrator's readable export, the secretariat's deletion (DAT-1, DAT-3).

They live in the signing domain because both need it: the export decrypts and
describes contracts, and the deletion report is sealed with the platform's
seal. The export is written to a temporary file in a worker thread entry by
entry (:mod:`signing.exit`), sent, and removed once sent; an encrypted one
never exists unencrypted on the server.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import today_jst
from core.errors import Invalid
from core.settings import Settings
from core.web import client_ip
from onboarding import leaving
from onboarding.controllers.forms import HTML_ERRORS, FormData, actor
from onboarding.members import consortium_member, own_member
from policy.guards import current_principal, requires, requires_member_staff, requires_secretariat
from signing import exit as member_exit
from tenants import oplog

__all__ = ["DeletionController", "MemberExportController"]


def _remove(path: Any) -> None:
    path.unlink(missing_ok=True)


class MemberExportController(Controller):
    """The member's full export, readable without Kyodo, for its administrator (DAT-1)."""

    path = "/admin/export"
    guards = [requires_member_staff, requires("member", "export")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    async def _page(
        self, session: AsyncSession, member_id: uuid.UUID | None, *, error: str = "", status: int = 200
    ) -> Template:
        exports = await leaving.exports_of(session, member_id) if member_id else []
        return Template(
            "onboarding/export.html",
            context={"exports": exports, "error": error, "min_passphrase": member_exit.MIN_PASSPHRASE},
            status_code=status,
        )

    @get("/")
    async def page(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """What the export contains, its options, and the exports made so far."""
        return await self._page(db_session, current_principal(request).member_id)

    @post("/", status_code=200)
    async def download(
        self,
        request: Request[Any, Any, Any],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> File | Template:
        """Write the archive (CSV encoding and passphrase as chosen), record it and send it."""
        principal = current_principal(request)
        try:
            options = member_exit.export_options(
                data.get("encoding", "utf-8"), data.get("passphrase", ""), data.get("passphrase_confirm", "")
            )
        except Invalid as exc:
            return await self._page(db_session, principal.member_id, error=exc.message, status=400)
        member = await own_member(db_session, principal.member_id)
        settings: Settings = state.settings
        folder = settings.app.data_dir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}.zip"
        who = oplog.Who.of(principal, ip=client_ip(request.scope), user_agent=request.headers.get("user-agent", ""))
        outcome = await member_exit.write_export(
            db_session, member, path, settings, options, by=actor(principal), who=who
        )
        suffix = "-cp932" if options.encoding == "cp932" else ""
        name = f"kyodo-export-{member.lg_code}-{today_jst():%Y%m%d}{suffix}.zip"
        return File(
            path=path,
            filename=name,
            media_type="application/zip",
            headers={"X-Kyodo-SHA256": outcome.sha256, "Cache-Control": "no-store"},
            background=BackgroundTask(_remove, path),
        )


class DeletionController(Controller):
    """The secretariat confirms a leaving member's deletion; a worker deletes and seals the report (DAT-3)."""

    path = "/secretariat/leaving"
    guards = [requires_secretariat, requires("consortium", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @post("/{member_id:uuid}/delete", status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Confirm the deletion (the code typed again, who asked); a worker deletes and seals the report."""
        principal = current_principal(request)
        member = await consortium_member(db_session, principal.consortium_id, member_id)
        await leaving.request_deletion(
            db_session,
            member,
            by=actor(principal),
            confirm=data.get("confirm", ""),
            requested_by=data.get("requested_by", ""),
        )
        return Redirect(path="/secretariat/leaving", status_code=303)
