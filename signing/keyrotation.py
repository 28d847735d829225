"""Rotating the platform's master key without re-encrypting a single document.

Documents are encrypted with each member's own data key; the master key only
wraps those data keys (and the webhook signing secrets). A rotation therefore
re-wraps a few rows in one transaction:

1. every node gets the new key as ``KYODO_MASTER_KEY`` and the old one in
   ``KYODO_MASTER_KEY_PREVIOUS`` (nodes read with either, write with the new);
2. ``kyodo keys rotate`` re-wraps every member's data key and every webhook
   secret under the new key, all or nothing;
3. once it reports done, ``KYODO_MASTER_KEY_PREVIOUS`` is removed everywhere.

Mail links still waiting in the outbox were sealed with the old key and open
while it is listed as previous; keep it there until the outbox is empty.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from signing.blobs import open_with_master, seal_with_master
from signing.repositories.keys import MasterKeyRepository
from signing.webhooks import open_secret, seal_secret

__all__ = ["Rotation", "new_master_key", "rotate_master_key"]


@dataclass(frozen=True)
class Rotation:
    """What a rotation re-encrypted."""

    document_keys: int
    webhook_secrets: int


async def rotate_master_key(session: AsyncSession, settings: Settings) -> Rotation:
    """Re-wrap everything the master key protects under the current ``KYODO_MASTER_KEY``.

    ``session`` must be elevated (it reads every member's rows); the caller commits.
    A row no configured key opens raises, and nothing is changed.
    """
    repo = MasterKeyRepository(session, None)
    keys = await repo.document_keys()
    for row in keys:
        aad = str(row.member_id).encode()
        row.wrapped_key = seal_with_master(settings, open_with_master(settings, row.wrapped_key, aad), aad)
    endpoints = await repo.webhook_endpoints()
    for endpoint in endpoints:
        endpoint.sealed_secret = seal_secret(settings, open_secret(settings, endpoint.sealed_secret))
    await session.flush()
    return Rotation(document_keys=len(keys), webhook_secrets=len(endpoints))


def new_master_key() -> str:
    """A fresh master key: the base64 of 32 random bytes."""
    return base64.b64encode(secrets.token_bytes(32)).decode()
