"""``kyodo incident``: incidents (MOR-18), recorded and recovered."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from core.errors import ServiceError
from kyodo.cli.common import japan_time, run
from reporting.operations import add_incident, add_progress_entry, close_incident, incident_report, review
from reporting.services import SEVERITIES

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
@click.option("--severity", type=click.Choice(SEVERITIES), default="major", show_default=True)
def incident_open(
    *,
    title: str,
    started: str,
    detected: str,
    symptom: str,
    notified: str | None,
    lg_codes: tuple[str, ...],
    severity: str,
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
                severity=severity,
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


@incident.command("progress")
@click.argument("incident_id")
@click.option("--note", required=True, help="What was found or done.")
@click.option("--at", "at", default=None, help="ISO date-time (default: now).")
@click.option("--by", default="operator", help="Who writes it.")
def incident_progress(incident_id: str, note: str, at: str | None, by: str) -> None:
    """Write one entry of the incident's progress (経緯)."""
    try:
        click.echo(run(add_progress_entry(uuid.UUID(incident_id), note=note, by=by, at=japan_time(at) if at else None)))
    except (ServiceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@incident.command("review")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True)
def incident_review(days: int) -> None:
    """The weekly incident review: every incident of the last DAYS days with severity, scope and 経緯."""
    for line in run(review(days)):
        click.echo(line)


@incident.command("report")
@click.argument("incident_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PDF file to write.")
@click.option("--lang", "locale", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
def incident_report_command(incident_id: str, out: Path, locale: str) -> None:
    """The serious-incident report (重大障害報告書, OPS 5.2.1④) of an incident as a PDF."""
    try:
        pdf = run(incident_report(uuid.UUID(incident_id), locale=locale))
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(pdf)
    click.echo(str(out))
