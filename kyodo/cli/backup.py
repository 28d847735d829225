"""``kyodo backup``: backups of the database and the document store."""

from __future__ import annotations

from pathlib import Path

import click

from core.settings import get_settings
from kyodo.backup import BackupError, create_backup, restore_backup, scheduled_backup, verify_backup

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
