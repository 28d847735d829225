"""Backups of an installation: the database and the encrypted document store, checked on the way back.

A backup is a folder ``kyodo-backup-<UTC time>/`` holding

* ``database.dump``: ``pg_dump --format=custom`` of the whole schema and data, without
  owners and grants (they belong to the installation that restores it);
* ``blobs.tar``: every object of the document store (``<data dir>/blobs`` or the
  bucket of ``KYODO_BLOB_URL``), still encrypted;
* ``manifest.json``: format, creation time, schema revision, the SHA-256 and size of
  each file, and the fingerprint (SHA-256) of the master key the documents were
  encrypted under.

The master key itself is never written into a backup: it is kept apart (the
``KYODO_MASTER_KEY`` secret or ``<data dir>/master_key``), so that a stolen backup
reveals no document. Restoring checks every file's hash and that the configured
master key is the one of the backup, refuses a database that already has tables or
a document store that is not empty, then restores, grants the application role its
access and brings the schema up to date.

Row-level security is FORCEd on member-owned tables, so even their owner sees
nothing without the platform's system setting: both pg_dump and pg_restore run
with ``kyodo.system=on`` and row security enabled, which lets every row through
the policies, for a superuser and for a plain owner role alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.blobstore import backend_for
from core.runtime import database_admin_url, database_url
from core.settings import Settings
from signing.blobs import master_key, master_keys

__all__ = [
    "BACKUP_FORMAT",
    "BackupError",
    "BackupListing",
    "BackupRun",
    "DrillResult",
    "Manifest",
    "backups_in",
    "copy_backup",
    "create_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "restore_drill",
    "scheduled_backup",
    "verify_backup",
]

BACKUP_FORMAT = 1
DATABASE_FILE = "database.dump"
BLOBS_FILE = "blobs.tar"
MANIFEST_FILE = "manifest.json"


class BackupError(RuntimeError):
    """A backup cannot be made or restored; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and how to check it."""

    format: int
    created_at: str
    revision: str
    master_key_sha256: str
    files: dict[str, dict[str, int | str]]

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=2, sort_keys=True)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _postgres_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: the embedded PostgreSQL's own, else the one on the PATH."""
    # Located without importing the package (importing it starts nothing, but it looks
    # for a runtime folder and warns when there is none).
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found; install the PostgreSQL client programs")
    return found


def _environment() -> dict[str, str]:
    # The policies let every row through when the platform's system setting is on.
    options = os.environ.get("PGOPTIONS", "")
    return dict(os.environ, PGOPTIONS=f"{options} -c kyodo.system=on".strip())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key_fingerprint(settings: Settings) -> str:
    return hashlib.sha256(master_key(settings)).hexdigest()


def _revision(admin_url: str) -> str:
    with psycopg.connect(_libpq(admin_url)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else ""


def create_backup(settings: Settings, out_dir: Path, *, now: dt.datetime | None = None) -> Path:
    """Write a backup folder into ``out_dir`` and return it."""
    admin_url = database_admin_url(settings)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = out_dir / f"kyodo-backup-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    folder.chmod(0o700)  # documents are encrypted, but names, e-mails and hashes are in the dump
    dump = subprocess.run(
        [
            _postgres_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--enable-row-security",
            f"--file={folder / DATABASE_FILE}",
            _libpq(admin_url),
        ],
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if dump.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise BackupError(f"pg_dump failed: {dump.stderr.strip()}")
    _archive_documents(settings, folder / BLOBS_FILE)
    files: dict[str, dict[str, int | str]] = {
        name: {"sha256": _sha256(folder / name), "size": (folder / name).stat().st_size}
        for name in (DATABASE_FILE, BLOBS_FILE)
    }
    manifest = Manifest(
        format=BACKUP_FORMAT,
        created_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        revision=_revision(admin_url),
        master_key_sha256=_key_fingerprint(settings),
        files=files,
    )
    (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return folder


def verify_backup(folder: Path) -> Manifest:
    """Read the manifest and check every file against it.

    Raises:
        BackupError: a file is missing, changed or of another format.
    """
    try:
        data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"{folder} is not a Kyodo backup (no readable {MANIFEST_FILE}): {exc}") from None
    if manifest.format != BACKUP_FORMAT:
        raise BackupError(f"backup format {manifest.format} is not supported (this version reads {BACKUP_FORMAT})")
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{name} is missing from the backup")
        if _sha256(path) != expected["sha256"] or path.stat().st_size != expected["size"]:
            raise BackupError(f"{name} does not match its SHA-256 in the manifest: the backup is damaged")
    return manifest


def _archive_documents(settings: Settings, target: Path) -> None:
    """Every encrypted object of the document store (file system or bucket) into a tar, as ``blobs/<key>``."""

    async def _copy(tar: tarfile.TarFile) -> None:
        backend = backend_for(settings)
        for key in await backend.keys(""):
            data = await backend.read(key)
            if data is None:  # deleted meanwhile (a leaving member)
                continue
            info = tarfile.TarInfo(f"blobs/{key}")
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))

    with tarfile.open(target, "w") as tar:
        asyncio.run(_copy(tar))


