"""Idempotency keys of the JSON API: a retried create answers as the first one did, and does nothing again.

A caller (an API key, or a staff member with a session) may send an
``Idempotency-Key`` header (1 to 255 characters) with a creating ``POST``. The
key is claimed by inserting its row first, in the same transaction as the work
(:meth:`tenants.repositories.idempotency.IdempotencyRepository.claim`): a
second request with the same key waits on the unique index until the first
commits, then finds the stored answer and replays it (the same status and the
same JSON body). If the first fails, its row is rolled back with its work, so
the retry does the work. A key is per member and caller and is kept
:data:`KEEP`; the same key with another request (another path or body) is
refused with 422.
"""

from __future__ import annotations

import datetime as dt

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenants.models import MemberOwned

__all__ = ["HEADER", "KEEP", "MAX_LENGTH", "IdempotencyKey"]

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
KEEP = dt.timedelta(hours=24)
"""How long a key's answer is replayed; older keys are purged daily and may be used again."""


class IdempotencyKey(MemberOwned, UUIDv7AuditBase):
    """One key of one caller of a member, with the fingerprint of its request and the answer given."""

    __tablename__ = "api_idempotency_key"
    __table_args__ = (
        UniqueConstraint("member_id", "caller", "key"),
        Index("ix_api_idempotency_key_created_at", "created_at"),
    )

    caller: Mapped[str] = mapped_column(String(80))
    """``apikey:<id>`` or ``staff:<id>``."""
    key: Mapped[str] = mapped_column(String(MAX_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the method, the path and the request body (passwords never stored in clear)."""
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The JSON body of the first answer, exactly as it was sent."""
