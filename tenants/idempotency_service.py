"""Claiming an idempotency key, and keeping the answer given for it (see :mod:`tenants.idempotency`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid, Unprocessable
from core.i18n import gettext as _
from core.text import has_control_characters
from tenants.idempotency import KEEP, MAX_LENGTH
from tenants.repositories.idempotency import IdempotencyRepository

__all__ = ["IdempotencyService", "Replay"]


@dataclass(frozen=True)
class Replay:
    """The answer first given for a key."""

    status_code: int
    body: bytes


class IdempotencyService:
    """Idempotency keys of one member."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.repo = IdempotencyRepository(session, member_id)

    async def begin(self, caller: str, key: str, fingerprint: str) -> Replay | None:
        """Claim ``key`` for this request (None: do the work), or the first answer to replay.

        :raises Invalid: the key is empty, too long or has control characters.
        :raises Unprocessable: the key was used for another request (another path or body).
        """
        if not key or len(key) > MAX_LENGTH or has_control_characters(key):
            raise Invalid(_("The Idempotency-Key header must be 1 to 255 characters without control characters."))
        older_than = dt.datetime.now(dt.UTC) - KEEP
        if await self.repo.claim(caller, key, fingerprint, older_than=older_than):
            return None
        row = await self.repo.existing(caller, key)
        if row is None:  # purged between the two statements: claim it afresh
            await self.repo.claim(caller, key, fingerprint, older_than=older_than)
            return None
        if row.fingerprint != fingerprint:
            raise Unprocessable(
                _("This Idempotency-Key was already used for a different request. Send a new key with a new request.")
            )
        if row.status_code is None or row.body is None:
            raise Conflict(_("A request with this Idempotency-Key is still being processed. Try again in a moment."))
        return Replay(row.status_code, row.body.encode())

    async def finish(self, caller: str, key: str, status_code: int, body: bytes) -> None:
        """Keep the answer of the request that claimed ``key`` (committed together with its work)."""
        row = await self.repo.existing(caller, key)
        assert row is not None, "finish() without begin()"
        row.status_code = status_code
        row.body = body.decode()
        await self.session.flush()
