"""Fixtures of the signing tests.

Contracts: an organisation with titles, signers, drafters and API keys, and a real
SMTP server. Sealing: one offline test PKI and its loopback TSA/OCSP/CRL server
(certomancer-generated certificates, real HTTP on 127.0.0.1), session-scoped
because generating RSA keys and issuing the certificates takes about a second.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import SigningSettings
from testpki import PKIServer, TestPKI
from tests import factories as f
from tests.conftest import TwoMembers


@dataclasses.dataclass
class Office:
    """Member A (and B) ready to draft contracts."""

    members: TwoMembers
    title_a: Any
    title_b: Any
    drafter_a: Any
    signers_a: list[Any]
    key_a: str
    key_b: str


@pytest.fixture
async def office(db_session: AsyncSession, two_members: TwoMembers) -> Office:
    return await make_office(db_session, two_members)


async def new_members(session: AsyncSession) -> TwoMembers:
    """Two members of a new consortium with their administrators, for tests that commit (a worker must see them)."""
    group = await f.consortium(session)
    a = await f.member(session, group, "032018", "盛岡市")
    b = await f.member(session, group, "032140", "八幡平市")
    return TwoMembers(
        consortium=group,
        a=a,
        b=b,
        admin_a=await f.staff(session, a, "morioka-admin"),
        admin_b=await f.staff(session, b, "hachimantai-admin"),
        secretariat=await f.secretariat(session, group, "jimukyoku"),
    )


async def make_office(session: AsyncSession, two: TwoMembers) -> Office:
    title_a = await f.title(session, two.a, "mayor", "市長", "盛岡市長 内舘 茂")
    title_b = await f.title(session, two.b, "mayor", "市長", "八幡平市長")
    drafter = await f.staff(session, two.a, "morioka-drafter", roles=("drafter",), name="起案 太郎")
    signers = []
    for i in range(3):
        signer = await f.staff(session, two.a, f"morioka-signer{i}", roles=("signer",), name=f"締結 {i}")
        await f.grant(session, signer, title_a)
        signers.append(signer)
    return Office(
        members=two,
        title_a=title_a,
        title_b=title_b,
        drafter_a=drafter,
        signers_a=signers,
        key_a=await f.api_key(session, two.a, roles=("drafter",)),
        key_b=await f.api_key(session, two.b, roles=("drafter",)),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """What a real SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free port."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


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
