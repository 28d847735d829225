"""Database engine, sessions and the declarative base shared by every domain.

HTTP handlers get their session from the SQLAlchemy plugin (committed by the
``autocommit_include_redirects`` before-send handler when the response is 2xx/3xx). Celery tasks and
CLI commands use :func:`session_scope`, the one helper that opens a session
outside a request.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.base import orm_registry
from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from kyodo.runtime import database_url
from kyodo.settings import Settings, get_settings, to_psycopg_url

__all__ = [
    "alchemy_config",
    "create_engine",
    "metadata",
    "session_scope",
]

metadata: MetaData = orm_registry.metadata
"""The one metadata every model registers in; Alembic compares against it."""


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


def alchemy_config(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    session_maker: Callable[[], AsyncSession] | None = None,
) -> SQLAlchemyAsyncConfig:
    """The Litestar plugin configuration: one engine per process, autocommit on success."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine or create_engine(settings),
        session_maker=session_maker,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        engine_config=EngineConfig(),
        # Redirects after a form post (303) commit too: the post-redirect-get pattern.
        before_send_handler="autocommit_include_redirects",
        create_all=False,
        # Handlers get the member-scoped session from kyodo.dependencies under the
        # usual name "db_session"; the raw one stays internal.
        session_dependency_key="raw_db_session",
    )


_engines: dict[int, AsyncEngine] = {}


def _process_engine(settings: Settings) -> AsyncEngine:
    # One engine per process and event loop: Celery forks workers, and an engine
    # (with its pooled connections) must never cross a fork.
    key = os.getpid()
    engine = _engines.get(key)
    if engine is None:
        engine = create_engine(settings, pool_size=2, max_overflow=4)
        _engines.clear()
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
