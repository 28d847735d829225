"""``kyodo incident``: incidents (MOR-18), recorded and recovered."""

from __future__ import annotations

import uuid

import click

from kyodo.cli.common import japan_time, run
from reporting.operations import add_incident, close_incident

__all__ = ["incident"]


@click.group()
def incident() -> None:
    """Incidents (MOR-18)."""


@incident.command("open")
@click.option("--title", required=True)
@click.option("--started", required=True, help="ISO date-time the failure began.")
@click.option("--detected", required=True, help="ISO date-time it was detected.")
@click.option("--symptom", required=True)
@click.option("--notified", default=None, help="ISO date-time members were first told (optional).")
@click.option("--member", "lg_codes", multiple=True, help="Affected member (repeat); none = every member.")
def incident_open(
    *, title: str, started: str, detected: str, symptom: str, notified: str | None, lg_codes: tuple[str, ...]
) -> None:
    """Record an incident."""
    click.echo(
        run(
            add_incident(
                title=title,
                started_at=japan_time(started),
                detected_at=japan_time(detected),
                first_notified_at=japan_time(notified) if notified else None,
                symptom=symptom,
                lg_codes=list(lg_codes),
            )
        )
    )


@incident.command("recover")
@click.argument("incident_id")
@click.option("--at", "recovered", required=True, help="ISO date-time of recovery.")
@click.option("--cause", required=True)
@click.option("--prevention", required=True)
def incident_recover(incident_id: str, recovered: str, cause: str, prevention: str) -> None:
    """Record the recovery, cause and prevention."""
    click.echo(
        run(
            close_incident(
                uuid.UUID(incident_id), recovered_at=japan_time(recovered), cause=cause, prevention=prevention
            )
        )
    )
