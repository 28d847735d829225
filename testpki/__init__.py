"""Offline test PKI and its trust services (TSA, OCSP, CRL) on loopback.

For development, the demo and the tests only; production never imports it (it
needs certomancer, and nothing in the sealing package depends on it). The
sealer is handed a :class:`~core.settings.SigningSettings`, and
:meth:`TestPKI.signing_settings` builds exactly that object for the test PKI.

- :mod:`testpki.ca`: the certificates and keys in one directory (:class:`TestPKI`);
- :mod:`testpki.server`: the TSA/OCSP/CRL HTTP server (:class:`PKIServer`);
- :mod:`testpki.environment`: its port and settings for another process;
- ``python -m testpki DIRECTORY PORT``: serve a PKI until SIGTERM or Ctrl-C
  (how ``kyodo demo`` runs it).
"""

from testpki.ca import ARCH, SealIdentity, TestPKI, TsaGeneration
from testpki.environment import existing_port, settings_environment
from testpki.server import PKIServer

__all__ = [
    "ARCH",
    "PKIServer",
    "SealIdentity",
    "TestPKI",
    "TsaGeneration",
    "existing_port",
    "settings_environment",
]
