"""Middleware of the platform shell."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

from core.i18n import CALENDAR_COOKIE, CALENDARS, LOCALE_COOKIE, LOCALES, current_calendar, current_locale

__all__ = ["locale_middleware", "request_id", "request_id_middleware", "security_headers_middleware"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # style attributes place text boxes over page previews; htmx adds its indicator style.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""No script but the platform's own files (no inline script, no other origin); never framed."""
_DOCS_POLICY = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
"""The API reference at /schema renders with its own scripts: it may not be framed either."""


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if name in jar:
                return jar[name].value
    return None


def locale_middleware(app: ASGIApp, default_locale: str = "ja") -> ASGIApp:
    """Set the request's language and calendar: the user's cookies, else Japanese with 令和."""
    default = default_locale if default_locale in LOCALES else "ja"

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        chosen = _cookie(scope, LOCALE_COOKIE)
        token = current_locale.set(chosen if chosen in LOCALES else default)
        calendar = _cookie(scope, CALENDAR_COOKIE)
        calendar_token = current_calendar.set(calendar if calendar in CALENDARS else "")
        try:
            await app(scope, receive, send)
        finally:
            current_calendar.reset(calendar_token)
            current_locale.reset(token)

    return middleware


def security_headers_middleware(app: ASGIApp, *, hsts: bool = False) -> ASGIApp:
    """Headers every response carries (IPA「安全なウェブサイトの作り方」, SEC-1).

    CSP without inline script and ``frame-ancestors 'none'`` with ``X-Frame-Options``
    (a contractor's agree page cannot be framed for clickjacking), ``nosniff``,
    ``Referrer-Policy: no-referrer`` (personal links ``/c/<token>`` never leak through a
    Referer), ``Cache-Control: no-store`` on every page and API answer that is not a
    static file (contract data must not stay in shared or browser caches), and HSTS
    when cookies are Secure, that is behind TLS. Headers a handler set itself win.
    """
    fixed = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if hsts:
        fixed.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http",):
            await app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = _DOCS_POLICY if path.startswith("/schema") else CONTENT_SECURITY_POLICY
        static = path.startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                extra = [*fixed, (b"content-security-policy", policy.encode())]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


REQUEST_ID_HEADER = b"x-request-id"


def request_id(scope: Scope) -> str:
    """The id of the request being answered (logged with its errors, shown to the user on a 500)."""
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request a short id, returned as ``X-Request-ID`` and written into every error log line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http",):
            await app(scope, receive, send)
            return
        identifier = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = identifier

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (REQUEST_ID_HEADER, identifier.encode())],
                }
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware
