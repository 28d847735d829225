"""``kyodo seal``: contracts waiting for their seal, and sending one to the sealing service again."""

from __future__ import annotations

import datetime as dt
import sys
import uuid

import click

from core.db import system_session
from core.errors import ServiceError
from kyodo.cli.common import run
from signing.audit import Actor
from signing.conclusion import retry_seal
from signing.models import ContractStatus
from signing.repositories.seals import SealQueue, WaitingSeal
from signing.services import get_contract

__all__ = ["seal"]


@click.group()
def seal() -> None:
    """The sealing service (operators)."""


async def _waiting() -> list[WaitingSeal]:
    async with system_session() as session:
        return await SealQueue(session, None).needing_seal()


@seal.command("pending")
@click.option("--late-minutes", default=10, show_default=True, help="Exit 1 when a seal waits longer than this.")
def seal_pending(late_minutes: int) -> None:
    """List contracts waiting for their seal (封緘待ち) and those that could not be sealed; exit 1 if any needs care.

    Exit status 1 when a contract waits longer than ``--late-minutes`` or could
    not be sealed (封緘できませんでした): both need an operator's look.
    """
    now = dt.datetime.now(dt.UTC)
    needs_care = False
    waiting = failed = 0
    for row in run(_waiting()):
        who = f"{row.lg_code} {row.member_name}  {row.contract_id}"
        waited = (now - row.completed_at) if row.completed_at else dt.timedelta(0)
        if row.status is ContractStatus.SEAL_FAILED:
            failed += 1
            needs_care = True
            click.echo(f"{who}  封緘できませんでした ({row.failure_reason})")
            continue
        waiting += 1
        needs_care = needs_care or waited > dt.timedelta(minutes=late_minutes)
        click.echo(f"{who}  封緘待ち {int(waited.total_seconds() // 60)} 分")
    click.echo(f"{waiting} contract(s) waiting for their seal, {failed} could not be sealed")
    sys.exit(1 if needs_care else 0)


async def _retry(contract_id: uuid.UUID) -> None:
    async with system_session() as session:
        contract = await get_contract(session, contract_id)
        await retry_seal(session, contract, Actor(actor="運用担当（kyodo seal retry）"))


@seal.command("retry")
@click.argument("contract_id", type=click.UUID)
def seal_retry(contract_id: uuid.UUID) -> None:
    """Send a contract that stopped on an unexpected sealing error to the sealing service again.

    Only for failures of the platform itself (reason ``internal``), once their
    cause is fixed; a file or value that cannot be sealed is corrected by staff.
    """
    try:
        run(_retry(contract_id))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{contract_id}: sent to the sealing service again")
