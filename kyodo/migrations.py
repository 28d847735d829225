"""Alembic from Python: `kyodo db ...`, the demo start-up and the test fixtures use these.

Migrations run as the schema owner (``KYODO_DATABASE_ADMIN_URL``). Afterwards the
application role (the user in ``KYODO_DATABASE_URL``) is granted what it needs and
no more: no DDL, and no UPDATE or DELETE on append-only tables.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from core.db import append_only_tables
from core.settings import to_psycopg_url
from kyodo.models import metadata

__all__ = ["alembic_config", "check", "downgrade", "grant_app_role", "upgrade"]

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def alembic_config(database_url: str | None = None, *, configure_logging: bool = True) -> Config:
    """Alembic's configuration for this project, optionally for an explicit database."""
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "alembic"))
    if database_url:
        config.attributes["database_url"] = to_psycopg_url(database_url)
    config.attributes["configure_logging"] = configure_logging
    return config


def grant_app_role(admin_url: str, app_url: str) -> None:
    """Give the application role data access (not DDL) to every table of the schema."""
    role = make_url(to_psycopg_url(app_url)).username
    owner = make_url(to_psycopg_url(admin_url)).username
    if not role or role == owner:
        return
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))
        # Functions of the schema (e.g. the purge of a leaving member's append-only rows) check their own rules.
        conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {}").format(ident))
        for table in append_only_tables(metadata):
            # A schema migrated only part of the way may not have the table yet.
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()
            if exists and exists[0]:
                conn.execute(sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(sql.Identifier(table), ident))


def upgrade(
    admin_url: str | None = None,
    revision: str = "head",
    *,
    app_url: str | None = None,
    quiet: bool = False,
) -> None:
    """Bring the schema up to ``revision`` and grant the application role its access."""
    command.upgrade(alembic_config(admin_url, configure_logging=not quiet), revision)
    if admin_url and app_url:
        grant_app_role(admin_url, app_url)


def downgrade(admin_url: str | None = None, revision: str = "-1", *, quiet: bool = False) -> None:
    """Take the schema down to ``revision``."""
    command.downgrade(alembic_config(admin_url, configure_logging=not quiet), revision)


def check(admin_url: str | None = None) -> None:
    """Fail if the models and the migrated schema differ (``alembic check``)."""
    command.check(alembic_config(admin_url))
