"""Guards: one per action, so a handler's signature says what it needs.

    @get("/staff", guards=[requires("staff", "view")])

Handlers never call the enforcer: the authentication middleware resolves the
caller's permissions once per request (from the cached domain policy) and these
guards only look them up.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from core.scope import Principal, PrincipalKind

__all__ = [
    "caller_member",
    "current_principal",
    "requires",
    "requires_login",
    "requires_member_staff",
    "requires_operator",
    "requires_secretariat",
]

NOT_SIGNED_IN = "ログインが必要です。"
NOT_ALLOWED = "この操作を行う権限がありません。必要な場合は団体管理者にご相談ください。"


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The signed-in caller, or 401."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException(detail=NOT_SIGNED_IN)
    return user


def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Any signed-in caller."""
    current_principal(connection)


def requires_member_staff(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A member's staff or API key (not the secretariat)."""
    if current_principal(connection).member_id is None:
        raise PermissionDeniedException(detail=NOT_ALLOWED)


def requires_secretariat(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The consortium's secretariat."""
    if current_principal(connection).kind is not PrincipalKind.SECRETARIAT:
        raise PermissionDeniedException(detail=NOT_ALLOWED)


def requires_operator(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The provider's operators."""
    if current_principal(connection).kind is not PrincipalKind.OPERATOR:
        raise PermissionDeniedException(detail=NOT_ALLOWED)


def requires(obj: str, act: str) -> Guard:
    """A guard that lets through callers holding ``obj:act`` in their domain."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not current_principal(connection).can(obj, act):
            raise PermissionDeniedException(detail=NOT_ALLOWED)

    guard.__name__ = f"requires_{obj}_{act}"
    guard.__qualname__ = guard.__name__
    return guard


def caller_member(request: Request[Any, Any, Any]) -> tuple[Principal, uuid.UUID]:
    """The caller and their member's id (403 for callers without a member, e.g. the secretariat)."""
    principal = current_principal(request)
    if principal.member_id is None:
        raise PermissionDeniedException(detail=NOT_ALLOWED)
    return principal, principal.member_id
