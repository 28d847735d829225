"""Benchmark: Kyodo's Sealer next to plain pyHanko doing the same B-LTA seal.

Run on demand (not collected by pytest)::

    .venv/bin/python -m tests.bench.bench_seal [--runs 7] [--big-mb 20] [--seconds 8]

The test PKI's TSA/OCSP/CRL server runs in its own process on loopback, so its
work does not share the interpreter lock with the sealer being measured.
Latency figures are the median and minimum of runs interleaved round-robin
across the variants. "Plain pyHanko" is the same certification signature
(P=1, PAdES, signature timestamp, DSS, document timestamp) made with pyHanko's
stock SimpleSigner, in two flavours: reusing one timestamper, HTTP session and
set of revocation fetchers, so the OCSP answers and CRLs fetched for the first
seal serve the next ones as the platform's sealer reuses them (the fair
baseline), and creating them per document (the naive way).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing as mp
import multiprocessing.synchronize
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import aiohttp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers

from core.asyncrun import run_async
from core.settings import SigningSettings
from signing import Sealer, TextBoxFill
from signing._trust import revocation_policy
from testpki import PKIServer, TestPKI
from tests.signing.conftest import free_port
from tests.signing.pdfgen import make_pdf

FIELDS = [
    TextBoxFill(0, 72, 600, 320, 22, "株式会社テスト商事　代表取締役　髙橋一郎"),
    TextBoxFill(0, 72, 560, 320, 22, "契約金額：金１，２３４，５６７円（税込）"),
]
REASON = "札幌市 / 庁舎清掃業務委託契約 / 契約番号 R7-0123 の締結"


def _serve(directory: str, port: int, ready: mp.synchronize.Event, stop: mp.synchronize.Event) -> None:
    with PKIServer(TestPKI.ensure(directory, port=port)):
        ready.set()
        stop.wait()


async def _interleaved(
    variants: dict[str, Callable[[], Awaitable[bytes]]], runs: int
) -> dict[str, tuple[float, float, int]]:
    """Median and minimum per variant, runs interleaved round-robin.

    Interleaving makes every variant see the same background load, which on a
    shared machine matters more than the number of runs.
    """
    sizes = {label: len(await fn()) for label, fn in variants.items()}  # warm-up
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, fn in variants.items():
            t = time.perf_counter()
            await fn()
            times[label].append(time.perf_counter() - t)
    return {label: (statistics.median(ts), min(ts), sizes[label]) for label, ts in times.items()}


class SameFetchers(FetcherBackend):
    """One set of pyHanko's fetchers for every seal: what they fetched once is reused."""

    def __init__(self, fetchers: Fetchers) -> None:
        self.fetchers = fetchers

    def get_fetchers(self) -> Fetchers:
        return self.fetchers

    async def close(self) -> None:
        pass


class PlainPyHanko:
    """Same B-LTA certification signature with pyHanko's stock SimpleSigner."""

    def __init__(self, settings: SigningSettings, pki: TestPKI) -> None:
        assert settings.pkcs12_path
        assert settings.pkcs12_passphrase
        signer = SimpleSigner.load_pkcs12(str(settings.pkcs12_path), passphrase=settings.pkcs12_passphrase.encode())
        assert signer is not None
        self.signer = signer
        self.settings = settings
        self.root = pki.root_cert
        self.session: aiohttp.ClientSession | None = None
        self.timestamper: HTTPTimeStamper | None = None
        self.fetchers: FetcherBackend | None = None

    async def seal(self, pdf: bytes, *, reuse: bool) -> bytes:
        from pyhanko_certvalidator.policy_decl import RevocationCheckingRule

        if reuse:
            if self.session is None:
                self.session = aiohttp.ClientSession()
                self.timestamper = HTTPTimeStamper(self.settings.tsa_url, session=self.session)
                self.fetchers = SameFetchers(AIOHttpFetcherBackend(self.session).get_fetchers())
            session, timestamper, fetchers = self.session, self.timestamper, self.fetchers
        else:
            session = aiohttp.ClientSession()
            timestamper = HTTPTimeStamper(self.settings.tsa_url, session=session)
            fetchers = AIOHttpFetcherBackend(session)
        assert timestamper is not None
        try:
            vc = ValidationContext(
                trust_roots=[self.root],
                allow_fetching=True,
                revinfo_policy=revocation_policy(RevocationCheckingRule.CRL_AND_OCSP_REQUIRED),
                fetcher_backend=fetchers,
            )
            meta = PdfSignatureMetadata(
                field_name="Seal",
                md_algorithm="sha256",
                reason=REASON,
                location="札幌市",
                certify=True,
                docmdp_permissions=MDPPerm.NO_CHANGES,
                subfilter=SigSeedSubFilter.PADES,
                embed_validation_info=True,
                use_pades_lta=True,
                validation_context=vc,
                signer_key_usage={"digital_signature"},
            )
            w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            out = io.BytesIO()
            signer = PdfSigner(meta, self.signer, timestamper=timestamper, new_field_spec=SigFieldSpec("Seal"))
            await signer.async_sign_pdf(w, output=out)
            return out.getvalue()
        finally:
            if not reuse:
                await session.close()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def _worker(settings: SigningSettings, pdf: bytes, seconds: float, start: float, q: mp.Queue[int]) -> None:
    sealer = Sealer(settings)  # as a worker: one sealer on the process's one loop
    run_async(sealer.seal(pdf, FIELDS, reason=REASON, location="札幌市"))  # warm-up before the clock starts
    while time.time() < start:
        time.sleep(0.005)
    count = 0
    while time.time() < start + seconds:
        run_async(sealer.seal(pdf, FIELDS, reason=REASON, location="札幌市"))
        count += 1
    run_async(sealer.aclose())
    q.put(count)


