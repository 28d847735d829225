"""Authentication middleware: who is calling, from where, and is the request genuine.

For every request except public paths it resolves the caller from the session
cookie (staff, secretariat) or an API key (``Authorization: Bearer kyd_…``),
refuses callers outside their member's IP ranges with a clear page, and puts a
:class:`~core.scope.Principal` in ``scope["user"]`` for the guards.

Cross-site request forgery: HTML forms are protected by Litestar's CSRF
middleware (double-submit cookie). The JSON API is excluded from it and instead
accepts cookie sessions only with the ``X-CSRFToken`` header equal to the CSRF
cookie, which another site cannot read or set; API keys need no cookie at all.
"""

from __future__ import annotations

import contextlib
from http.cookies import SimpleCookie
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.response import Redirect, Response, Template
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import gettext as _
from core.web import client_ip
from policy.engine import engine as policy_engine
from tenants.auth import PrincipalLookup, authenticate_api_key, load_principal
from tenants.sessions import SESSION_COOKIE, session_store

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "PUBLIC_PREFIXES", "authentication_middleware"]

CSRF_COOKIE = "kyodo_csrf"
CSRF_HEADER = "x-csrftoken"
PUBLIC_PREFIXES = ("/health/", "/static/", "/schema", "/favicon", "/verify", "/metrics")
"""Paths that never need or look at a caller."""
SIGN_IN_PATHS = ("/login", "/logout", "/language", "/calendar")
"""Paths that must work whatever the current session (to sign in as someone else)."""
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD_CHANGE_PATH = "/account/password"  # noqa: S105 - a path, not a password
OPEN_BEFORE_PASSWORD_CHANGE = (*SIGN_IN_PATHS, PASSWORD_CHANGE_PATH, "/status", "/c/", "/dev/")
"""What a person who must replace a password someone else chose may still open."""


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            # A malformed cookie header means "no cookies", not an error page.
            with contextlib.suppress(Exception):
                jar.load(value.decode("latin-1"))
    return {k: m.value for k, m in jar.items()}


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _api_key(scope: Scope) -> str:
    auth = _header(scope, b"authorization")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return _header(scope, b"x-api-key").strip()


async def _refuse(scope: Scope, receive: Receive, send: Send, *, status: int, message: str) -> None:
    request: Request[Any, Any, Any] = Request(scope, receive)
    response: Response[Any]
    if scope["path"].startswith("/api/"):
        response = Response({"status_code": status, "detail": message}, status_code=status)
    else:
        response = Template(
            "error.html", context={"title": _("Access refused"), "message": message}, status_code=status
        )
    asgi = response.to_asgi_response(None, request)
    await asgi(scope, receive, send)


async def _must_change_password(scope: Scope, receive: Receive, send: Send) -> None:
    """Pages lead to the password change; the JSON API answers 403 with the reason."""
    if scope["path"].startswith("/api/"):
        await _refuse(
            scope,
            receive,
            send,
            status=403,
            message=_("Please change the password your administrator gave you before going on."),
        )
        return
    request: Request[Any, Any, Any] = Request(scope, receive)
    asgi = Redirect(path=PASSWORD_CHANGE_PATH, status_code=303).to_asgi_response(None, request)
    await asgi(scope, receive, send)


def authentication_middleware(app: ASGIApp) -> ASGIApp:
    """The ASGI middleware (see the module docstring)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(PUBLIC_PREFIXES):
            await app(scope, receive, send)
            return
        litestar_app = scope["litestar_app"]
        state: State = litestar_app.state
        cookies = _cookies(scope)
        api_key = _api_key(scope) if scope["path"].startswith("/api/") else ""
        token = cookies.get(SESSION_COOKIE, "")
        lookup = PrincipalLookup()
        via = ""
        if api_key or token:
            maker = state[state.session_maker_key]
            session: AsyncSession = maker()
            try:
                if api_key:
                    via = "apikey"
                    lookup = await authenticate_api_key(session, api_key, policy_engine, ip=client_ip(scope))
                else:
                    data = await session_store(state).get(token)
                    if data is not None:
                        via = "session"
                        lookup = await load_principal(
                            session, data, policy_engine, ip=client_ip(scope), security=state.settings.security
                        )
                        scope.setdefault("state", {})["session_data"] = data
                await session.commit()
            finally:
                await session.close()
        if lookup.ip_refused and scope["path"] not in SIGN_IN_PATHS:
            await _refuse(
                scope,
                receive,
                send,
                status=403,
                message=_(
                    "Access from this network ({ip}) is not allowed for your organisation. "
                    "Please connect from your office network, or ask your administrator."
                ).format(ip=client_ip(scope)),
            )
            return
        if api_key and lookup.principal is None:
            await _refuse(scope, receive, send, status=401, message=_("The API key is not valid or was revoked."))
            return
        if (
            via == "session"
            and scope["path"].startswith("/api/")
            and scope.get("method", "GET") in _UNSAFE
            and (not cookies.get(CSRF_COOKIE) or _header(scope, CSRF_HEADER.encode()) != cookies.get(CSRF_COOKIE))
        ):
            await _refuse(
                scope, receive, send, status=403, message=_("The request could not be verified. Reload the page.")
            )
            return
        if (
            via == "session"
            and lookup.principal is not None
            and lookup.principal.must_change_password
            and not scope["path"].startswith(OPEN_BEFORE_PASSWORD_CHANGE)
        ):
            await _must_change_password(scope, receive, send)
            return
        scope["user"] = lookup.principal
        scope["auth"] = {"via": via, "token": token if via == "session" else ""}
        await app(scope, receive, send)

    return middleware
