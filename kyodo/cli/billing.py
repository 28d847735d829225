"""``kyodo billing``: the members' monthly invoices."""

from __future__ import annotations

import click

from core.dates import parse_month
from core.errors import ServiceError
from core.settings import get_settings
from kyodo.cli.common import run
from onboarding.billing import invoice_number
from onboarding.operations import run_billing

__all__ = ["billing"]


@click.group()
def billing() -> None:
    """Monthly invoices of the members."""


@billing.command("run")
@click.option("--month", required=True, help="Month to invoice, YYYY-MM (e.g. 2026-10).")
def billing_run(month: str) -> None:
    """Issue the month's invoices that are not issued yet (safe to run again)."""
    try:
        first = parse_month(month)
    except ValueError as exc:
        raise click.BadParameter("月は YYYY-MM の形で指定してください（例: 2026-10）。", param_hint="--month") from exc
    try:
        issued = run(run_billing(get_settings(), first))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    for invoice in issued:
        click.echo(f"{invoice_number(invoice)}  {invoice.payer_name}  {int(invoice.total):,} 円")
    click.echo(f"[kyodo] {len(issued)} invoice(s) issued for {first:%Y-%m}")
