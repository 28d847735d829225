"""Middleware of the platform shell."""

from __future__ import annotations

from http.cookies import SimpleCookie

from litestar.types import ASGIApp, Receive, Scope, Send

from kyodo.i18n import LOCALE_COOKIE, LOCALES, current_locale

__all__ = ["locale_middleware"]


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if name in jar:
                return jar[name].value
    return None


def locale_middleware(app: ASGIApp, default_locale: str = "ja") -> ASGIApp:
    """Set the request's language: the user's cookie, else the platform default (Japanese)."""
    default = default_locale if default_locale in LOCALES else "ja"

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        chosen = _cookie(scope, LOCALE_COOKIE)
        token = current_locale.set(chosen if chosen in LOCALES else default)
        try:
            await app(scope, receive, send)
        finally:
            current_locale.reset(token)

    return middleware
