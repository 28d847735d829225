"""``kyodo member``: a member's readable full export and, when it leaves, deletion of its data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from core.errors import Invalid
from core.settings import get_settings
from kyodo.cli.common import run
from onboarding.leaving import DeletionRefused
from onboarding.operations import UnknownMember
from signing.errors import SigningError
from signing.exit import ENCODINGS, export_options, run_member_delete, run_member_export

__all__ = ["member"]


@click.group()
def member() -> None:
    """A member's full export and, when it leaves, deletion of its data."""


@member.command("export")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Zip file to write.")
@click.option(
    "--encoding",
    type=click.Choice(sorted(ENCODINGS)),
    default="utf-8",
    show_default=True,
    help="Encoding of the CSV files: UTF-8 with BOM, or CP932 (characters CP932 lacks are listed).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Encrypt the zip (AES-256) with the passphrase in this file (first line).",
)
@click.option("--encrypt", is_flag=True, help="Encrypt the zip (AES-256) with a passphrase typed at the prompt.")
def member_export(code: str, out: Path, encoding: str, passphrase_file: Path | None, encrypt: bool) -> None:
    """Write the member's data readable without Kyodo: decrypted PDFs, CSV, audit trail, manifest, README."""
    passphrase = ""
    if passphrase_file is not None:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        passphrase = lines[0] if lines else ""
        if not passphrase:
            raise click.ClickException("パスフレーズのファイルが空です。")
    elif encrypt:
        passphrase = click.prompt("パスフレーズ", hide_input=True, confirmation_prompt=True)
    try:
        options = export_options(encoding, passphrase)
        outcome = run(run_member_export(get_settings(), code, out, options))
    except (UnknownMember, Invalid) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"[kyodo] {out}: 契約 {outcome.contracts} 件, PDF {outcome.pdfs} ファイル, "
        f"{len(outcome.files)} files, sha256 {outcome.sha256}" + (" (AES-256)" if passphrase else "")
    )
    if encoding == "cp932":
        if outcome.unmappable:
            click.echo(
                f"CP932 で表せない文字が {len(outcome.unmappable)} 件あります（〓 と書き cp932_unmappable.csv に記載）:"
            )
            for u in outcome.unmappable:
                click.echo(f"  {u.file} {u.line}行 {u.column}: {u.character} ({u.codepoint}) 「{u.value}」")
        else:
            click.echo("CP932 で表せない文字はありません。")


@member.command("delete")
@click.option("--member", "code", required=True, help="The member's local government code.")
@click.option("--confirm", required=True, help="The same code again, to confirm.")
@click.option("--requested-by", required=True, help="Who asked for the deletion (printed in the report).")
@click.option(
    "--export-sha256", default="", help="SHA-256 of the export handed over (default: the member's newest export)."
)
def member_delete(code: str, confirm: str, requested_by: str, export_sha256: str) -> None:
    """Delete every row and file of a leaving member; print the deletion report (also kept as a sealed PDF)."""
    if code.strip() != confirm.strip():
        raise click.ClickException("--confirm には --member と同じ地方公共団体コードを指定してください。")
    if not requested_by.strip():
        raise click.ClickException("--requested-by に削除を依頼した者を指定してください。")
    try:
        report = run(run_member_delete(get_settings(), code, requested_by=requested_by, export_sha256=export_sha256))
    except (UnknownMember, DeletionRefused) as exc:
        raise click.ClickException(str(exc)) from exc
    except SigningError as exc:
        raise click.ClickException(f"削除報告書を封緘できなかったため、何も削除していません: {exc}") from exc
    click.echo(
        json.dumps(
            {
                "report_id": str(report.id),
                "member": report.member_name,
                "lg_code": report.lg_code,
                "requested_by": report.requested_by,
                "deleted_by": report.deleted_by,
                "row_counts": report.row_counts,
                "blob_files": report.blob_files,
                "export_sha256": report.export_sha256,
                "backups_until": report.backups_until.isoformat() if report.backups_until else None,
                "report_pdf_sha256": report.pdf_sha256,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
