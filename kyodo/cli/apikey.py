"""``kyodo apikey``: API keys of members, issued by an operator."""

from __future__ import annotations

import click
import redis

from consortium.services import issue_operator_api_key
from core.db import session_scope
from core.errors import ServiceError
from core.runtime import redis_url
from core.settings import get_settings
from kyodo.cli.common import run
from policy.engine import announce_change
from policy.permissions import member_domain

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

    async def issue() -> tuple[str, str, str]:
        async with session_scope(settings) as session:
            member, row, key = await issue_operator_api_key(session, lg_code=lg_code, label=label, role=role)
            return key, row.prefix, str(member.id)

    try:
        key, prefix, member_id = run(issue())
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    if role:
        client = redis.Redis.from_url(redis_url(settings), socket_connect_timeout=2)
        try:
            announce_change(client, member_domain(member_id))
        except redis.RedisError as exc:
            click.echo(f"kyodo: the key works, but running processes were not told about its role ({exc})", err=True)
        finally:
            client.close()
    click.echo(key)
    click.echo(f"[kyodo] prefix {prefix}; the key is shown only now", err=True)
