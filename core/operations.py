"""Operations a lower domain reports for the member's operation log, without depending on it.

The operation log lives in ``tenants`` (:mod:`tenants.oplog`); ``policy`` sits
beside it and cannot import it. A request's session carries a recorder
(installed by :func:`tenants.oplog.bind`), and :func:`note` hands an operation to
it: role definitions and assignments changed through ``policy`` land in the same
hash chain as every other administrative change. Without a recorder (a script
working directly on the database) nothing is noted.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["Recorder", "install", "note"]

Recorder = Callable[[AsyncSession, uuid.UUID, str, str, Mapping[str, Any]], Awaitable[object]]
"""``(session, member_id, kind, target, detail)``; ``kind`` is a value of ``tenants.models.OperationKind``."""

_KEY = "kyodo.operations.recorder"


def install(session: AsyncSession, recorder: Recorder | None) -> None:
    """Let operations noted on ``session`` be recorded by ``recorder`` (None: by nobody)."""
    if recorder is None:
        session.info.pop(_KEY, None)
    else:
        session.info[_KEY] = recorder


async def note(
    session: AsyncSession, member_id: uuid.UUID, kind: str, target: str, detail: Mapping[str, Any] | None = None
) -> None:
    """Hand an operation (``created``, ``changed``, ``deleted`` …) to the session's recorder, if any."""
    recorder = session.info.get(_KEY)
    if recorder is not None:
        await recorder(session, member_id, kind, target, dict(detail or {}))
