"""The unit of work: what must happen only once a transaction has committed.

Services change rows in the caller's session and never commit; whoever owns the
session (the request, a task's :func:`core.db.session_scope`, a CLI command)
commits once. Work that must not run for a transaction that rolls back, and
must not wait for beat either, is registered with :func:`after_commit`:

* the outbox relay is kicked so that mail and sealing start at once
  (:func:`core.outbox.enqueue` registers it),
* a policy change is announced to every process (``policy.services``),
* a lease or lock taken for the transaction is released.

Hooks run after a successful commit, in the order they were registered, each
at most once per commit; a rollback discards them. A hook's failure is logged
and never undoes the commit: every hook here has a slower path that catches up
(beat relays the outbox every few seconds; policy caches expire).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["AfterCommit", "after_commit", "pending_hooks"]

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[Any] | Any]
"""A hook: a plain function, or one returning an awaitable (run on the running event loop)."""

_KEY = "kyodo.after_commit"
_background: set[asyncio.Task[Any]] = set()


def after_commit(session: AsyncSession | Session, hook: AfterCommit, *, key: str | None = None) -> None:
    """Run ``hook`` once the session's current transaction has committed.

    ``key`` makes the registration idempotent within one transaction: a second
    hook with the same key is ignored (one outbox kick however many rows).
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    hooks: dict[str, AfterCommit] = sync.info.setdefault(_KEY, {})
    hooks.setdefault(key or f"hook-{id(hook)}-{len(hooks)}", hook)


def pending_hooks(session: AsyncSession | Session) -> list[str]:
    """Keys of the hooks waiting for the current transaction (for tests and diagnostics)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    return list(sync.info.get(_KEY, {}))


def _run(hook: AfterCommit) -> None:
    try:
        result = hook()
    except Exception:
        log.exception("after-commit hook failed")
        return
    if inspect.isawaitable(result):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("after-commit hook returned an awaitable outside an event loop; it was not run")
            return

        async def _guarded() -> None:
            try:
                await result
            except Exception:
                log.exception("after-commit hook failed")

        task = loop.create_task(_guarded())
        _background.add(task)
        task.add_done_callback(_background.discard)


@event.listens_for(Session, "after_commit")
def _run_hooks(session: Session) -> None:
    hooks: dict[str, AfterCommit] = session.info.pop(_KEY, {})
    for hook in hooks.values():
        _run(hook)


@event.listens_for(Session, "after_soft_rollback")
def _drop_hooks(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_KEY, None)
