"""The ``kyodo`` command: run the platform, its parts, and operator tasks.

One module per command group; this one holds the root group and the entry
point, and adds every group to it. Shared helpers live in
:mod:`kyodo.cli.common`. The commands call the domains' services; what they
read of member-owned rows comes from the owning domain's repository.
"""

from __future__ import annotations

import importlib
import sys

import click

import kyodo.models  # noqa: F401 - every domain's tables, before anything walks the metadata
from core.runtime import ServicesNotRunning
from core.settings import get_settings
from kyodo.embedded import EmbeddedServiceError
from kyodo.logfile import configure_log_file

__all__ = ["COMMANDS", "cli", "main"]

COMMANDS: dict[str, str] = {
    "demo": "kyodo.cli.demo:demo",
    "services": "kyodo.cli.demo:services",
    "serve": "kyodo.cli.serve:serve",
    "worker": "kyodo.cli.serve:worker",
    "beat": "kyodo.cli.serve:beat",
    "db": "kyodo.cli.db:db",
    "audit": "kyodo.cli.audit:audit",
    "verify": "kyodo.cli.verify:verify",
    "seal": "kyodo.cli.seal:seal",
    "pki": "kyodo.cli.pki:pki",
    "apikey": "kyodo.cli.apikey:apikey",
    "backup": "kyodo.cli.backup:backup",
    "operator": "kyodo.cli.operators:operator",
    "consortium": "kyodo.cli.consortium:consortium",
    "billing": "kyodo.cli.billing:billing",
    "member": "kyodo.cli.member:member",
    "report": "kyodo.cli.report:report",
    "maintenance": "kyodo.cli.maintenance:maintenance",
    "incident": "kyodo.cli.incident:incident",
    "watch": "kyodo.cli.watch:watch",
    "keys": "kyodo.cli.keys:keys",
}
"""Command name → ``module:object``. A command's module is imported only when that command runs
(or ``--help`` lists them all), so ``kyodo billing run`` does not load the web app, the seal or PDF code."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, _sep, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Kyodo (共同): the shared electronic-contract platform."""
    # Every process keeps its log in KYODO_LOG_DIR when set, named after its command.
    configure_log_file(get_settings(), ctx.invoked_subcommand or "kyodo")


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
