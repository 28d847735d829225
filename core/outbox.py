"""Transactional outbox: work that must not be lost is written with the data it is about.

A service calls :func:`enqueue` inside its transaction; the row commits or rolls
back with everything else. The relay (after each commit, and every few seconds
from beat for anything left behind, e.g. Redis was down) hands rows to Celery and
marks them sent. Delivery is at least once, so every task fed from here must be
safe to run twice (tasks take ids, re-fetch, and check state before acting).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.base import BigIntBase
from celery import Celery, current_app
from sqlalchemy import DateTime, Index, Integer, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.uow import after_commit

__all__ = ["OutboxMessage", "enqueue", "relay_pending", "set_relay_kick"]


class OutboxMessage(BigIntBase):
    """A Celery task to send once the transaction that wrote it has committed."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_pending", "created_at", postgresql_where="sent_at IS NULL"),)

    task_name: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class _Relay:
    kick: Callable[[], None] | None = None


def set_relay_kick(kick: Callable[[], None] | None) -> None:
    """How this process asks for a relay right after a commit (the wiring layer sets it; None: only beat relays)."""
    _Relay.kick = kick


def _kick_soon() -> Awaitable[None] | None:
    kick = _Relay.kick
    if kick is None:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        kick()
        return None
    # Publishing to the broker blocks (and waits out a timeout when Redis is down): not on the event loop.
    return asyncio.to_thread(kick)


def enqueue(session: AsyncSession, task_name: str, **kwargs: Any) -> OutboxMessage:
    """Add a task to the outbox in the caller's transaction (nothing is sent yet).

    Once the transaction commits the relay is asked to run at once; beat's pass
    every few seconds remains the safety net (a kick lost with Redis down).
    """
    message = OutboxMessage(task_name=task_name, kwargs=kwargs)
    session.add(message)
    after_commit(session, _kick_soon, key="outbox.relay")
    return message


async def relay_pending(session: AsyncSession, *, limit: int = 200, app: Celery | None = None) -> int:
    """Send unsent rows to Celery (``app``, default the platform's) and mark them sent; returns how many were sent.

    Rows are locked with SKIP LOCKED so that two relays never send the same row
    in the same pass; a row whose send fails keeps ``sent_at`` empty and is tried
    again on the next pass.
    """
    rows = (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    sent = 0
    for row in rows:
        row.attempts += 1
        try:
            # The task id is derived from the row, so a duplicate send after a
            # crash is recognisable in the worker and the result backend.
            (app or current_app).send_task(row.task_name, kwargs=row.kwargs, task_id=f"outbox-{row.id}-{row.attempts}")
        except Exception as exc:  # noqa: BLE001 - broker errors vary by transport
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            break
        row.sent_at = dt.datetime.now(dt.UTC)
        row.last_error = None
        sent += 1
    await session.flush()
    return sent
