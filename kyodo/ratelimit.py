"""Per-address throttling of what an attacker guesses at: sign-in, contractor passwords, mailed links, API keys.

The per-account lock-out (five wrong passwords) stops guessing one account; these
limits stop one address from trying many accounts or many links. They use
Litestar's rate-limit middleware with its counters in Redis, so every web node
counts the same requests. The address is the client's as the trusted proxies
report it (:mod:`kyodo.proxies` runs first).

The limits are per minute and generous on purpose: a city hall's staff sign in
through one public address at nine in the morning. An address over the limit
gets 429 with a Japanese page saying when to try again.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from litestar import Request
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.runtime import redis_url
from core.settings import Settings

__all__ = ["STORE", "rate_limit_configs", "rate_limit_store"]

log = logging.getLogger(__name__)

STORE = "rate_limit"
_LINK = re.compile(r"^/c/[^/]+(/password)?/?$")


class SignInLimit(RateLimitMiddleware):
    """Counts sign-in attempts (staff, secretariat and operators) per address."""


class LinkLimit(RateLimitMiddleware):
    """Counts opened links and contractor passwords per address."""


class ApiLimit(RateLimitMiddleware):
    """Counts requests that present an API key, per address (a wrong key included)."""


def _is_sign_in(request: Request[Any, Any, Any]) -> bool:
    return request.method == "POST" and request.url.path.rstrip("/") == "/login"


def _is_link(request: Request[Any, Any, Any]) -> bool:
    return bool(_LINK.match(request.url.path)) and (
        request.method == "GET" or request.url.path.rstrip("/").endswith("/password")
    )


def _is_api_key(request: Request[Any, Any, Any]) -> bool:
    """A request that presents an API key, in either header the API accepts (``Bearer`` or ``X-API-Key``)."""
    return request.headers.get("authorization", "").lower().startswith("bearer ") or bool(
        request.headers.get("x-api-key", "").strip()
    )


def rate_limit_configs(settings: Settings) -> list[RateLimitConfig]:
    """The limits of the app (none when a limit is set to 0)."""
    configs: list[RateLimitConfig] = []
    security = settings.security
    if security.sign_in_per_minute > 0:
        configs.append(
            RateLimitConfig(
                rate_limit=("minute", security.sign_in_per_minute),
                check_throttle_handler=_is_sign_in,
                middleware_class=SignInLimit,
                store=STORE,
            )
        )
    if security.link_per_minute > 0:
        configs.append(
            RateLimitConfig(
                rate_limit=("minute", security.link_per_minute),
                check_throttle_handler=_is_link,
                middleware_class=LinkLimit,
                store=STORE,
            )
        )
    if security.api_per_minute > 0:
        configs.append(
            RateLimitConfig(
                rate_limit=("minute", security.api_per_minute),
                check_throttle_handler=_is_api_key,
                middleware_class=ApiLimit,
                store=STORE,
            )
        )
    return configs


class _FailOpenStore(RedisStore):
    """Counters that let requests through while Redis is unreachable (the lock-outs still hold)."""

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            return await super().get(key, renew_for)
        except RedisError:
            log.warning("rate limit not checked: Redis unavailable")
            return None

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        try:
            await super().set(key, value, expires_in)
        except RedisError:
            return


def rate_limit_store(settings: Settings) -> RedisStore:
    """The shared counters, in the platform's Redis (connected on first use)."""
    client = Redis.from_url(redis_url(settings), socket_connect_timeout=1, socket_timeout=1)
    return _FailOpenStore(client, namespace="kyodo:ratelimit")
