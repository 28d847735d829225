"""Invitations: the link's page where new staff choose a password, the administrator's "invite" button, and its API.

The screen's button and ``POST /api/v1/staff/{staff_id}/invitation`` call the
same :meth:`tenants.invitation_service.InvitationService.invite` with the same
guard (``staff:manage``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, NotFound
from core.forms import Form, field
from core.i18n import gettext as _
from policy.guards import caller_member, requires
from tenants.idempotent import IdempotencyKeyHeader, idempotent
from tenants.invitation_service import InvitationService, accept, invitation_by_token
from tenants.invitations import StaffInvitation

__all__ = ["InvitationController", "InvitationOut", "StaffInvitationApiController", "StaffInvitationController"]


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


class InvitationOut(msgspec.Struct):
    """An invitation and where it is; the link itself is only in the mail.

    ``status``: ``queued`` (the mail is being sent), ``sent``, ``used``, ``replaced`` or ``expired``.
    """

    id: uuid.UUID
    staff_id: uuid.UUID
    status: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    expires_at: dt.datetime | None
    used_at: dt.datetime | None

    @classmethod
    def of(cls, i: StaffInvitation) -> InvitationOut:
        now = dt.datetime.now(dt.UTC)
        if i.used_at is not None:
            status = "used"
        elif i.revoked_at is not None:
            status = "replaced"
        elif i.sent_at is None:
            status = "queued"
        elif i.expires_at is not None and i.expires_at <= now:
            status = "expired"
        else:
            status = "sent"
        return cls(
            id=i.id,
            staff_id=i.staff_id,
            status=status,
            created_at=i.created_at,
            sent_at=i.sent_at,
            expires_at=i.expires_at,
            used_at=i.used_at,
        )


class StaffInvitationApiController(Controller):
    """Invite a staff member by mail, or invite them again, from another system."""

    path = "/api/v1/staff"
    tags = ["administration"]  # noqa: RUF012

    @post(
        "/{staff_id:uuid}/invitation",
        guards=[requires("staff", "manage")],
        status_code=202,
        summary="Send (or send again) a staff invitation",
    )
    async def invite(
        self,
        request: Request[Any, Any, Any],
        staff_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[InvitationOut]:
        """Mail the staff member a one-use link to choose their password (valid ``KYODO_INVITATION_HOURS``).

        Sending again replaces the older link, which stops working. Only active accounts can be invited
        (400). No body. With an ``Idempotency-Key`` a retry mails nothing more and answers as the first time.
        """
        principal, member_id = caller_member(request)
        # An API key invites as no one in particular (``invited_by`` is a staff member).
        invited_by = principal.id if principal.kind.value == "staff" else None

        async def work() -> InvitationOut:
            return InvitationOut.of(await InvitationService(db_session, member_id).invite(staff_id, invited_by))

        return await idempotent(request, db_session, idempotency_key, work, status_code=202)

    @get("/{staff_id:uuid}/invitation", guards=[requires("staff", "manage")], summary="A staff member's invitation")
    async def latest(
        self, request: Request[Any, Any, Any], staff_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> InvitationOut:
        """The newest invitation of the staff member and where it is (404 when none was ever sent)."""
        _p, member_id = caller_member(request)
        invitation = await InvitationService(db_session, member_id).latest(staff_id)
        if invitation is None:
            raise NotFound(_("No invitation was sent to this staff member."))
        return InvitationOut.of(invitation)
