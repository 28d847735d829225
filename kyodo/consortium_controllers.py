"""The operator's consortium screens (``/operator/consortia``): found a consortium, add its members, no SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.controllers import kind_labels
from core.errors import Invalid
from core.forms import Form, field
from core.i18n import gettext as _
from kyodo.consortia import ConsortiumDefaults, add_member, consortia, found
from policy.guards import requires, requires_operator
from tenants.models import MemberKind

__all__ = ["OperatorConsortiumController"]


def _int(data: dict[str, Any], name: str, default: int) -> int:
    text = field(data, name)
    try:
        return int(text) if text else default
    except ValueError:
        raise Invalid(_("{text} is not a number.").format(text=text)) from None


def _defaults(data: dict[str, Any]) -> ConsortiumDefaults:
    base = ConsortiumDefaults()
    try:
        latest = dt.date.fromisoformat(field(data, "latest_end")) if field(data, "latest_end") else base.latest_end
    except ValueError:
        raise Invalid(_("Please enter the latest end of agreements as a date.")) from None
    try:
        percent = Decimal(field(data, "availability")) if field(data, "availability") else base.availability_percent
    except InvalidOperation:
        raise Invalid(_("{text} is not a number.").format(text=field(data, "availability"))) from None
    return ConsortiumDefaults(
        notice_days=_int(data, "notice_days", base.notice_days),
        latest_end=latest,
        availability_percent=percent,
        recovery_minutes=_int(data, "recovery_minutes", base.recovery_minutes),
        response_ms=_int(data, "response_ms", base.response_ms),
    )


class OperatorConsortiumController(Controller):
    """Consortia, founded and filled with members by the provider's operators."""

    path = "/operator/consortia"
    include_in_schema = False
    guards = [requires_operator, requires("consortium", "found")]  # noqa: RUF012 - Litestar's declaration style

    @get("/")
    async def index(self, operator_session: NamedDependency[AsyncSession]) -> Template:
        """Every consortium with its defaults, and the forms to found one or add a member."""
        return Template(
            "consortium/operator_consortia.html",
            context={
                "consortia": await consortia(operator_session),
                "defaults": ConsortiumDefaults(),
                "kinds": kind_labels(),
            },
        )

    @post("/", status_code=200)
    async def create(self, operator_session: NamedDependency[AsyncSession], data: Form) -> Template:
        """Found a consortium; its secretariat's initial password is shown once."""
        founded = await found(
            operator_session,
            name=field(data, "name"),
            slug=field(data, "slug"),
            secretariat_login_id=field(data, "secretariat_login_id"),
            secretariat_name=field(data, "secretariat_name"),
            secretariat_email=field(data, "secretariat_email"),
            defaults=_defaults(data),
        )
        return Template(
            "admin/secret.html",
            context={
                "title": _("Consortium created"),
                "lines": [
                    (_("Consortium"), founded.consortium.name),
                    (_("Login ID"), founded.secretariat.login_id),
                    (_("Initial password"), founded.password),
                ],
                "back": "/operator/consortia/",
            },
        )

    @post("/members", status_code=200)
    async def add_member(self, operator_session: NamedDependency[AsyncSession], data: Form) -> Template:
        """Add a member (in its sandbox) with its first administrator, whose initial password is shown once."""
        try:
            kind = MemberKind(field(data, "kind") or MemberKind.MUNICIPALITY)
        except ValueError:
            raise Invalid(_("Please choose what kind of public body the member is.")) from None
        added = await add_member(
            operator_session,
            slug=field(data, "consortium"),
            lg_code=field(data, "lg_code"),
            name=field(data, "name"),
            kind=kind,
            admin_login_id=field(data, "admin_login_id"),
            admin_name=field(data, "admin_name"),
            admin_email=field(data, "admin_email"),
        )
        return Template(
            "admin/secret.html",
            context={
                "title": _("Member added"),
                "lines": [
                    (_("Member"), added.member.name),
                    (_("Login ID"), added.admin.login_id),
                    (_("Initial password"), added.password),
                ],
                "back": "/operator/consortia/",
            },
        )
