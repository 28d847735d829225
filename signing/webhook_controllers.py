"""The member administrator's webhook screens (``/admin/webhooks``), thin handlers over the webhook service."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.forms import Form, field, field_list
from core.i18n import gettext as _
from core.settings import Settings
from policy.guards import caller_member, requires
from signing.webhook_service import WebhookService
from signing.webhooks import EVENTS, event_labels, state_labels

__all__ = ["WebhookController"]

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
