"""``/admin/notification-addresses`` and ``/api/v1/notification-addresses``: where the member routes staff notices.

NII-59. The screens and the JSON API call the same
:class:`tenants.notification_service.NotificationAddressService` methods with the
same guard (``staff:manage``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list, field_uuid
from policy.guards import caller_member, requires
from tenants.idempotent import IdempotencyKeyHeader, idempotent
from tenants.notification_addresses import NOTICES, notice_labels
from tenants.notification_service import AddressEntry, NotificationAddressService

__all__ = ["NotificationAddressApiController", "NotificationAddressController"]

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


class NotificationAddressIn(msgspec.Struct, forbid_unknown_fields=True):
    """A shared mailbox for the member (no ``department_id``) or for the contracts of one department.

    ``notices``: ``request_staff`` (a signer is asked to sign), ``concluded_signer``, ``concluded_drafter``,
    ``declined_drafter``, ``seal_failed_drafter``. ``mode``: ``copy`` (a copy besides the staff member's
    mail) or ``instead`` (the notice goes to this address instead).
    """

    email: str
    notices: list[str]
    mode: str = "copy"
    department_id: uuid.UUID | None = None


class NotificationAddressOut(msgspec.Struct):
    """An address with its notices; ``department`` is the department's name (empty: the whole member)."""

    id: uuid.UUID
    email: str
    notices: list[str]
    mode: str
    department_id: uuid.UUID | None
    department: str

    @classmethod
    def of(cls, entry: AddressEntry) -> NotificationAddressOut:
        a = entry.address
        return cls(
            id=a.id,
            email=a.email,
            notices=list(a.notices),
            mode=a.mode.value,
            department_id=a.department_id,
            department=entry.department,
        )


NotificationAddressBody = Annotated[
    NotificationAddressIn,
    Body(
        media_type=RequestEncodingType.JSON,
        examples=[
            Example(
                summary="The contract inspection section receives signing requests instead of the signers",
                value={"email": "keiyaku@city.morioka.example.jp", "notices": ["request_staff"], "mode": "instead"},
            ),
            Example(
                summary="A department's shared mailbox gets a copy of conclusions and declines",
                value={
                    "email": "doboku@city.morioka.example.jp",
                    "notices": ["concluded_drafter", "declined_drafter"],
                    "mode": "copy",
                    "department_id": "0193a2b4-0000-7000-8000-0000000000d1",
                },
            ),
        ],
    ),
]


class NotificationAddressApiController(Controller):
    """The member's notification addresses: list, add, delete."""

    path = "/api/v1/notification-addresses"
    tags = ["administration"]  # noqa: RUF012

    @get("/", guards=GUARD, summary="List notification addresses")
    async def list_addresses(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[NotificationAddressOut]:
        """Every address with its notices, member-wide ones first."""
        _p, member_id = caller_member(request)
        return [NotificationAddressOut.of(e) for e in await NotificationAddressService(db_session, member_id).listing()]

    @post("/", guards=GUARD, status_code=201, summary="Add a notification address")
    async def add_address(
        self,
        request: Request[Any, Any, Any],
        data: NotificationAddressBody,
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[NotificationAddressOut]:
        """Add an address (400 for a bad address, an unknown notice or mode, or another member's department).

        With an ``Idempotency-Key`` a retry adds nothing and answers as the first time.
        """
        _p, member_id = caller_member(request)
        service = NotificationAddressService(db_session, member_id)

        async def work() -> NotificationAddressOut:
            row = await service.add(
                email=data.email, notices=data.notices, mode=data.mode, department_id=data.department_id
            )
            names = dict(await service.departments())
            return NotificationAddressOut.of(
                AddressEntry(row, names.get(row.department_id, "") if row.department_id else "")
            )

        return await idempotent(request, db_session, idempotency_key, work, body=data)

    @delete("/{address_id:uuid}", guards=GUARD, status_code=204, summary="Delete a notification address")
    async def delete_address(
        self,
        request: Request[Any, Any, Any],
        address_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete an address (404 for another member's)."""
        _p, member_id = caller_member(request)
        await NotificationAddressService(db_session, member_id).remove(address_id)
