"""``kyodo maintenance``: planned maintenance windows, announced to members and contractors."""

from __future__ import annotations

import click

from kyodo.cli.common import japan_time, run
from reporting.operations import add_maintenance, change_notice_days
from reporting.services import MaintenanceNoticeError

__all__ = ["maintenance"]


@click.group()
def maintenance() -> None:
    """Planned maintenance windows."""


@maintenance.command("schedule")
@click.option("--consortium", "slug", required=True, help="Consortium slug.")
@click.option("--title", required=True)
@click.option("--start", required=True, help="ISO date-time (Japan time unless an offset is given).")
@click.option("--end", required=True, help="ISO date-time.")
@click.option("--description", default="")
@click.option("--emergency", is_flag=True, help="Shorter notice than the consortium requires (counts as downtime).")
def maintenance_schedule(*, slug: str, title: str, start: str, end: str, description: str, emergency: bool) -> None:
    """Announce maintenance; members and contractors are mailed."""
    try:
        message = run(
            add_maintenance(
                slug,
                title=title,
                starts_at=japan_time(start),
                ends_at=japan_time(end),
                description=description,
                emergency=emergency,
            )
        )
    except MaintenanceNoticeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(message)


@maintenance.command("notice-days")
@click.option("--consortium", "slug", required=True, help="Consortium slug.")
@click.option("--days", type=int, required=True, help="Days of notice before planned maintenance (at least 7).")
def maintenance_notice_days(*, slug: str, days: int) -> None:
    """Set how many days ahead planned maintenance must be announced (e.g. 15 for MOR-17(3))."""
    try:
        click.echo(run(change_notice_days(slug, days)))
    except (MaintenanceNoticeError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
