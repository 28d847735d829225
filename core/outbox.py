"""Transactional outbox: work that must not be lost is written with the data it is about.

A service calls :func:`enqueue` inside its transaction; the row commits or rolls
back with everything else. The relay hands rows to Celery and marks them sent:
right after each commit (in a web process on its own event loop, see
:class:`InlineRelay`; elsewhere through a relay task a worker runs) and every few
seconds from beat for anything left behind (e.g. Redis was down). Delivery is at
least once, so every task fed from here must be safe to run twice (tasks take
ids, re-fetch, and check state before acting).

A task whose work cannot be checked afterwards (a mail: an SMTP server keeps no
state we can ask) may **lease** its row instead (:func:`lease_on_hand_over`). The
relay then gives the row a lease with the hand-over, the task claims the row for
itself with one atomic ``UPDATE`` before it acts (:func:`claim`), extends the lease
past a retry's countdown (:func:`release`) and records the result (:func:`finish`).
A row whose lease ran out without a result (its worker was killed, hung, or the
broker lost the task) is handed over again (:func:`take_lapsed`), long before
the broker's visibility timeout would hand the unacknowledged task to another worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from advanced_alchemy.base import BigIntBase
from celery import Celery, current_app
from sqlalchemy import DateTime, Index, Integer, String, Text, case, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.uow import after_commit

__all__ = [
    "InlineRelay",
    "LeasedRow",
    "OutboxMessage",
    "claim",
    "enqueue",
    "finish",
    "lease_on_hand_over",
    "relay_pending",
    "release",
    "row_of_task",
    "set_relay_here",
    "set_relay_kick",
    "take_lapsed",
]

log = logging.getLogger(__name__)


class OutboxMessage(BigIntBase):
    """A Celery task to send once the transaction that wrote it has committed."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_pending", "created_at", postgresql_where="sent_at IS NULL"),
        Index(
            "ix_outbox_message_leased",
            "lease_until",
            postgresql_where="finished_at IS NULL AND lease_until IS NOT NULL",
        ),
    )

    task_name: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Leased rows only: until when the current hand-over or attempt may stay silent."""
    lease_holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The attempt that claimed the row (None: handed over, not claimed yet)."""
    lapses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How often the lease ran out without a result and the row was handed over again."""
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Leased rows only: when the task recorded its result; the row is never handed over again."""
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """Leased rows only: the task's result (the mail task: ``sent``, ``refused``, ``failed``, ``abandoned``)."""


class _Relay:
    kick: Callable[[], None] | None = None
    here: Callable[[], None] | None = None
    leased: ClassVar[dict[str, Callable[[], int]]] = {}


def lease_on_hand_over(task_name: str, seconds: Callable[[], int]) -> None:
    """Rows of ``task_name`` are leased: the relay gives each a lease of ``seconds()`` when it hands it over."""
    _Relay.leased[task_name] = seconds


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
            lease = _Relay.leased.get(row.task_name)
            if lease is not None:
                # The task must claim the row within the lease, or the row is handed over again.
                row.lease_until = row.sent_at + dt.timedelta(seconds=lease())
                row.lease_holder = None
            sent += 1
        return sent

    # Publishing blocks on the broker (and waits out a timeout when Redis is down): not on the event loop.
    sent = await asyncio.to_thread(publish)
    await session.flush()
    return sent


def row_of_task(task_id: str) -> tuple[int, int] | None:
    """The outbox row and the hand-over number of a task id ``outbox-<row>-<n>``; None for any other id."""
    parts = task_id.split("-")
    if len(parts) != 3 or parts[0] != "outbox" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


_NOW = func.clock_timestamp()
"""The database's clock, so that every node agrees on when a lease ran out."""


