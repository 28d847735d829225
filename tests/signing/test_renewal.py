"""Ten-plus years: renew before the TSA certificate expires, validate at T+11y.

The process clock is moved with freezegun (the loopback trust services run in
this process and follow it). pyHanko's past validation starts from the system
clock, so validating "in 11 years" needs the clock to be there, not just an
explicit validation time.

This module has its own PKI: it adds a successor TSA, which the session PKI
used by the other tests must not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from signing import (
    RenewalTooLate,
    Renewer,
    Sealer,
    TextBoxFill,
    renewal_deadline,
    verify_async,
)
from signing.renewal import _last_signature_timestamp_cert, _newest_timestamp_cert
from testpki import PKIServer, TestPKI

from .conftest import free_port
from .pdfgen import make_pdf

YEAR = timedelta(days=365)


@pytest.fixture(scope="module")
def lta_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPKI]:
    pki = TestPKI.ensure(tmp_path_factory.mktemp("lta-pki"), port=free_port(), tsa_validity=5 * YEAR)
    with PKIServer(pki):
        yield pki


def _travel(to: datetime) -> AbstractContextManager[Any]:
    # tick: time keeps running; real_asyncio: the event loop keeps real time
    # so aiohttp's timeouts and scheduling are unaffected.
    return freeze_time(to, tick=True, real_asyncio=True)


def _read_from_the_last_signature(pdf: bytes) -> None:
    """The deadline comes from the last signature's bytes alone, and says what a full reading says."""
    quick = _last_signature_timestamp_cert(pdf)
    assert quick is not None
    full = _newest_timestamp_cert(pdf)
    assert full is not None
    assert quick.dump() == full.dump()
    assert _last_signature_timestamp_cert(make_pdf(1)) is None


async def test_renewed_archive_validates_after_eleven_years(lta_pki: TestPKI, tmp_path: Path) -> None:
    t0 = datetime.now(UTC)
    signing_settings = lta_pki.signing_settings()
    async with Sealer(signing_settings) as sealer:
        sealed = await sealer.seal(
            make_pdf(1),
            [TextBoxFill(0, 72, 600, 300, 20, "長期署名テスト　契約番号 R7-0789")],
            reason="テスト市 / 長期保存 / R7-0789",
            location="テスト市",
        )
    tsa1 = lta_pki.cert("tsa-1")
    _read_from_the_last_signature(sealed)
    deadline = renewal_deadline(sealed)
    assert deadline == tsa1.not_valid_after
    # Due when the deadline falls within the margin (what renew_due selects: renew_by <= now + margin).
    assert deadline is not None
    assert deadline > t0 + YEAR

    renew_at = t0 + timedelta(days=int(4.5 * 365))  # half a year before TSA 1 expires
    assert deadline <= renew_at + YEAR
    with _travel(renew_at):
        successor = lta_pki.add_successor_tsa(valid_from=renew_at - timedelta(days=1), validity=10 * YEAR)
        async with Renewer(signing_settings) as renewer:
            renewed = await renewer.renew(sealed)
    assert renewed.startswith(sealed)  # renewal only appends
    _read_from_the_last_signature(renewed)
    renewed_deadline = renewal_deadline(renewed)
    assert renewed_deadline == lta_pki.cert(successor.label).not_valid_after
    assert renewed_deadline > renew_at + YEAR

    roots = [lta_pki.root_cert]
    with _travel(t0 + 11 * YEAR):
        ok = await verify_async(renewed, trust_roots=roots)
        stale = await verify_async(sealed, trust_roots=roots)

    # Renewed: valid although the seal certificate (3 y) and TSA 1 (5 y) expired long ago.
    assert ok.ok, ok.problems
    seal, ts1, ts2 = ok.signatures
    assert seal.ltv == "OK"
    assert seal.best_signature_time is not None
    assert datetime.fromisoformat(seal.best_signature_time) < t0 + timedelta(minutes=5)
    assert ts1.trusted
    assert ts2.trusted
    assert "TSA 2" in ts2.signer_subject
    # Not renewed: the only archive timestamp expired six years ago.
    assert not stale.ok
    assert stale.signatures[0].ltv != "OK"
    assert any("renewal was missed" in p for p in stale.problems)


async def test_renewal_after_expiry_is_refused(lta_pki: TestPKI) -> None:
    t0 = datetime.now(UTC)
    signing_settings = lta_pki.signing_settings()
    async with Sealer(signing_settings) as sealer:
        sealed = await sealer.seal(make_pdf(1), [], reason="r", location="l")
    with _travel(t0 + 6 * YEAR):
        async with Renewer(signing_settings) as renewer:
            with pytest.raises(RenewalTooLate):
                await renewer.renew(sealed)


@pytest.fixture(scope="module")
def sealed_at_t0(lta_pki: TestPKI) -> tuple[datetime, bytes]:
    import asyncio

    async def seal() -> bytes:
        async with Sealer(lta_pki.signing_settings()) as sealer:
            return await sealer.seal(make_pdf(1), [], reason="r", location="l")

    return datetime.now(UTC), asyncio.run(seal())


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (timedelta(days=1), True),  # OCSP answers already stale: time-sliding needed
        (timedelta(days=40), True),  # CRLs stale as well
        (4 * YEAR, True),  # seal certificate (3 y) expired, TSA 1 still valid
        (6 * YEAR, False),  # TSA 1 expired and nobody renewed
    ],
    ids=["1d", "40d", "4y", "6y"],
)
async def test_unrenewed_archive_over_time(
    lta_pki: TestPKI, sealed_at_t0: tuple[datetime, bytes], after: timedelta, expected: bool
) -> None:
    t0, sealed = sealed_at_t0
    with _travel(t0 + after):
        report = await verify_async(sealed, trust_roots=[lta_pki.root_cert])
    assert report.ok is expected, report.problems
