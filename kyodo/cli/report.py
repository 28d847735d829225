"""``kyodo report``: monthly SLA and performance reports."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import click

from core.errors import ServiceError
from kyodo.cli.common import run
from reporting.figures import parse_month
from reporting.operations import add_plan, change_targets, generate

__all__ = ["report"]


@click.group()
def report() -> None:
    """Monthly SLA and performance reports."""


@report.command("generate")
@click.option("--month", required=True, help="Month, e.g. 2026-10.")
@click.option("--member", "lg_code", default=None, help="Only this member (local government code, e.g. 032018).")
@click.option(
    "--draft", "draft_dir", type=click.Path(path_type=Path), default=None, help="Write drafts here; issue nothing."
)
@click.option("--by", "issued_by", default="operator", help="Who issues (kept with the report).")
def report_generate(month: str, lg_code: str | None, draft_dir: Path | None, issued_by: str) -> None:
    """Issue the reports of MONTH (a report with a missed target needs a plan first).

    Exits 1 when a report that was due was not issued (the lines say why), so a
    scheduler or an operator notices.
    """
    lines = run(generate(parse_month(month), lg_code=lg_code, draft_dir=draft_dir, issued_by=issued_by))
    for line in lines:
        click.echo(line)
    if draft_dir is None and not any(": issued" in line for line in lines):
        sys.exit(1)
    if any("NOT issued" in line for line in lines):
        sys.exit(1)


@report.command("plan")
@click.option("--month", required=True, help="Month, e.g. 2026-10.")
@click.option("--member", "lg_code", required=True, help="Local government code.")
@click.option("--item", type=click.Choice(["availability", "recovery", "response"]), required=True)
@click.option("--reason", required=True, help="Why the target was missed.")
@click.option("--plan", required=True, help="The improvement plan.")
@click.option("--by", default="operator", help="Who wrote it.")
def report_plan(*, month: str, lg_code: str, item: str, reason: str, plan: str, by: str) -> None:
    """Write the reason and improvement plan for a missed target (MOR-14(2)); refused once the report is issued."""
    try:
        click.echo(run(add_plan(parse_month(month), lg_code, item=item, reason=reason, plan=plan, by=by)))
    except (ServiceError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None


@report.command("targets")
@click.option("--consortium", "slug", required=True, help="Consortium slug.")
@click.option("--from", "effective_from", required=True, help="First day the targets apply, e.g. 2027-04-01.")
@click.option("--availability", type=str, default="99.8", help="Availability target in percent.")
@click.option("--recovery-minutes", type=int, default=360, help="Time to recover target.")
@click.option("--response-ms", type=int, default=3000, help="Screen response target (95th percentile).")
def report_targets(slug: str, effective_from: str, availability: str, recovery_minutes: int, response_ms: int) -> None:
    """Change a consortium's targets from a date on (the past keeps its targets)."""
    click.echo(
        run(
            change_targets(
                slug,
                effective_from=dt.date.fromisoformat(effective_from),
                availability=Decimal(availability),
                recovery_minutes=recovery_minutes,
                response_ms=response_ms,
            )
        )
    )
