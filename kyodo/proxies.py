"""Client addresses behind a load balancer: X-Forwarded-For is believed only from a trusted proxy.

Without ``KYODO_TRUSTED_PROXIES`` the header is ignored and the peer of the TCP
connection is the client. With it, a request whose peer is one of the listed
addresses or networks takes its client address (and scheme) from
``X-Forwarded-For`` / ``X-Forwarded-Proto``, walking the list from the right and
skipping further trusted hops, as uvicorn's ``ProxyHeadersMiddleware`` (used
here) does. ``kyodo serve`` turns uvicorn's own proxy handling off so that this
is the only place that decides.
"""

from __future__ import annotations

from litestar.middleware import DefineMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["proxy_middleware"]


def proxy_middleware(trusted: tuple[str, ...]) -> list[DefineMiddleware]:
    """The middleware that applies forwarded headers from ``trusted`` peers (none when nothing is trusted)."""
    if not trusted:
        return []
    # uvicorn types its ASGI callables with its own aliases; the middleware is a plain ASGI app.
    return [DefineMiddleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted))]  # type: ignore[arg-type]
