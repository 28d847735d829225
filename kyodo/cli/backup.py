"""``kyodo backup``: backups of the database and the document store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.settings import get_settings
from kyodo.backup import (
    BackupError,
    create_backup,
    list_backups,
    restore_backup,
    restore_drill,
    scheduled_backup,
    verify_backup,
)

__all__ = ["backup"]


@click.group()
def backup() -> None:
    """Backups of the database and the document store (the master key is kept apart)."""


@backup.command("create")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def backup_create(out_dir: Path) -> None:
    """Write a backup folder (database dump, document store, manifest with SHA-256) into OUT."""
    try:
        folder = create_backup(get_settings(), out_dir)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(folder))
    click.echo("[kyodo] keep the master key apart from the backup: the documents cannot be read without it", err=True)


@backup.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_verify(folder: Path) -> None:
    """Check every file of a backup against its manifest; exit 1 when damaged."""
    try:
        manifest = verify_backup(folder)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"intact: made {manifest.created_at}, schema {manifest.revision}, {len(manifest.files)} files")


@backup.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def backup_restore(folder: Path) -> None:
    """Restore a backup into this installation's empty database and data folder."""
    try:
        manifest = restore_backup(get_settings(), folder)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored the backup made {manifest.created_at} (schema {manifest.revision})")


@backup.command("run")
def backup_run() -> None:
    """The daily backup now: into KYODO_BACKUP_DIR, verified, copied to KYODO_BACKUP_COPY_DIR, old ones pruned."""
    try:
        run = scheduled_backup(get_settings())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(run.folder))
    if run.copy:
        click.echo(f"copy: {run.copy}")
    for folder in run.pruned:
        click.echo(f"deleted old generation: {folder}")


@backup.command("list")
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Default: KYODO_BACKUP_DIR (and KYODO_BACKUP_COPY_DIR after it).",
)
@click.option("--verify", "check", is_flag=True, help="Check every file of each generation against its manifest.")
def backup_list(directory: Path | None, check: bool) -> None:
    """The backup generations, oldest first; exit 1 when there is none or one is damaged."""
    settings = get_settings()
    places = [directory] if directory is not None else [settings.backup.directory, settings.backup.copy_directory]
    places = [p for p in places if p is not None]
    if not places:
        raise click.ClickException("no backup folder: pass --dir or set KYODO_BACKUP_DIR")
    total = damaged = 0
    for place in places:
        listed = list_backups(place, check=check)
        click.echo(f"{place}: {len(listed)} generation(s)")
        for entry in listed:
            state = "" if not check else ("  intact" if not entry.problem else f"  DAMAGED: {entry.problem}")
            size = f"{entry.size_bytes / 1_048_576:.1f} MiB"
            click.echo(f"  {entry.folder.name}  made {entry.created_at}  schema {entry.revision}  {size}{state}")
        total += len(listed)
        damaged += sum(1 for e in listed if e.problem)
    if total == 0 or damaged:
        sys.exit(1)


@backup.command("drill")
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--keep", is_flag=True, help="Keep the scratch database and data folder for a look afterwards.")
def backup_drill(folder: Path | None, keep: bool) -> None:
    """Restore the newest backup (or FOLDER) into a scratch database and check trail and seal; exit 1 if not."""
    try:
        result = restore_drill(get_settings(), folder, keep=keep)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {result.folder.name} into the scratch database {result.database}")
    click.echo("rows: " + ", ".join(f"{table} {count}" for table, count in result.restored_rows.items()))
    if result.chain_problems:
        click.echo(f"audit trail: {len(result.chain_problems)} problem(s)")
        for problem in result.chain_problems:
            click.echo(f"  - {problem}")
    else:
        click.echo("audit trail: intact")
    if not result.sealed_checked:
        click.echo("sealed files: none in this backup")
    elif result.sealed_problems:
        click.echo(f"sealed file {result.sealed_checked}: NOT valid")
        for problem in result.sealed_problems:
            click.echo(f"  - {problem}")
    else:
        click.echo(f"sealed file {result.sealed_checked}: valid (signatures and timestamps)")
    click.echo("drill passed" if result.ok else "drill FAILED")
    if keep:
        click.echo(f"kept: database {result.database}")
    if not result.ok:
        sys.exit(1)
