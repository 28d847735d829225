"""``kyodo apikey``: API keys of members, issued by an operator."""

from __future__ import annotations

import click

from consortium.services import issue_operator_api_key
from core.db import session_scope
from core.errors import ServiceError
from core.settings import get_settings
from kyodo.cli.common import run

__all__ = ["apikey"]


@click.group()
def apikey() -> None:
    """API keys of members (operator commands)."""


@apikey.command("create")
@click.option("--member", "lg_code", required=True, help="The member's local government code, e.g. 032018.")
@click.option("--label", default="operator", show_default=True, help="What the key is for.")
@click.option("--role", default=None, help="A role to give the key, e.g. drafter.")
def apikey_create(lg_code: str, label: str, role: str | None) -> None:
    """Issue an API key for a member and print it (shown once; only its digest is stored)."""
    settings = get_settings()

    async def issue() -> tuple[str, str]:
        async with session_scope(settings) as session:
            _member, row, key = await issue_operator_api_key(session, lg_code=lg_code, label=label, role=role)
            return key, row.prefix

    try:
        key, prefix = run(issue())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    # The role service announced the key's role to every process once the issue committed.
    click.echo(key)
    click.echo(f"[kyodo] prefix {prefix}; the key is shown only now", err=True)
