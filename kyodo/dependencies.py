"""Dependencies every handler can ask for by name.

``db_session`` is the request's session already scoped to the caller's member:
row-level security then shows it nothing of any other member. Handlers never
scope sessions themselves.

``operator_session`` is the same session with system access, and exists only for
the provider's operators (whose screens act on every member's figures): for
anyone else asking for it the request is refused.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import Principal, PrincipalKind, elevated, for_member
from core.web import client_ip
from policy.guards import NOT_ALLOWED
from tenants import oplog

__all__ = ["RAW_SESSION_KEY", "dependencies"]

RAW_SESSION_KEY = "raw_db_session"
"""The SQLAlchemy plugin's unscoped session; only :func:`provide_db_session` uses it."""


async def provide_db_session(
    raw_db_session: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
) -> AsyncSession:
    """The request's session, scoped to the caller's member (or to no member at all)."""
    user = request.scope.get("user")
    await for_member(raw_db_session, user.member_id if isinstance(user, Principal) else None)
    # Operations the request records (tenants.oplog) name this caller and address.
    ip, agent = client_ip(request.scope), request.headers.get("user-agent", "")
    oplog.bind(raw_db_session, oplog.Who.of(user, ip=ip, user_agent=agent) if isinstance(user, Principal) else None)
    return raw_db_session


async def provide_operator_session(
    raw_db_session: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
) -> AsyncGenerator[AsyncSession, None]:
    """The request's session with system access, for an operator only (the scope ends with the request)."""
    user = request.scope.get("user")
    if not isinstance(user, Principal) or user.kind is not PrincipalKind.OPERATOR:
        raise PermissionDeniedException(detail=NOT_ALLOWED)
    async with elevated(raw_db_session):
        yield raw_db_session


def dependencies() -> dict[str, Provide]:
    """Dependencies registered on the application."""
    return {"db_session": Provide(provide_db_session), "operator_session": Provide(provide_operator_session)}
