"""Server-side sessions in Redis.

The browser holds only a random token; Redis holds what the session means. The
key is the SHA-256 of the token, so a leaked Redis dump cannot be replayed as a
cookie. Idle timeout is the key's time to live, refreshed on use; the absolute
timeout is checked against the creation time stored inside.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from redis.asyncio import Redis

__all__ = ["SESSION_COOKIE", "SessionStore"]

SESSION_COOKIE = "kyodo_session"
_PREFIX = "kyodo:session:"


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Create, read, refresh and end sessions."""

    def __init__(self, client: Redis, *, idle_seconds: int, absolute_seconds: int) -> None:
        self.client = client
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    async def create(self, data: dict[str, Any]) -> str:
        """Start a new session and return its token (a new token every time: rotation)."""
        token = secrets.token_urlsafe(32)
        body = dict(data, created_at=time.time())
        await self.client.set(_key(token), json.dumps(body), ex=self.idle_seconds)
        return token

    async def get(self, token: str) -> dict[str, Any] | None:
        """The session's data, or None when it is unknown or expired; refreshes the idle timer."""
        if not token:
            return None
        raw = await self.client.get(_key(token))
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        if time.time() - float(data.get("created_at", 0)) > self.absolute_seconds:
            await self.client.delete(_key(token))
            return None
        await self.client.expire(_key(token), self.idle_seconds)
        return data

    async def delete(self, token: str) -> None:
        """End the session."""
        if token:
            await self.client.delete(_key(token))
