"""`kyodo demo` end to end: embedded servers, web, worker and beat, stopped without orphans."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from core.runtime import services_file
from core.settings import AppSettings, Settings
from kyodo.processes import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _demo_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYODO_")}
    env["KYODO_DATA_DIR"] = str(data_dir)
    return env


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = open(data_dir.parent / f"demo-{port}.log", "ab")  # noqa: SIM115 - child keeps it
    proc = subprocess.Popen(
        [sys.executable, "-m", "kyodo", "demo", "--port", str(port)],
        env=_demo_env(data_dir),
        cwd=PROJECT_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited with {proc.returncode}"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
            if response.status_code == 200:
                body: dict[str, object] = response.json()
                return body
            last = response.json()
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout} s: {last}")


def _descendants(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # exited or a zombie between listing and reading
        return ""


def _all_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _gone, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


def _cluster_id(data_dir: Path) -> int:
    settings = Settings(app=AppSettings(data_dir=data_dir))
    import json

    url = json.loads(services_file(settings).read_text())["database_admin_url"]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    # Not under pytest's own temporary folder: pytest keeps that at mode 0700,
    # and the embedded PostgreSQL runs as another user that must reach its data.
    base = Path(tempfile.mkdtemp(prefix="kyodo-demo-test-"))
    data_dir = base / "data"
    yield data_dir
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            proc.kill()
    shutil.rmtree(base, ignore_errors=True)


def test_demo_runs_everything_and_ctrl_c_leaves_nothing_behind(demo_dir: Path) -> None:
    port = free_port()
    demo = _start(demo_dir, port)
    body = _wait_ready(port, demo)
    assert body["failed"] == []
    first_cluster = _cluster_id(demo_dir)
    children = _descendants(demo)
    names = " ".join(_cmdline(p) for p in children)
    for part in ("postgres", "redis-server", "worker", "beat", "serve"):
        assert part in names, f"{part} is not running under kyodo demo"
    assert "-Q mail -n mail@" in names, "no worker of its own for mail"

    os.kill(demo.pid, signal.SIGINT)  # what Ctrl-C sends
    assert demo.wait(90) == 0
    assert not _all_gone(children, timeout=10), "processes outlived kyodo demo"
    assert not services_file(Settings(app=AppSettings(data_dir=demo_dir))).exists()

    # A second start reuses the same database cluster and data.
    demo = _start(demo_dir, port)
    _wait_ready(port, demo)
    assert _cluster_id(demo_dir) == first_cluster

    # Even a supervisor killed outright takes its children with it.
    children = _descendants(demo)
    demo.kill()
    demo.wait(10)
    assert not _all_gone(children, timeout=30), "children survived a killed supervisor"
