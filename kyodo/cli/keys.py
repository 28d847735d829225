"""``kyodo keys``: a new master key, and re-wrapping everything under it (deploy/README.md)."""

from __future__ import annotations

import click

from core.db import system_session
from core.settings import get_settings
from kyodo.cli.common import run
from signing.keyrotation import Rotation, new_master_key, rotate_master_key

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """The platform's master key (operators)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new master key (base64 of 32 random bytes) for KYODO_MASTER_KEY."""
    click.echo(new_master_key())


async def _rotate() -> Rotation:
    async with system_session() as session:
        done = await rotate_master_key(session, get_settings())
        await session.commit()
        return done


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every member's document key and every webhook secret under KYODO_MASTER_KEY.

    Run it once every node has the new key in KYODO_MASTER_KEY and the old one in
    KYODO_MASTER_KEY_PREVIOUS; documents themselves are not re-encrypted. All or
    nothing: a key that none of the configured keys opens changes nothing.
    """
    done = run(_rotate())
    click.echo(
        f"{done.document_keys} member document key(s) and {done.webhook_secrets} webhook secret(s) "
        "re-wrapped under KYODO_MASTER_KEY; KYODO_MASTER_KEY_PREVIOUS can be removed once the outbox is empty"
    )
