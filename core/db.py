"""Database engine, sessions and the declarative base shared by every domain.

HTTP handlers get their session from the SQLAlchemy plugin (committed by the
``autocommit_include_redirects`` before-send handler when the response is 2xx/3xx). Celery tasks and
CLI commands use :func:`session_scope`, the one helper that opens a session
outside a request.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.base import orm_registry
from sqlalchemy import ForeignKey, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from core.runtime import database_url
from core.scope import elevated
from core.settings import Settings, get_settings, to_psycopg_url

__all__ = [
    "APPEND_ONLY",
    "MemberOwned",
    "append_only_tables",
    "complete_metadata",
    "create_engine",
    "mark_metadata_complete",
    "metadata",
    "per_transaction",
    "session_scope",
    "system_session",
]

metadata: MetaData = orm_registry.metadata
"""The one metadata every model registers in; Alembic compares against it."""


def per_transaction(session: AsyncSession, name: str) -> dict[Any, Any]:
    """A dictionary that lives as long as the session's current transaction (or savepoint).

    For what a transaction learned and may reuse until it ends, e.g. the tail of an
    audit chain it holds the lock of. A commit, a rollback or a savepoint (begun,
    released or rolled back) gives the next caller an empty one.
    """
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    key = f"kyodo.per_transaction.{name}"
    found = sync.info.get(key)
    if found is None or found[0] is not transaction:
        found = (transaction, {})
        sync.info[key] = found
    values: dict[Any, Any] = found[1]
    return values


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """An async engine on psycopg 3 for the configured (or embedded) PostgreSQL."""
    options: dict[str, Any] = {
        "pool_size": settings.database.pool_size,
        "max_overflow": settings.database.pool_size,
        "pool_pre_ping": True,
        "echo": settings.database.echo,
    }
    options.update(overrides)
    return create_async_engine(to_psycopg_url(database_url(settings)), **options)


_engines: dict[tuple[int, str], AsyncEngine] = {}


def _process_engine(settings: Settings) -> AsyncEngine:
    # One engine per process and database: Celery forks workers, and an engine
    # (with its pooled connections) must never cross a fork.
    key = (os.getpid(), database_url(settings))
    engine = _engines.get(key)
    if engine is None:
        engine = create_engine(settings, pool_size=2, max_overflow=4)
        for stale in [k for k in _engines if k[0] != key[0]]:
            del _engines[stale]
        _engines[key] = engine
    return engine


@asynccontextmanager
async def session_scope(settings: Settings | None = None) -> AsyncIterator[AsyncSession]:
    """A session for tasks and commands: committed on success, rolled back on error."""
    engine = _process_engine(settings or get_settings())
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


class MemberOwned:
    """Mixin: the row belongs to one member (and row-level security enforces it)."""

    @declared_attr
    def member_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)


APPEND_ONLY = "append_only"
"""``Table.info`` flag: the application may only read and insert (audit trails, issued reports)."""


def append_only_tables(meta: MetaData | None = None) -> list[str]:
    """Tables flagged ``info={"append_only": True}`` in their ``__table_args__``."""
    return sorted(t.name for t in (meta or metadata).sorted_tables if t.info.get(APPEND_ONLY))


class _Completeness:
    complete = False


def mark_metadata_complete() -> None:
    """Called by the wiring layer once every domain's models are imported (``kyodo.models``)."""
    _Completeness.complete = True


def complete_metadata() -> MetaData:
    """The metadata with every domain's tables, for code that walks all tables (leaving, test data).

    Raises:
        RuntimeError: the process has not imported every domain's models yet.
    """
    if not _Completeness.complete:
        raise RuntimeError("every domain's models must be imported first (import kyodo.models)")
    return metadata


@asynccontextmanager
async def system_session(settings: Settings | None = None) -> AsyncIterator[AsyncSession]:
    """A session of its own that sees every member's rows, committed while it still does.

    For tasks and operator commands. The commit comes before
    :func:`core.scope.elevated` gives the scope back, so rows written here are
    checked by row-level security with system access, not with nobody's. An
    error rolls everything back.
    """
    async with session_scope(settings) as session, elevated(session):
        yield session
        await session.commit()
