"""Every row the master key encrypts, across members: for its rotation only (elevated scope)."""

from __future__ import annotations

from collections.abc import Sequence

from core.repository import MemberScopedRepository
from signing.models import DocumentKey
from signing.webhooks import WebhookEndpoint

__all__ = ["MasterKeyRepository"]


class MasterKeyRepository(MemberScopedRepository):
    """Wrapped document keys and webhook secrets, locked for re-encryption."""

    async def document_keys(self) -> Sequence[DocumentKey]:
        """Each member's wrapped document key, locked until the transaction ends."""
        return await self.all(self.scoped(DocumentKey).order_by(DocumentKey.member_id).with_for_update())

    async def webhook_endpoints(self) -> Sequence[WebhookEndpoint]:
        """Every webhook endpoint (its secret is encrypted with the master key), locked likewise."""
        return await self.all(self.scoped(WebhookEndpoint).order_by(WebhookEndpoint.id).with_for_update())
