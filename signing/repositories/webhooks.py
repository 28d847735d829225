"""Every query of webhook endpoints, their deliveries and attempts, in one member's scope.

A repository made with ``member_id=None`` reads every member's rows and is made
only inside :func:`core.scope.elevated`: by the delivery task and the pass that
picks deliveries due for a retry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from core.repository import MemberScopedRepository
from signing.models import Contract
from signing.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenants.models import Member, Staff, StaffStatus

__all__ = ["WebhookRepository"]


class WebhookRepository(MemberScopedRepository):
    """Endpoints, deliveries and attempts of one member (or, elevated, of every member)."""

    async def endpoints(self) -> Sequence[WebhookEndpoint]:
        """The member's endpoints, newest first."""
        return await self.all(self.scoped(WebhookEndpoint).order_by(WebhookEndpoint.created_at.desc()))

    async def endpoint(self, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint | None:
        """One endpoint of the member, or None."""
        return await self.get(WebhookEndpoint, endpoint_id, for_update=for_update)

    async def active(self) -> Sequence[WebhookEndpoint]:
        """The member's active endpoints, oldest first."""
        return await self.all(
            self.scoped(WebhookEndpoint).where(WebhookEndpoint.active).order_by(WebhookEndpoint.created_at)
        )

    async def contract(self, contract_id: uuid.UUID) -> Contract | None:
        """The contract an event is about (its register data goes into the notice)."""
        return await self.get(Contract, contract_id)

    async def deliveries(self, endpoint_id: uuid.UUID, *, limit: int = 50) -> Sequence[WebhookDelivery]:
        """The endpoint's latest deliveries, newest first."""
        return await self.all(
            self.scoped(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        )

    async def delivery(self, delivery_id: uuid.UUID, *, lock: bool = False) -> WebhookDelivery | None:
        """One delivery; with ``lock``, locked for this transaction (None too when another holds it)."""
        statement = self.scoped(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        if lock:
            statement = statement.with_for_update(skip_locked=True)
        return await self.first(statement)

    async def attempts(self, delivery_ids: Sequence[uuid.UUID]) -> Sequence[WebhookAttempt]:
        """Attempts of the given deliveries, oldest first."""
        if not delivery_ids:
            return []
        return await self.all(
            self.scoped(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.id)
        )

    async def due(self, now: dt.datetime, *, limit: int = 500) -> Sequence[WebhookDelivery]:
        """Pending deliveries whose next attempt is due."""
        return await self.all(
            self.scoped(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .where(WebhookDelivery.next_attempt_at.is_not(None))
            .where(WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )

    async def pending_of(self, endpoint_id: uuid.UUID) -> Sequence[WebhookDelivery]:
        """Deliveries of an endpoint still waiting."""
        return await self.all(
            self.scoped(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
        )

    async def member_name(self, member_id: uuid.UUID) -> str:
        """The member's name (for the mail to its administrators)."""
        name = await self.session.scalar(select(Member.name).where(Member.id == member_id))
        return name or ""

    async def active_staff_emails(self, staff_ids: Sequence[uuid.UUID]) -> list[str]:
        """Addresses of those of ``staff_ids`` whose accounts are active."""
        if not staff_ids:
            return []
        rows = await self.all(
            self.scoped(Staff)
            .where(Staff.id.in_(staff_ids))
            .where(Staff.status == StaffStatus.ACTIVE)
            .order_by(Staff.email)
        )
        return sorted({row.email for row in rows})
