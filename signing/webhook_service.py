"""The administrator's side of webhooks: register, switch on and off, delete, look at deliveries, re-send."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from core.settings import Settings
from core.text import has_control_characters
from signing.repositories.webhooks import WebhookRepository
from signing.webhook_delivery import check_target, resend
from signing.webhooks import (
    EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    message_id,
    new_secret,
    seal_secret,
)

__all__ = ["EndpointDetail", "WebhookService"]


@dataclass(frozen=True)
class EndpointDetail:
    """An endpoint with its latest deliveries and each one's attempts."""

    endpoint: WebhookEndpoint
    deliveries: Sequence[WebhookDelivery]
    attempts: dict[uuid.UUID, list[WebhookAttempt]]

    @staticmethod
    def message_id(delivery: WebhookDelivery) -> str:
        """The delivery's ``webhook-id``."""
        return message_id(delivery.id)


class WebhookService:
    """Webhook endpoints of one member."""

    def __init__(self, session: AsyncSession, settings: Settings, member_id: uuid.UUID) -> None:
        self.session = session
        self.settings = settings
        self.member_id = member_id
        self.repo = WebhookRepository(session, member_id)

    async def listing(self) -> Sequence[WebhookEndpoint]:
        """The member's endpoints, newest first."""
        return await self.repo.endpoints()

    async def find(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        """One of the member's endpoints (another member's is not found)."""
        endpoint = await self.repo.endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound(_("The webhook does not exist."))
        return endpoint

    async def create(
        self, editor: Principal, *, label: str, url: str, events: Sequence[str]
    ) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint; returns it and its secret (shown once, kept only encrypted).

        :raises Invalid: no label, no event, an unknown event, or a URL the platform may not post to.
        """
        label = label.strip()
        if has_control_characters(label) or has_control_characters(url):
            raise Invalid(_("Line breaks and control characters are not allowed here."))
        if not label:
            raise Invalid(_("Please enter a label for the webhook."))
        chosen = [e for e in EVENTS if e in set(events)]
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise Invalid(_("Unknown webhook events: {events}.").format(events=", ".join(unknown)))
        if not chosen:
            raise Invalid(_("Please choose at least one event."))
        if len(url) > 2000:
            raise Invalid(_("The webhook URL is too long."))
        target = check_target(self.settings, url)
        secret = new_secret()
        endpoint = WebhookEndpoint(
            member_id=self.member_id,
            label=label[:200],
            url=target.url,
            events=chosen,
            sealed_secret=seal_secret(self.settings, secret),
            active=True,
            disabled_reason="",
            created_by_id=editor.id if editor.kind.value == "staff" else None,
        )
        self.repo.add(endpoint)
        await self.session.flush()
        return endpoint, secret

    async def set_active(self, endpoint_id: uuid.UUID, active: bool) -> WebhookEndpoint:
        """Switch an endpoint on (again) or off; switching on clears why it was disabled."""
        endpoint = await self.find(endpoint_id)
        endpoint.active = active
        if active:
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
        await self.session.flush()
        return endpoint

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        """Delete an endpoint with its delivery log."""
        endpoint = await self.find(endpoint_id)
        await self.session.delete(endpoint)
        await self.session.flush()

    async def detail(self, endpoint_id: uuid.UUID) -> EndpointDetail:
        """The endpoint, its 50 latest deliveries and their attempts."""
        endpoint = await self.find(endpoint_id)
        deliveries = await self.repo.deliveries(endpoint.id)
        attempts: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
        for row in await self.repo.attempts([d.id for d in deliveries]):
            attempts[row.delivery_id].append(row)
        return EndpointDetail(endpoint, deliveries, attempts)

    async def resend(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Send one delivery again (same ``webhook-id``); the endpoint must be switched on.

        :raises Invalid: the endpoint is off.
        """
        endpoint = await self.find(endpoint_id)
        delivery = await self.repo.delivery(delivery_id)
        if delivery is None or delivery.endpoint_id != endpoint.id:
            raise NotFound(_("The delivery does not exist."))
        if not endpoint.active:
            raise Invalid(_("Switch the webhook on before re-sending."))
        if delivery.status is DeliveryStatus.PENDING and delivery.attempts == delivery.round_start:
            return delivery
        return await resend(self.session, self.repo, delivery)
