"""Webhooks of a member: the administrator's screens (``/admin/webhooks``) and the JSON API (``/api/v1/webhooks``).

Both are thin handlers over the same :class:`signing.webhook_service.WebhookService`
methods, with the same guard (``webhook:manage``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list
from core.i18n import gettext as _
from core.settings import Settings
from policy.guards import caller_member, requires
from signing.webhook_service import WebhookService
from signing.webhooks import (
    EVENTS,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    event_labels,
    message_id,
    state_labels,
)

__all__ = ["WebhookApiController", "WebhookController"]

GUARD = [requires("webhook", "manage")]


def _service(request: Request[Any, Any, Any], db_session: AsyncSession) -> WebhookService:
    _p, member_id = caller_member(request)
    settings: Settings = request.app.state.settings
    return WebhookService(db_session, settings, member_id)


class WebhookController(Controller):
    """Endpoints of the member's other systems, their delivery log and re-sending."""

    path = "/admin/webhooks"
    include_in_schema = False

    @get("/", guards=GUARD)
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The member's endpoints and the form to register one."""
        endpoints = await _service(request, db_session).listing()
        return Template(
            "webhooks/index.html",
            context={"endpoints": endpoints, "events": EVENTS, "labels": event_labels(), "states": state_labels()},
        )

    @post("/", guards=GUARD, status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """Register an endpoint and show its secret once."""
        principal, _m = caller_member(request)
        endpoint, secret = await _service(request, db_session).create(
            principal, label=field(data, "label"), url=field(data, "url"), events=field_list(data, "events")
        )
        return Template(
            "admin/secret.html",
            context={
                "title": _("Webhook registered"),
                "lines": [(_("Label"), endpoint.label), (_("URL"), endpoint.url), (_("Signing secret"), secret)],
                "back": f"/admin/webhooks/{endpoint.id}",
            },
        )

    @get("/{endpoint_id:uuid}", guards=GUARD)
    async def detail(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        """One endpoint with its latest deliveries, each attempt's status and response time."""
        detail = await _service(request, db_session).detail(endpoint_id)
        return Template(
            "webhooks/detail.html",
            context={"detail": detail, "labels": event_labels(), "states": state_labels()},
        )

    @post("/{endpoint_id:uuid}/active", guards=GUARD, status_code=303)
    async def set_active(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Switch the endpoint on (``active=1``) or off."""
        await _service(request, db_session).set_active(endpoint_id, field(data, "active") == "1")
        return Redirect(f"/admin/webhooks/{endpoint_id}", status_code=303)

    @post("/{endpoint_id:uuid}/delete", guards=GUARD, status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Delete the endpoint and its log."""
        await _service(request, db_session).delete(endpoint_id)
        return Redirect("/admin/webhooks", status_code=303)

    @post("/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/resend", guards=GUARD, status_code=303)
    async def resend(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Send one notice again, with the same ``webhook-id``."""
        await _service(request, db_session).resend(endpoint_id, delivery_id)
        return Redirect(f"/admin/webhooks/{endpoint_id}", status_code=303)


# --------------------------------------------------------------------------- JSON API


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new endpoint: a label, the URL Kyodo posts to, and the events it is told of."""

    label: str
    url: str
    events: list[str]


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Switch an endpoint on (again, after it was disabled) or off."""

    active: bool


class WebhookOut(msgspec.Struct):
    """An endpoint; ``secret`` only in the answer that registered it."""

    id: uuid.UUID
    label: str
    url: str
    events: list[str]
    active: bool
    disabled_at: dt.datetime | None
    disabled_reason: str
    created_at: dt.datetime
    secret: str | None = None
    """The signing secret (``whsec_…``): shown in this answer only, kept encrypted."""

    @classmethod
    def of(cls, e: WebhookEndpoint, secret: str | None = None) -> WebhookOut:
        return cls(
            id=e.id,
            label=e.label,
            url=e.url,
            events=list(e.events),
            active=e.active,
            disabled_at=e.disabled_at,
            disabled_reason=e.disabled_reason,
            created_at=e.created_at,
            secret=secret,
        )


class AttemptOut(msgspec.Struct):
    """One attempt: when, the HTTP status (none: no answer, see ``error``) and the response time."""

    attempted_at: dt.datetime
    status_code: int | None
    response_ms: int | None
    error: str

    @classmethod
    def of(cls, a: WebhookAttempt) -> AttemptOut:
        return cls(attempted_at=a.attempted_at, status_code=a.status_code, response_ms=a.response_ms, error=a.error)


class DeliveryOut(msgspec.Struct):
    """One notice to the endpoint; ``message_id`` is its ``webhook-id`` header on every attempt."""

    id: uuid.UUID
    message_id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    payload: dict[str, Any]
    log: list[AttemptOut] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, d: WebhookDelivery, log: list[WebhookAttempt] | None = None) -> DeliveryOut:
        return cls(
            id=d.id,
            message_id=message_id(d.id),
            event=d.event,
            status=d.status.value,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            payload=dict(d.payload),
            log=[AttemptOut.of(a) for a in log or []],
        )


WebhookInBody = Annotated[
    WebhookIn,
    Body(
        media_type=RequestEncodingType.JSON,
        examples=[
            Example(
                summary="The financial system is told of conclusions",
                value={
                    "label": "財務会計システム",
                    "url": "https://zaimu.city.morioka.example.jp/kyodo/webhook",
                    "events": ["concluded", "sealed", "declined"],
                },
            )
        ],
    ),
]
WebhookPatchBody = Annotated[
    WebhookPatch,
    Body(
        media_type=RequestEncodingType.JSON,
        examples=[Example(summary="Switch a disabled endpoint on again", value={"active": True})],
    ),
]


class WebhookApiController(Controller):
    """The member's webhook endpoints, their deliveries and re-sending, for its other systems."""

    path = "/api/v1/webhooks"
    tags = ["webhooks"]  # noqa: RUF012

    @get("/", guards=GUARD, summary="List webhook endpoints")
    async def list_webhooks(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[WebhookOut]:
        """The member's endpoints, newest first (never their secrets)."""
        return [WebhookOut.of(e) for e in await _service(request, db_session).listing()]

    @post("/", guards=GUARD, status_code=201, summary="Register a webhook endpoint")
    async def create_webhook(
        self, request: Request[Any, Any, Any], data: WebhookInBody, db_session: NamedDependency[AsyncSession]
    ) -> WebhookOut:
        """Register an endpoint; the answer carries its signing secret (``whsec_…``) once.

        ``events``: ``sent``, ``viewed``, ``agreed``, ``declined``, ``forwarded``, ``cancelled``,
        ``concluded``, ``sealed``, ``renewed``. URLs of private, loopback, link-local and multicast
        addresses are refused (400) unless the platform allows them.
        """
        principal, _m = caller_member(request)
        endpoint, secret = await _service(request, db_session).create(
            principal, label=data.label, url=data.url, events=data.events
        )
        return WebhookOut.of(endpoint, secret)

    @get("/{endpoint_id:uuid}", guards=GUARD, summary="One webhook endpoint")
    async def get_webhook(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> WebhookOut:
        """One endpoint (404 for another member's)."""
        return WebhookOut.of(await _service(request, db_session).find(endpoint_id))

    @patch("/{endpoint_id:uuid}", guards=GUARD, summary="Switch a webhook endpoint on or off")
    async def change_webhook(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        data: WebhookPatchBody,
        db_session: NamedDependency[AsyncSession],
    ) -> WebhookOut:
        """``active: true`` switches it on again (after it was disabled for failing a day); ``false`` off."""
        return WebhookOut.of(await _service(request, db_session).set_active(endpoint_id, data.active))

    @delete("/{endpoint_id:uuid}", guards=GUARD, status_code=204, summary="Delete a webhook endpoint")
    async def delete_webhook(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> None:
        """Delete the endpoint with its delivery log."""
        await _service(request, db_session).delete(endpoint_id)

    @get("/{endpoint_id:uuid}/deliveries", guards=GUARD, summary="Latest deliveries of a webhook endpoint")
    async def list_deliveries(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> list[DeliveryOut]:
        """The 50 latest notices, newest first, each with its attempts (status code and response time)."""
        detail = await _service(request, db_session).detail(endpoint_id)
        return [DeliveryOut.of(d, detail.attempts.get(d.id)) for d in detail.deliveries]

    @post(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/resend",
        guards=GUARD,
        status_code=202,
        summary="Re-send a webhook delivery",
    )
    async def resend_delivery(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[uuid.UUID],
        delivery_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> DeliveryOut:
        """Send one notice again with the same ``webhook-id`` (and a new day of retries); the endpoint must be on.

        Accepted (202): a worker posts it; a notice already waiting for its first attempt is left as it is.
        """
        return DeliveryOut.of(await _service(request, db_session).resend(endpoint_id, delivery_id))
