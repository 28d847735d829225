"""Invitation screens: the link's page where new staff choose a password, and the administrator's "invite" button."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.forms import Form, field
from policy.guards import caller_member, requires
from tenants.invitation_service import InvitationService, accept, invitation_by_token

__all__ = ["InvitationController", "StaffInvitationController"]


class InvitationController(Controller):
    """``/invitation/<token>``: open to anyone holding the mailed link, usable once."""

    path = "/invitation"
    include_in_schema = False

    @get("/{token:str}")
    async def show(self, token: FromPath[str], db_session: NamedDependency[AsyncSession]) -> Template:
        """The form to choose a password (an error page when the link is used, replaced or expired)."""
        _invitation, staff = await invitation_by_token(db_session, token)
        return Template("admin/invitation.html", context={"staff": staff, "token": token, "error": None})

    @post("/{token:str}", status_code=303)
    async def choose(
        self, token: FromPath[str], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect | Template:
        """Set the chosen password; then the person signs in with it."""
        try:
            await accept(db_session, token, field(data, "new"), field(data, "confirm"))
        except Invalid as exc:
            _invitation, staff = await invitation_by_token(db_session, token)
            return Template(
                "admin/invitation.html",
                context={"staff": staff, "token": token, "error": exc.message},
                status_code=400,
            )
        return Redirect("/login?invited=1", status_code=303)


class StaffInvitationController(Controller):
    """The administrator invites a staff member, or invites them again."""

    path = "/admin/staff"
    include_in_schema = False

    @post("/{staff_id:uuid}/invitation", guards=[requires("staff", "manage")], status_code=303)
    async def invite(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Mail a new invitation link; any older link of the person stops working."""
        principal, member_id = caller_member(request)
        await InvitationService(db_session, member_id).invite(staff_id, principal.id)
        return Redirect(f"/admin/staff/{staff_id}?invited=1", status_code=303)
