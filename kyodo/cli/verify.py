"""``kyodo verify``: check a sealed PDF offline, and say which trust roots that relied on."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from core.settings import SigningSettings, get_settings
from signing.verification import verify as verify_pdf

__all__ = ["verify"]


@click.command()
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--at", "validation_time", default=None, help="Validate at this ISO time (default: now).")
@click.option(
    "--trust-root",
    "trust_roots",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A root certificate to trust (PEM or DER); may be repeated. Default: KYODO_SIGNING_TRUST_ROOTS, "
    "else the test root of this installation's demo PKI.",
)
def verify(pdf: Path, as_json: bool, validation_time: str | None, trust_roots: tuple[Path, ...]) -> None:
    """Check every signature and timestamp of a sealed PDF, offline (exit 1 if not valid).

    It says which trust roots it used: a seal is only as trustworthy as the root it chains to.
    """
    roots, source = verification_roots(trust_roots)
    # With --json the report alone goes to standard output; the roots are still said, on standard error.
    click.echo(f"trust roots ({source}):", err=as_json)
    for root in roots:
        click.echo(f"  {root}", err=as_json)
    at = dt.datetime.fromisoformat(validation_time) if validation_time else None
    report = verify_pdf(pdf.read_bytes(), validation_time=at, trust_roots=roots)
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(f"{pdf.name}  sha256 {report.sha256}")
        for sig in report.signatures:
            state = "OK" if sig.ok else "NG"
            when = sig.timestamp_time or sig.signing_time
            click.echo(f"  [{state}] {sig.kind}: {sig.signer_subject}  {when}  coverage={sig.coverage}  LTV={sig.ltv}")
            for problem in sig.problems:
                click.echo(f"        - {problem}")
        for problem in report.problems:
            click.echo(f"  ! {problem}")
        click.echo("valid" if report.ok else "NOT valid")
    sys.exit(0 if report.ok else 1)


def verification_roots(given: tuple[Path, ...]) -> tuple[tuple[Path, ...], str]:
    """The roots ``kyodo verify`` trusts, and where they came from."""
    if given:
        return given, "--trust-root"
    configured = SigningSettings().trust_root_paths
    if configured:
        return configured, "KYODO_SIGNING_TRUST_ROOTS"
    demo_root = get_settings().app.data_dir / "pki" / "certs" / "root.pem"
    if demo_root.is_file():
        return (demo_root,), "the demo's offline test root: it proves nothing outside this installation"
    raise click.ClickException(
        "No trust root: pass --trust-root ROOT.pem, set KYODO_SIGNING_TRUST_ROOTS, "
        "or run `kyodo demo` once to create the test PKI."
    )
