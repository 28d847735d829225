"""The ``kyodo`` command: run the platform, its parts, and operator tasks.

One module per command group; this one holds the root group and the entry
point, and adds every group to it. Shared helpers live in
:mod:`kyodo.cli.common`. The commands call the domains' services; what they
read of member-owned rows comes from the owning domain's repository.
"""

from __future__ import annotations

import sys

import click

import kyodo.models  # noqa: F401 - every domain's tables, before anything walks the metadata
from core.runtime import ServicesNotRunning
from core.settings import get_settings
from kyodo.cli.apikey import apikey
from kyodo.cli.audit import audit
from kyodo.cli.backup import backup
from kyodo.cli.billing import billing
from kyodo.cli.consortium import consortium
from kyodo.cli.db import db
from kyodo.cli.demo import demo, services
from kyodo.cli.incident import incident
from kyodo.cli.keys import keys
from kyodo.cli.maintenance import maintenance
from kyodo.cli.member import member
from kyodo.cli.operators import operator
from kyodo.cli.pki import pki
from kyodo.cli.report import report
from kyodo.cli.seal import seal
from kyodo.cli.serve import beat, serve, worker
from kyodo.cli.verify import verify
from kyodo.cli.watch import watch
from kyodo.embedded import EmbeddedServiceError
from kyodo.logfile import configure_log_file

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Kyodo (共同): the shared electronic-contract platform."""
    # Every process keeps its log in KYODO_LOG_DIR when set, named after its command.
    configure_log_file(get_settings(), ctx.invoked_subcommand or "kyodo")


for command in (
    demo,
    services,
    serve,
    worker,
    beat,
    db,
    audit,
    verify,
    seal,
    pki,
    apikey,
    backup,
    operator,
    consortium,
    billing,
    member,
    report,
    maintenance,
    incident,
    watch,
    keys,
):
    cli.add_command(command)


def main() -> None:
    """Entry point: run a command; configuration problems end with a plain message, not a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ServicesNotRunning, EmbeddedServiceError) as exc:
        click.echo(f"kyodo: {exc}", err=True)
        sys.exit(2)
