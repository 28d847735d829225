"""After a bulk staff import: invite everyone it created, so each chooses a password from a mailed link."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from onboarding import staff_import
from onboarding.controllers.forms import HTML_ERRORS
from onboarding.models import ImportStatus
from policy.guards import caller_member, requires, requires_member_staff
from tenants.invitation_service import InvitationService

__all__ = ["ImportInvitationController"]


class ImportInvitationController(Controller):
    """``POST /admin/import/<job>/invitations``: the import screen's "send invitations"."""

    path = "/admin/import"
    guards = [requires_member_staff, requires("member", "import"), requires("staff", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @post("/{job_id:uuid}/invitations", status_code=200)
    async def invite(
        self, request: Request[Any, Any, Any], job_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """Invite the accounts the import created that have no password yet; list who was and who was not."""
        principal, member_id = caller_member(request)
        job = await staff_import.import_of(db_session, member_id, job_id)
        login_ids: list[str] = []
        if job.status is ImportStatus.DONE:
            login_ids = sorted(str(v) for v in dict(job.result.get("login_ids") or {}).values())
        done = await InvitationService(db_session, member_id).invite_new(login_ids, principal.id)
        return Template("onboarding/import_invited.html", context={"job": job, "done": done})
