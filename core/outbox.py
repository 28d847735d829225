"""Transactional outbox: work that must not be lost is written with the data it is about.

A service calls :func:`enqueue` inside its transaction; the row commits or rolls
back with everything else. The relay hands rows to Celery and marks them sent:
right after each commit (in a web process on its own event loop, see
:class:`InlineRelay`; elsewhere through a relay task a worker runs) and every few
seconds from beat for anything left behind (e.g. Redis was down). Delivery is at
least once, so every task fed from here must be safe to run twice (tasks take
ids, re-fetch, and check state before acting).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.base import BigIntBase
from celery import Celery, current_app
from sqlalchemy import DateTime, Index, Integer, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.uow import after_commit

__all__ = ["InlineRelay", "OutboxMessage", "enqueue", "relay_pending", "set_relay_here", "set_relay_kick"]

log = logging.getLogger(__name__)


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
    here: Callable[[], None] | None = None


def set_relay_kick(kick: Callable[[], None] | None) -> None:
    """How this process asks for a relay right after a commit (the wiring layer sets it; None: only beat relays)."""
    _Relay.kick = kick


def set_relay_here(relay: Callable[[], None] | None) -> None:
    """Relay in this process after each commit (an :class:`InlineRelay`), instead of kicking a relay task.

    Set by a web process for as long as it serves; None goes back to the kick.
    """
    _Relay.here = relay


def _kick_soon() -> Awaitable[None] | None:
    here = _Relay.here
    if here is not None:
        here()
        return None
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


class InlineRelay:
    """Relays the outbox on one event loop (a web process's), one pass at a time.

    Called after a commit from any thread or loop; the pass always runs on the loop
    the relay was made on, with that loop's sessions. Commits during a pass ask for
    one more pass instead of starting a second one, so a burst of requests costs a
    few relay passes, not one per request, and never a pile of database connections.
    Compared with a relay task this saves a worker hop per message: the mail or seal
    task is on the broker the moment the request that asked for it has committed.
    A pass that fails (database or Redis away) is logged and left to beat.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], app: Celery, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._sessions = sessions
        self._app = app
        self._loop = loop
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.passes = 0
        """Passes run so far (for tests and diagnostics)."""

    def __call__(self) -> None:
        if self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._start()
        else:
            self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            self.passes += 1
            try:
                async with self._sessions() as session, session.begin():
                    await relay_pending(session, app=self._app)
            except Exception as exc:  # noqa: BLE001 - beat relays what this pass left behind
                log.warning("outbox relay after commit failed (beat will relay): %s", exc)
                return
            if not self._again:
                return

    async def drain(self) -> None:
        """Wait for the pass under way, if any (at shutdown)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


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
    if not rows:
        return 0
    sender: Celery = app or current_app

    def publish() -> int:
        sent = 0
        for row in rows:
            row.attempts += 1
            try:
                # The task id is derived from the row, so a duplicate send after a
                # crash is recognisable in the worker and the result backend.
                sender.send_task(row.task_name, kwargs=row.kwargs, task_id=f"outbox-{row.id}-{row.attempts}")
            except Exception as exc:  # noqa: BLE001 - broker errors vary by transport
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                break
            row.sent_at = dt.datetime.now(dt.UTC)
            row.last_error = None
            sent += 1
        return sent

    # Publishing blocks on the broker (and waits out a timeout when Redis is down): not on the event loop.
    sent = await asyncio.to_thread(publish)
    await session.flush()
    return sent
