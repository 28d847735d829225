"""A real S3-compatible object store for the tests: SeaweedFS (the ``weed`` binary from uv.lock)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "kyodo-test-key"
SECRET_KEY = "kyodo-test-secret"


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(taken: set[int]) -> int:
    """A free port whose gRPC companion (SeaweedFS uses port + 10000) is free too."""
    while True:
        port = random.randint(20000, 54000)
        if port not in taken and port + 10000 not in taken and _is_free(port) and _is_free(port + 10000):
            taken.update((port, port + 10000))
            return port


@dataclass(frozen=True)
class ObjectStore:
    """Where the test object store answers and how to sign in to it."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY


@contextmanager
def running_seaweedfs(folder: Path, timeout: float = 60.0) -> Iterator[ObjectStore]:
    """Start ``weed server`` with its S3 gateway in ``folder``; stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "kyodo",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    taken: set[int] = set()
    master, volume, filer, s3 = (_free_port(taken) for _ in range(4))
    weed = Path(sys.executable).parent / "weed"
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(
        [
            str(weed),
            "server",
            f"-dir={folder}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.config={config}",
            "-volume.max=4",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"SeaweedFS stopped: {(folder / 'weed.log').read_text()[-2000:]}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", s3)) == 0:
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("SeaweedFS did not open its S3 port in time")
        # The gateway opens its port before the volume server has registered.
        time.sleep(2)
        yield ObjectStore(endpoint)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                # weed takes its time over a graceful stop; its folder is thrown away anyway.
                process.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        log.close()
