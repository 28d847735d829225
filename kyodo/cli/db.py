"""``kyodo db``: the database schema (Alembic)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import click
from alembic import command

from core.runtime import database_admin_url, database_url
from core.settings import Settings, get_settings
from kyodo.migrations import alembic_config, check, downgrade, upgrade
from kyodo.supervisor import embedded_services

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate up to REVISION (default: head)."""
    settings = get_settings()
    upgrade(database_admin_url(settings), revision, app_url=database_url(settings))


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. -1 or base)."""
    downgrade(database_admin_url(get_settings()), revision)


@db.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    command.current(alembic_config(), verbose=True)


@db.command("check")
def db_check() -> None:
    """Fail if the models need a migration. Uses a throw-away embedded database when none is set."""
    settings = get_settings()
    if settings.database.url:
        admin = settings.database.admin_url or settings.database.url
        upgrade(admin, quiet=True)
        check(admin)
        return
    with tempfile.TemporaryDirectory(prefix="kyodo-check-") as tmp:
        throwaway = Settings(
            app=dataclasses.replace(settings.app, data_dir=Path(tmp)),
            redis=dataclasses.replace(settings.redis, url="redis://unused"),
        )
        with embedded_services(throwaway) as running:
            upgrade(running.database_admin_url, quiet=True)
            check(running.database_admin_url)
