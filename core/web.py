"""What a request handler of any domain needs to know about the connection."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from litestar.types import Scope

from core.errors import Conflict, Forbidden, Gone, Locked, NotFound, ServiceError, TooLarge, Unavailable, Unprocessable

__all__ = ["Confirmation", "client_ip", "status_of"]


@dataclass(frozen=True)
class Confirmation:
    """The question of a confirmation page (``confirm.html``), asked before an action that cannot be undone."""

    heading: str
    what: list[str]
    """What happens, sentence by sentence."""
    who: list[str] = field(default_factory=list)
    """The people or entries concerned (those mailed, the title signed under, the entry deleted)."""
    who_heading: str = ""
    button: str = ""
    destructive: bool = False


def client_ip(scope: Scope) -> str | None:
    """The caller's IP address (uvicorn has already applied trusted proxy headers), if it is one."""
    client = scope.get("client")
    if not client:
        return None
    try:
        return str(ipaddress.ip_address(client[0]))
    except ValueError:
        return None


_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (TooLarge, 413),
    (Unprocessable, 422),
    (Conflict, 409),
    (NotFound, 404),
    (Gone, 410),
    (Forbidden, 403),
    (Locked, 423),
    (Unavailable, 503),
)
"""HTTP status of each kind of service error (the services know nothing of HTTP); anything else is 400."""


def status_of(exc: ServiceError) -> int:
    """The HTTP status that answers ``exc``."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
