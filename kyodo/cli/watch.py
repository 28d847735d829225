"""`kyodo watch`: alerts for the provider's operators (see kyodo.watch)."""

from __future__ import annotations

import asyncio
import sys

import click

from core.settings import get_settings
from kyodo.watch import Watcher

__all__ = ["watch"]


@click.command()
@click.option("--once", is_flag=True, help="Check once, print what is wrong, exit 1 if anything is.")
def watch(once: bool) -> None:
    """Check the service every minute; mail KYODO_ALERT_EMAILS when something goes wrong or recovers."""
    watcher = Watcher(get_settings())
    if not once:
        asyncio.run(watcher.run_forever())
        return
    alerts = asyncio.run(watcher.run_once())
    for alert in alerts:
        click.echo(f"{alert.title}: {alert.detail}")
    if not alerts:
        click.echo("異常はありません。")
    sys.exit(1 if alerts else 0)
