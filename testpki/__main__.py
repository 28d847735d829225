"""``python -m testpki DIRECTORY PORT``: serve the test PKI on loopback until SIGTERM or Ctrl-C.

The process ``kyodo demo`` starts for its trust services; the PKI is generated in
``DIRECTORY`` on first use. Operator commands live in the ``kyodo`` CLI
(``kyodo pki export-root``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading

from testpki.ca import ARCH, TestPKI
from testpki.server import PKIServer

USAGE = "usage: python -m testpki DIRECTORY PORT"


def serve(directory: str, port: int) -> None:
    """Open (or generate) the PKI in ``directory`` and answer on ``port`` until stopped."""
    logging.basicConfig(level=logging.INFO)
    pki = TestPKI.ensure(directory, port=port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with PKIServer(pki):
        print(f"TSA {pki.tsa_url}  OCSP/CRL {pki.base_url}/{ARCH}/...  (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit(USAGE)
    serve(sys.argv[1], int(sys.argv[2]))