def _seconds(seconds: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def claim(session: AsyncSession, row_id: int, hand_over: int, holder: str, seconds: float) -> bool:
    """Claim a leased row for the attempt ``holder`` for ``seconds``; False: someone else has it, or it is finished.

    One ``UPDATE``: of two attempts at once exactly one wins. An attempt may claim
    the row when it is the current hand-over not claimed yet, when it already holds
    the row, or when the lease has run out (whoever held it went silent).

    The relay publishes a task before it commits, so the task may claim first. The
    ``UPDATE`` therefore finds the row by its id alone, waits for the relay's row
    lock, and decides on the committed row (in the ``SET``): a condition in the
    ``WHERE`` would be judged on the row as it was before the relay's commit.
    """
    claimable = OutboxMessage.finished_at.is_(None) & (
        (OutboxMessage.lease_holder.is_(None) & (OutboxMessage.attempts == hand_over))
        | (OutboxMessage.lease_holder == holder)
        | (OutboxMessage.lease_until < _NOW)
    )
    now_holder = await session.scalar(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(
            lease_holder=case((claimable, holder), else_=OutboxMessage.lease_holder),
            lease_until=case((claimable, _NOW + _seconds(seconds)), else_=OutboxMessage.lease_until),
        )
        .returning(OutboxMessage.lease_holder)
    )
    return now_holder == holder


async def release(session: AsyncSession, row_id: int, holder: str, seconds: float) -> bool:
    """Let go of a claimed row for a retry, keeping the lease ``seconds`` (the retry's countdown and a lease).

    The retry (the same task id) claims the row again as the current hand-over;
    if it never comes, the lease runs out and the row is handed over again.
    """
    released = await session.scalar(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.lease_holder == holder)
        .where(OutboxMessage.finished_at.is_(None))
        .values(lease_holder=None, lease_until=_NOW + _seconds(seconds))
        .returning(OutboxMessage.id)
    )
    return released is not None


async def finish(session: AsyncSession, row_id: int, outcome: str, error: str | None = None) -> None:
    """Record a leased row's result: it is never handed over again."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.finished_at.is_(None))
        .values(finished_at=_NOW, outcome=outcome, lease_holder=None, last_error=error[:2000] if error else None)
    )


@dataclass(frozen=True)
class LeasedRow:
    """A row whose lease ran out, as :func:`take_lapsed` took it."""

    id: int
    task_name: str
    kwargs: dict[str, Any]
    attempts: int
    lapses: int
    task_id: str


async def take_lapsed(session: AsyncSession, task_name: str, seconds: float, *, limit: int = 100) -> list[LeasedRow]:
    """Take rows of ``task_name`` whose lease ran out without a result, to be handed over again.

    Each row gets the next hand-over number (:attr:`LeasedRow.task_id`) and a fresh
    lease of ``seconds`` in one ``UPDATE`` (rows another pass holds are skipped), so
    two beat ticks never take the same row twice. The caller commits, then sends
    the tasks; a task that is never sent leaves the lease to run out again. The
    task of an earlier hand-over, should the broker deliver it after all, finds the
    row claimed or finished and does nothing.
    """
    lapsed = (
        select(OutboxMessage.id)
        .where(OutboxMessage.task_name == task_name)
        .where(OutboxMessage.finished_at.is_(None), OutboxMessage.sent_at.is_not(None))
        .where(OutboxMessage.lease_until < _NOW)
        .order_by(OutboxMessage.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = (
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(lapsed))
            .values(
                attempts=OutboxMessage.attempts + 1,
                lapses=OutboxMessage.lapses + 1,
                lease_holder=None,
                lease_until=_NOW + _seconds(seconds),
            )
            .returning(
                OutboxMessage.id,
                OutboxMessage.task_name,
                OutboxMessage.kwargs,
                OutboxMessage.attempts,
                OutboxMessage.lapses,
            )
        )
    ).all()
    return [
        LeasedRow(row_id, name, kwargs, attempts, lapses, f"outbox-{row_id}-{attempts}")
        for row_id, name, kwargs, attempts, lapses in taken
    ]
