"""Everything on one machine (``kyodo demo``), or only its embedded PostgreSQL and Redis (``kyodo services``)."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from consortium.demo import DEMO_PASSWORD, seed_database
from core.settings import DEMO_INVOICE_ENVIRONMENT, get_settings
from kyodo.cli.common import run
from kyodo.migrations import upgrade
from kyodo.supervisor import Supervisor, embedded_pki, embedded_services

__all__ = ["demo", "services"]


@click.command()
@click.option("--port", type=int, default=None, help="Web port (default KYODO_PORT or 8000).")
def demo(port: int | None) -> None:
    """Everything on this machine: database, Redis, migrations, demo data, web, worker, beat."""
    if port is not None:
        os.environ["KYODO_PORT"] = str(port)
    # A fictitious issuer for the demo's invoices, unless one is configured (the web, worker and beat inherit it).
    for name, value in DEMO_INVOICE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    click.echo(f"[kyodo] data folder: {settings.app.data_dir}")
    with embedded_services(settings) as running, embedded_pki(settings) as signing_env:
        click.echo("[kyodo] database, Redis and the test PKI are up; migrating")
        upgrade(running.database_admin_url, app_url=running.database_url, quiet=True)
        report = run(seed_database(running.database_url))
        click.echo(f"[kyodo] demo data: {report.total} rows added (password of every demo login: {DEMO_PASSWORD})")
        supervisor = Supervisor(settings, running, signing_env)
        base = settings.server.base_url()

        def announce(ready: bool) -> None:
            if ready:
                click.echo(f"[kyodo] ready: {base}  (Ctrl-C stops everything)")
            else:
                click.echo(f"[kyodo] not ready yet; see {settings.app.data_dir / 'logs'}", err=True)

        code = supervisor.run(f"http://{settings.server.host}:{settings.server.port}/health/ready", announce)
    click.echo("[kyodo] stopped")
    sys.exit(code)


@click.command()
def services() -> None:
    """Only the embedded PostgreSQL and Redis, for running the other parts by hand."""
    settings = get_settings()
    with embedded_services(settings) as running:
        click.echo(f"KYODO_DATABASE_URL={running.database_url}")
        click.echo(f"KYODO_REDIS_URL={running.redis_url}")
        click.echo("[kyodo] Ctrl-C stops them")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
