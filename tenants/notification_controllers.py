"""``/admin/notification-addresses``: where the member routes chosen staff notices (NII-59)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list, field_uuid
from policy.guards import caller_member, requires
from tenants.notification_addresses import NOTICES, notice_labels
from tenants.notification_service import NotificationAddressService

__all__ = ["NotificationAddressController"]

GUARD = [requires("staff", "manage")]


class NotificationAddressController(Controller):
    """The member's notification addresses: list, add, delete."""

    path = "/admin/notification-addresses"
    include_in_schema = False

    @get("/", guards=GUARD)
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Every address with its notices, and the form to add one."""
        _p, member_id = caller_member(request)
        service = NotificationAddressService(db_session, member_id)
        return Template(
            "admin/notification_addresses.html",
            context={
                "entries": await service.listing(),
                "departments": await service.departments(),
                "notices": NOTICES,
                "labels": notice_labels(),
            },
        )

    @post("/", guards=GUARD, status_code=303)
    async def add(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Add an address for the member or one department."""
        _p, member_id = caller_member(request)
        await NotificationAddressService(db_session, member_id).add(
            email=field(data, "email"),
            notices=field_list(data, "notices"),
            mode=field(data, "mode"),
            department_id=field_uuid(data, "department_id"),
        )
        return Redirect("/admin/notification-addresses", status_code=303)

    @post("/{address_id:uuid}/delete", guards=GUARD, status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        address_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Delete an address."""
        _p, member_id = caller_member(request)
        await NotificationAddressService(db_session, member_id).remove(address_id)
        return Redirect("/admin/notification-addresses", status_code=303)
