"""Shared fixtures: one offline test PKI and its loopback trust services.

The PKI and the threaded TSA/OCSP/CRL server are real (certomancer-generated
certificates, real HTTP on 127.0.0.1); nothing about the TSA or revocation is
mocked. They are session-scoped because generating RSA keys and issuing the
certificates takes about a second.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from signing.pki import PKIServer, TestPKI
from signing.settings import SigningSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI.ensure(tmp_path_factory.mktemp("pki"), port=free_port())


@pytest.fixture(scope="session")
def pki_server(pki: TestPKI) -> Iterator[PKIServer]:
    with PKIServer(pki) as server:
        yield server


@pytest.fixture
def services(pki_server: PKIServer) -> Iterator[PKIServer]:
    """The running server, switched back on after tests that turn parts off."""
    yield pki_server
    pki_server.tsa_available = True
    pki_server.revocation_available = True


@pytest.fixture(scope="session")
def signing_settings(pki: TestPKI, pki_server: PKIServer) -> SigningSettings:
    return pki.signing_settings("provider")


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


def pdfsig(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "sig.pdf"
    path.write_bytes(pdf)
    proc = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


HAVE_POPPLER = shutil.which("pdfsig") is not None and shutil.which("pdftotext") is not None
needs_poppler = pytest.mark.skipif(not HAVE_POPPLER, reason="poppler-utils (pdfsig, pdftotext) not installed")
