"""``kyodo operator``: accounts of the provider's operators."""

from __future__ import annotations

import click

from consortium.services import create_operator
from core.db import system_session
from core.errors import ServiceError
from core.settings import get_settings
from kyodo.cli.common import run

__all__ = ["operator"]


@click.group()
def operator() -> None:
    """Accounts of the provider's operators (incidents, maintenance, monthly reports)."""


async def _create(login_id: str, name: str, email: str) -> str:
    async with system_session(get_settings()) as session:
        _, password = await create_operator(session, login_id=login_id, name=name, email=email)
        return password


@operator.command("create")
@click.option("--login-id", required=True, help="The ID the operator signs in with.")
@click.option("--name", required=True, help="The operator's name, shown in reports they issue.")
@click.option("--email", required=True, help="Where operator notices go (reports waiting for a plan).")
def operator_create(login_id: str, name: str, email: str) -> None:
    """Create an operator account and print its initial password (shown once)."""
    try:
        password = run(_create(login_id, name, email))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(password)
    click.echo(f"[kyodo] operator {login_id} created; the password is shown only now", err=True)
