"""``kyodo pki``: the offline test PKI of ``kyodo demo`` and the tests."""

from __future__ import annotations

from pathlib import Path

import click

from core.settings import get_settings
from kyodo.supervisor import TEST_PKI_PORT
from testpki import TestPKI, existing_port

__all__ = ["pki"]


@click.group()
def pki() -> None:
    """The offline test PKI used by `kyodo demo` and the tests."""


@pki.command("export-root")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def pki_export_root(directory: Path) -> None:
    """Write the test root certificate (PEM and .cer) to trust it in Acrobat Reader."""
    pki_dir = get_settings().app.data_dir / "pki"
    if not (pki_dir / "pki.json").exists():
        raise click.ClickException(f"no test PKI in {pki_dir}; run `kyodo demo` once first")
    test_pki = TestPKI.ensure(pki_dir, port=existing_port(pki_dir, TEST_PKI_PORT))
    for path in test_pki.export_root_certificate(directory):
        click.echo(str(path))
