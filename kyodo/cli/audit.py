"""``kyodo audit``: the contracts' audit trail."""

from __future__ import annotations

import sys

import click

from kyodo.cli.common import run
from signing.audit import verify_trail

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The contracts' audit trail."""


@audit.command("verify")
@click.option("--member", "member_code", default=None, help="Only this member (全国地方公共団体コード, 6 digits).")
def audit_verify(member_code: str | None) -> None:
    """Recompute every hash chain of the audit trail; exit 1 when a row was changed or removed."""
    report = run(verify_trail(member_code))
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        sys.exit(1)