def _throughput(settings: SigningSettings, pdf: bytes, workers: int, seconds: float) -> float:
    ctx = mp.get_context("fork")
    q: mp.Queue[int] = ctx.Queue()
    start = time.time() + 3.0
    procs = [ctx.Process(target=_worker, args=(settings, pdf, seconds, start, q)) for _ in range(workers)]
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def _high_water_mb() -> float:
    # VmHWM, not ru_maxrss: ru_maxrss survives exec() and would report the
    # parent's peak for a freshly spawned interpreter.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_worker(settings: SigningSettings, path: str, q: mp.Queue[tuple[float, float]]) -> None:
    sealer = Sealer(settings)  # as a worker: one sealer on the process's one loop
    run_async(sealer.seal(make_pdf(1), FIELDS, reason=REASON, location="札幌市"))  # imports, key, TSA pin
    before = _high_water_mb()
    run_async(sealer.seal(Path(path).read_bytes(), FIELDS, reason=REASON, location="札幌市"))
    after = _high_water_mb()
    run_async(sealer.aclose())
    q.put((before, after))


def _peak_rss_mb(settings: SigningSettings, pdf: bytes, tmp: Path) -> tuple[float, float]:
    # A fresh (spawned) interpreter, so the figure is one worker's own memory.
    path = tmp / "big.pdf"
    path.write_bytes(pdf)
    ctx = mp.get_context("spawn")
    q: mp.Queue[tuple[float, float]] = ctx.Queue()
    p = ctx.Process(target=_rss_worker, args=(settings, str(path), q))
    p.start()
    value = q.get()
    p.join()
    return value


async def _latencies(settings: SigningSettings, pki: TestPKI, docs: dict[str, bytes], runs: int) -> None:
    plain = PlainPyHanko(settings, pki)
    ours, base, naive = (
        "Kyodo Sealer, 2 Japanese text boxes",
        "plain pyHanko, stock signer, reused session",
        "plain pyHanko, stock signer, new session each",
    )
    print(f"{'document':<10}{'variant':<48}{'median':>9}{'min':>9}{'added':>11}")
    async with Sealer(settings) as sealer:
        for name, pdf in docs.items():
            variants: dict[str, Callable[[], Awaitable[bytes]]] = {
                ours: partial(sealer.seal, pdf, FIELDS, reason=REASON, location="札幌市"),
                "Kyodo Sealer, no text box": partial(sealer.seal, pdf, [], reason=REASON, location="札幌市"),
                base: partial(plain.seal, pdf, reuse=True),
                naive: partial(plain.seal, pdf, reuse=False),
            }
            results = await _interleaved(variants, runs)
            for label, (median, best, size) in results.items():
                added = size - len(pdf)
                print(f"{name:<10}{label:<48}{median * 1000:>7.0f}ms{best * 1000:>7.0f}ms{added:>+10,d}B")
            for ref in (base, naive):
                m = 100 * (results[ours][0] - results[ref][0]) / results[ref][0]
                b = 100 * (results[ours][1] - results[ref][1]) / results[ref][1]
                print(f"{name:<10}platform overhead vs {ref}: {m:+.0f}% (median), {b:+.0f}% (min)")
    await plain.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--big-mb", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        pki = TestPKI.ensure(Path(tmp) / "pki", port=port)
        settings = pki.signing_settings()
        ctx = mp.get_context("fork")
        ready, stop = ctx.Event(), ctx.Event()
        server = ctx.Process(target=_serve, args=(str(pki.directory), port, ready, stop), daemon=True)
        server.start()
        ready.wait(10)
        try:
            small = make_pdf(1)
            big = make_pdf(1, filler_bytes=int(args.big_mb * 1_000_000))
            print(f"CPUs: {os.cpu_count()}  runs: {args.runs} (median)  1-page: {len(small):,} B  big: {len(big):,} B")
            asyncio.run(_latencies(settings, pki, {"1-page": small, f"{len(big) / 1e6:.1f} MB": big}, args.runs))
            idle, peak = _peak_rss_mb(settings, big, Path(tmp))
            print(f"worker peak RSS: {idle:.0f} MB after a 1-page seal, {peak:.0f} MB after sealing the big PDF")
            for workers in (1, 2):
                rate = _throughput(settings, small, workers, args.seconds)
                print(f"throughput, {workers} worker process(es), 1-page with text boxes: {rate:.1f} seals/s")
        finally:
            stop.set()
            server.join(5)


if __name__ == "__main__":
    main()
