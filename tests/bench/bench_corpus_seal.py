"""Benchmark: the platform's seal of every corpus producer's file next to plain pyHanko.

Run on demand (``make bench`` runs it too; pytest does not)::

    .venv/bin/python -m tests.bench.bench_corpus_seal [--runs 3] [--only NAME ...]

The corpus (tests/corpus) is generated first, into a temporary folder. For every file
but the one already signed, two variants are timed, runs interleaved round-robin as in
:mod:`tests.bench.bench_seal`: Kyodo's :class:`~signing.Sealer` with a Japanese text box
on every page (placed in the displayed page, as the corpus tests place them), and plain
pyHanko making the same B-LTA certification signature with its stock signer and a reused
session, without drawing anything. The test PKI's TSA/OCSP/CRL server runs in its own
process on loopback. A file the sealer refuses is reported with the reason, not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from core.settings import SigningSettings
from signing import Sealer, SigningError
from testpki import TestPKI
from tests.bench.bench_seal import REASON, PlainPyHanko, _interleaved, _serve
from tests.corpus.checks import SEALABLE, boxes_for, shapes
from tests.corpus.producers import Corpus, build
from tests.signing.conftest import free_port

OURS = "Kyodo Sealer, a box on every page"
PLAIN = "plain pyHanko, stock signer, reused session"
LOCATION = "盛岡市"


async def _latencies(settings: SigningSettings, pki: TestPKI, corpus: Corpus, names: list[str], runs: int) -> None:
    plain = PlainPyHanko(settings, pki)
    columns = f"{'Kyodo median':>12}{'min':>8}  {'pyHanko median':>14}{'min':>8}  ratio"
    print(f"{'document':<32}{'pages':>6}{'size':>10}  {columns}")
    ratios: list[float] = []
    async with Sealer(settings) as sealer:
        for name in names:
            pdf = corpus.data(corpus.entry(name))
            boxes = boxes_for(pdf)
            variants: dict[str, Callable[[], Awaitable[bytes]]] = {
                OURS: partial(sealer.seal, pdf, boxes, reason=REASON, location=LOCATION),
                PLAIN: partial(plain.seal, pdf, reuse=True),
            }
            head = f"{name:<32}{len(shapes(pdf)):>6}{len(pdf) / 1024:>8.0f}KB"
            try:
                results = await _interleaved(variants, runs)
            except SigningError as exc:
                print(f"{head}  refused: {type(exc).__name__}: {str(exc)[:90]}")
                continue
            (ours, ours_min, _), (base, base_min, _) = results[OURS], results[PLAIN]
            ratios.append(ours / base)
            print(
                f"{head}  {ours * 1000:>10.0f}ms{ours_min * 1000:>6.0f}ms  "
                f"{base * 1000:>12.0f}ms{base_min * 1000:>6.0f}ms  {ours / base:.2f}x"
            )
    await plain.close()
    if ratios:
        ratios.sort()
        print(f"Kyodo / plain pyHanko over {len(ratios)} files: median {ratios[len(ratios) // 2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="corpus entries to time (default: every one)")
    args = parser.parse_args()
    names = [n for n in SEALABLE if not args.only or n in args.only]

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        corpus = build(Path(tmp) / "corpus")
        print(f"corpus: {len(corpus.entries)} files generated in {time.perf_counter() - started:.1f}s")
        port = free_port()
        pki = TestPKI.ensure(Path(tmp) / "pki", port=port)
        settings = pki.signing_settings()
        ctx = mp.get_context("fork")
        ready, stop = ctx.Event(), ctx.Event()
        server = ctx.Process(target=_serve, args=(str(pki.directory), port, ready, stop), daemon=True)
        server.start()
        ready.wait(10)
        try:
            print(f"CPUs: {os.cpu_count()}  runs: {args.runs} per variant, interleaved (median and minimum)")
            asyncio.run(_latencies(settings, pki, corpus, names, args.runs))
        finally:
            stop.set()
            server.join(5)


if __name__ == "__main__":
    main()
