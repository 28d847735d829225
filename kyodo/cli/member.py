"""``kyodo member``: a member's full export and, when it leaves, deletion of its data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from core.settings import get_settings
from kyodo.cli.common import run
from onboarding.leaving import DeletionRefused
from onboarding.operations import UnknownMember, run_delete, run_export

__all__ = ["member"]


@click.group()
def member() -> None:
    """A member's full export and, when it leaves, deletion of its data."""


@member.command("export")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Zip file to write.")
def member_export(code: str, out: Path) -> None:
    """Write every table and file of the member, with a SHA-256 manifest, to a zip."""
    try:
        result = run(run_export(get_settings(), code, out))
    except UnknownMember as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"[kyodo] {out}: {sum(result.row_counts.values())} rows, {len(result.files)} files, sha256 {result.sha256}"
    )


@member.command("delete")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--confirm", required=True, help="The same code again, to confirm.")
@click.option("--export-sha256", default="", help="SHA-256 of the export handed over, kept in the report.")
def member_delete(code: str, confirm: str, export_sha256: str) -> None:
    """Delete every row and file of a leaving member; print the deletion report."""
    if code.strip() != confirm.strip():
        raise click.ClickException("--confirm には --member と同じ地方公共団体コードを指定してください。")
    try:
        report = run(run_delete(get_settings(), code, export_sha256=export_sha256))
    except (UnknownMember, DeletionRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps(
            {
                "member": report.member_name,
                "lg_code": report.lg_code,
                "deleted_by": report.deleted_by,
                "row_counts": report.row_counts,
                "blob_files": report.blob_files,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