def _restore_documents(settings: Settings, archive: Path) -> None:
    """Write the archived objects back into this installation's document store."""

    async def _copy(tar: tarfile.TarFile) -> None:
        backend = backend_for(settings)
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith("blobs/"):
                continue
            key = member.name.removeprefix("blobs/")
            if ".." in key.split("/") or key.startswith("/"):
                raise BackupError(f"unsafe name in the backup: {member.name}")
            handle = tar.extractfile(member)
            assert handle is not None
            await backend.write(key, handle.read())

    with tarfile.open(archive) as tar:
        asyncio.run(_copy(tar))


def restore_backup(settings: Settings, folder: Path) -> Manifest:
    """Restore a checked backup into this installation's empty database and document store.

    Raises:
        BackupError: the backup is damaged, the master key is not the backup's, the
            database already has tables, the document store is not empty, or
            pg_restore failed.
    """
    from kyodo.migrations import grant_app_role, upgrade  # noqa: PLC0415 - Alembic is only needed here

    manifest = verify_backup(folder)
    known = {hashlib.sha256(key).hexdigest() for key in master_keys(settings)}
    if manifest.master_key_sha256 not in known:
        raise BackupError(
            "the configured master key is not the one the backup's documents are encrypted with; "
            "set KYODO_MASTER_KEY (or <data dir>/master_key) to the key kept with the backup, or list that key "
            "in KYODO_MASTER_KEY_PREVIOUS and run `kyodo keys rotate` after the restore"
        )
    admin_url = database_admin_url(settings)
    with psycopg.connect(_libpq(admin_url)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    if row and row[0]:
        raise BackupError("the database already has tables; restore into a new, empty database")
    if asyncio.run(backend_for(settings).keys("")):
        raise BackupError("the document store is not empty; restore into a new data folder or bucket prefix")
    restore = subprocess.run(
        [
            _postgres_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--enable-row-security",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq(admin_url)}",
            str(folder / DATABASE_FILE),
        ],
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if restore.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was restored): {restore.stderr.strip()}")
    settings.app.data_dir.mkdir(parents=True, exist_ok=True)
    _restore_documents(settings, folder / BLOBS_FILE)
    upgrade(admin_url, app_url=database_url(settings), quiet=True)
    grant_app_role(admin_url, database_url(settings))
    return manifest


BACKUP_PREFIX = "kyodo-backup-"


def backups_in(directory: Path) -> list[Path]:
    """The backup folders in ``directory`` that hold a manifest, oldest first (names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_dir() and p.name.startswith(BACKUP_PREFIX) and (p / MANIFEST_FILE).is_file()
    )


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete the oldest backups in ``directory`` beyond the newest ``keep``; returns what was deleted.

    Raises:
        BackupError: ``keep`` is below 1 (the newest backup is never deleted).
    """
    if keep < 1:
        raise BackupError("at least one backup generation must be kept (KYODO_BACKUP_KEEP ≥ 1)")
    folders = backups_in(directory)
    doomed = folders[: max(0, len(folders) - keep)]
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


def copy_backup(folder: Path, target_dir: Path) -> Path:
    """Copy a backup to another place (a mounted off-site share) and check the copy against its manifest.

    Raises:
        BackupError: the copy does not match (a partial copy is removed).
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / f".partial-{folder.name}"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(folder, partial)
    try:
        verify_backup(partial)
    except BackupError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    final = target_dir / folder.name
    partial.rename(final)
    return final


@dataclass(frozen=True)
class BackupRun:
    """What one scheduled backup did."""

    folder: Path
    copy: Path | None
    pruned: tuple[Path, ...]


def scheduled_backup(settings: Settings, *, now: dt.datetime | None = None) -> BackupRun:
    """The daily backup: create, verify, copy off the machine when configured, keep ``KYODO_BACKUP_KEEP`` generations.

    Raises:
        BackupError: no backup folder is configured, or a step failed (nothing older is pruned then).
    """
    config = settings.backup
    if config.directory is None:
        raise BackupError("KYODO_BACKUP_DIR is not set: scheduled backups have nowhere to go")
    folder = create_backup(settings, config.directory, now=now)
    verify_backup(folder)
    copy = copy_backup(folder, config.copy_directory) if config.copy_directory else None
    pruned = prune_backups(config.directory, config.keep)
    if config.copy_directory:
        pruned += prune_backups(config.copy_directory, config.keep)
    return BackupRun(folder=folder, copy=copy, pruned=tuple(pruned))


@dataclass(frozen=True)
class DrillResult:
    """What a restore drill found in the restored copy."""

    folder: Path
    database: str
    restored_rows: dict[str, int]
    chain_problems: list[str]
    sealed_checked: str
    """The sealed file whose signatures and timestamps were checked ("" when the backup holds none)."""
    sealed_problems: list[str]

    @property
    def ok(self) -> bool:
        """The trail is intact and the sealed file still validates."""
        return not self.chain_problems and not self.sealed_problems


def _scratch_url(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _create_scratch_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_scratch_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _check_restored(
    settings: Settings, trust_roots: tuple[Path, ...]
) -> tuple[dict[str, int], list[str], str, list[str]]:
    """Counts, the audit chains and the newest sealed file of the restored database (application role)."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: PLC0415

    from core.scope import elevated  # noqa: PLC0415
    from core.settings import to_psycopg_url  # noqa: PLC0415
    from reporting.repository import ReportingRepository  # noqa: PLC0415
    from signing.audit import verify_chains  # noqa: PLC0415
    from signing.blobs import BlobStore  # noqa: PLC0415
    from signing.verification import verify_async  # noqa: PLC0415

    engine = create_async_engine(to_psycopg_url(database_url(settings)), pool_size=1)
    try:
        async with AsyncSession(engine) as session, elevated(session):
            repo = ReportingRepository(session, None)
            counts = await repo.restored_counts()
            chains = [f"event {p.event_id}: {p.reason}" for p in await verify_chains(session)]
            newest = await repo.newest_sealed_document()
            if newest is None:
                return counts, chains, "", []
            pdf = await BlobStore(settings).get(session, newest.member_id, newest.sha256)
            checked = f"{newest.sha256} (contract {newest.contract_id})"
    finally:
        await engine.dispose()
    report = await verify_async(pdf, trust_roots=trust_roots)
    problems = [*report.problems, *(p for sig in report.signatures for p in sig.problems)]
    if not report.ok and not problems:
        problems = ["the sealed file does not validate"]
    return counts, chains, checked, problems


def restore_drill(settings: Settings, folder: Path | None = None, *, keep: bool = False) -> DrillResult:
    """Restore a backup (the newest in ``KYODO_BACKUP_DIR`` by default) into a scratch database and check it.

    The scratch database is made beside this installation's (same server,
    ``kyodo_drill_<UTC time>``) with a scratch data folder; the production data is
    only read. The restored copy must pass the audit-chain check, and its newest
    sealed file must still validate (signatures and timestamps, offline, against
    ``KYODO_SIGNING_TRUST_ROOTS``). Both are dropped afterwards unless ``keep``.

    Raises:
        BackupError: no backup to drill, or the restore itself failed.
    """
    import base64  # noqa: PLC0415
    import dataclasses  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from core.settings import BlobSettings, DatabaseSettings  # noqa: PLC0415

    if folder is None:
        directory = settings.backup.directory
        found = backups_in(directory) if directory is not None else []
        if not found:
            raise BackupError("no backup to drill: give a folder, or set KYODO_BACKUP_DIR to where backups are")
        folder = found[-1]
    name = f"kyodo_drill_{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    admin_url = database_admin_url(settings)
    scratch_dir = Path(tempfile.mkdtemp(prefix="kyodo-drill-"))
    scratch = dataclasses.replace(
        settings,
        app=dataclasses.replace(settings.app, data_dir=scratch_dir),
        blobs=BlobSettings(url=""),
        contracts=dataclasses.replace(
            settings.contracts, master_key=base64.b64encode(master_key(settings)).decode("ascii")
        ),
        database=DatabaseSettings(
            url=_scratch_url(database_url(settings), name), admin_url=_scratch_url(admin_url, name), pool_size=1
        ),
    )
    _create_scratch_database(admin_url, name)
    try:
        restore_backup(scratch, folder)
        roots = settings.seal_key.trust_root_paths
        demo_root = settings.app.data_dir / "pki" / "certs" / "root.pem"
        if not roots and demo_root.is_file():
            roots = (demo_root,)
        counts, chains, checked, problems = asyncio.run(_check_restored(scratch, roots))
    finally:
        if not keep:
            _drop_scratch_database(admin_url, name)
            shutil.rmtree(scratch_dir, ignore_errors=True)
    return DrillResult(folder, name, counts, chains, checked, problems)


@dataclass(frozen=True)
class BackupListing:
    """One generation as ``kyodo backup list`` shows it."""

    folder: Path
    created_at: str
    revision: str
    size_bytes: int
    problem: str
    """Why the backup is not intact ("" when intact or not checked)."""


def list_backups(directory: Path, *, check: bool = False) -> list[BackupListing]:
    """The generations in ``directory``, oldest first; with ``check``, each verified against its manifest."""
    listed = []
    for folder in backups_in(directory):
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        problem = ""
        if check:
            try:
                verify_backup(folder)
            except BackupError as exc:
                problem = str(exc)
        listed.append(
            BackupListing(folder, str(manifest.get("created_at", "")), str(manifest.get("revision", "")), size, problem)
        )
    return listed
