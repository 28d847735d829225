"""Child processes that never outlive the process that started them.

`kyodo demo` starts PostgreSQL, Redis, the web server, a Celery worker and beat.
Each child runs in its own session (so Ctrl-C reaches only the supervisor, which
then stops them in a safe order) and asks the kernel to signal it if the
supervisor dies without cleaning up (``PR_SET_PDEATHSIG``), so a ``kill -9`` of
the supervisor leaves no orphans either.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["ChildProcess", "free_port", "run_as_user_kwargs", "spawn"]

_PR_SET_PDEATHSIG = 1


def _death_signal_preexec(sig: int) -> Callable[[], None]:
    libc_name = ctypes.util.find_library("c")

    def preexec() -> None:
        if sys.platform.startswith("linux") and libc_name:
            libc = ctypes.CDLL(libc_name, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_as_user_kwargs(username: str | None) -> dict[str, Any]:
    """``subprocess`` arguments to drop root privileges to ``username`` (None = stay)."""
    if username is None:
        return {}
    entry = pwd.getpwnam(username)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class ChildProcess:
    """A started child with a name, a log file and an orderly stop."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], stop_signal: int) -> None:
        self.name = name
        self.popen = popen
        self.stop_signal = stop_signal

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """Send the stop signal, wait, then kill what is left of its process group."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # Celery and uvicorn fork workers into the same process group: make sure
        # none of them is left behind even if the parent exited first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        try:
            return self.popen.wait(5)
        except subprocess.TimeoutExpired:
            return None


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
    death_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
) -> ChildProcess:
    """Start ``argv`` in its own session, tied to this process's life."""
    stdout: int | IO[bytes] = subprocess.DEVNULL
    log_file = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        stdout = log_file
    try:
        popen: subprocess.Popen[bytes] = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Only prctl() runs between fork and exec: async-signal-safe even with threads.
            preexec_fn=_death_signal_preexec(death_signal),  # noqa: PLW1509
            cwd=cwd,
            **run_as_user_kwargs(user),
        )
    finally:
        if log_file is not None:
            log_file.close()
    return ChildProcess(name, popen, stop_signal)
