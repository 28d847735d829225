"""Server-side sessions in Redis.

The browser holds only a random token; Redis holds what the session means. The
key is the SHA-256 of the token, so a leaked Redis dump cannot be replayed as a
cookie. Idle timeout is the key's time to live, refreshed on use; the absolute
timeout is checked against the creation time stored inside.

Each account's sessions are also listed in a set, so that a password change (or
an administrator's reset) can end the account's sessions on every other device.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from litestar.datastructures import State
from redis.asyncio import Redis

__all__ = ["SESSION_COOKIE", "SessionStore", "session_store"]

SESSION_COOKIE = "kyodo_session"
_PREFIX = "kyodo:session:"


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _account_key(kind: str, account_id: str) -> str:
    return f"kyodo:account-sessions:{kind}:{account_id}"


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
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(_key(token), json.dumps(body), ex=self.idle_seconds)
            if "kind" in data and "id" in data:
                account = _account_key(str(data["kind"]), str(data["id"]))
                pipe.sadd(account, _key(token))
                pipe.expire(account, self.absolute_seconds)
            await pipe.execute()
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

    async def end_all_of(self, kind: str, account_id: str, *, keep: str = "") -> int:
        """End every session of one account except the one with token ``keep``; returns how many ended."""
        account = _account_key(kind, account_id)
        kept = _key(keep) if keep else ""
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in await self.client.smembers(account)]
        ended = [k for k in keys if k != kept]
        if ended:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(*ended)
                pipe.srem(account, *ended)
                await pipe.execute()
        return len(ended)


def session_store(state: State) -> SessionStore:
    """The app's session store (built once at start-up)."""
    store: SessionStore = state.session_store
    return store
