"""Alembic from Python: `kyodo db ...`, the demo start-up and the test fixtures use these."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from kyodo.settings import to_psycopg_url

__all__ = ["alembic_config", "check", "downgrade", "upgrade"]

PROJECT_DIR = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None, *, configure_logging: bool = True) -> Config:
    """Alembic's configuration for this project, optionally for an explicit database."""
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "alembic"))
    if database_url:
        config.attributes["database_url"] = to_psycopg_url(database_url)
    config.attributes["configure_logging"] = configure_logging
    return config


def upgrade(database_url: str | None = None, revision: str = "head", *, quiet: bool = False) -> None:
    """Bring the schema up to ``revision``."""
    command.upgrade(alembic_config(database_url, configure_logging=not quiet), revision)


def downgrade(database_url: str | None = None, revision: str = "-1", *, quiet: bool = False) -> None:
    """Take the schema down to ``revision``."""
    command.downgrade(alembic_config(database_url, configure_logging=not quiet), revision)


def check(database_url: str | None = None) -> None:
    """Fail if the models and the migrated schema differ (``alembic check``)."""
    command.check(alembic_config(database_url))
