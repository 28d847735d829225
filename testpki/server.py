"""The loopback trust services of a :class:`~testpki.ca.TestPKI`: TSA, OCSP and CRL over HTTP.

:class:`PKIServer` serves the endpoints from a thread (``ThreadingHTTPServer``),
in-process for tests or as a loopback service for the demo (``python -m
testpki``). Unlike certomancer's own ``animate`` server it answers concurrent
requests and OCSP GET, and parsed private keys are cached so that a response
costs one signature rather than a key parse plus a signature.

certomancer builds its certificates in code, and an asn1crypto value built in
code is serialised again each time it is written: a time-stamp token embedding
the TSA's and the issuing CA's certificates cost about 20 ms of CPU, almost all
of it re-encoding those two certificates. The timestamper here gets the same
certificates read back from their DER bytes, which asn1crypto writes out as
they are (about 3 ms a token, the same bytes); the OCSP responder likewise.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from asn1crypto import algos, keys, ocsp, pem, tsp, x509
from certomancer import crypto_utils
from certomancer.registry import ServiceLabel
from certomancer.registry.pki_arch import ServiceRegistry
from certomancer.services import SimpleOCSPResponder, TimeStamper
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from testpki.ca import ARCH, TestPKI

__all__ = ["PKIServer"]

log = logging.getLogger(__name__)


class _CachingCryptoBackend(crypto_utils.PycaCryptographyBackend):
    """certomancer's signing backend, keeping parsed private keys.

    certomancer parses the DER private key on every TSA/OCSP/CRL signature;
    for RSA that parse costs far more than the signature itself.
    """

    def __init__(self) -> None:
        self._keys: dict[bytes, PrivateKeyTypes] = {}
        self._lock = threading.Lock()
        self._inner = crypto_utils.PycaCryptographyBackend()

    def generic_sign(
        self,
        private_key: keys.PrivateKeyInfo,
        tbs_bytes: bytes,
        sd_algo: algos.SignedDigestAlgorithm,
    ) -> bytes:

        der = private_key.dump()
        key = self._keys.get(der)
        if key is None:
            key = serialization.load_der_private_key(der, password=None)
            with self._lock:
                self._keys[der] = key
        algo = sd_algo.signature_algo
        hash_algo = getattr(hashes, sd_algo.hash_algo.upper())()
        if algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(tbs_bytes, padding.PKCS1v15(), hash_algo)
        if algo == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(tbs_bytes, ec.ECDSA(hash_algo))
        return self._inner.generic_sign(private_key, tbs_bytes, sd_algo)


_backend_lock = threading.Lock()


def _install_key_cache() -> None:
    # certomancer looks its backend up through this module attribute on every
    # signature, so swapping it in is enough and affects nothing else.
    with _backend_lock:
        if not isinstance(crypto_utils.CRYPTO_BACKEND, _CachingCryptoBackend):
            crypto_utils.CRYPTO_BACKEND = _CachingCryptoBackend()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_read(cert: x509.Certificate) -> x509.Certificate:
    """The same certificate, parsed from its DER bytes (so writing it copies those bytes)."""
    return x509.Certificate.load(cert.dump())


class _Summoned:
    """certomancer's timestamper and OCSP responder, summoned once per registry and label.

    Each answer gets its own instance (they carry the answer's time), built
    from the parts kept here with the certificates read back from DER.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry: ServiceRegistry | None = None
        self._stampers: dict[str, TimeStamper] = {}
        self._responders: dict[str, SimpleOCSPResponder] = {}

    def _for(self, registry: ServiceRegistry) -> None:
        # A new TSA generation reloads the PKI into a new registry: start over.
        if registry is not self._registry:
            self._registry = registry
            self._stampers = {}
            self._responders = {}

    def timestamper(self, registry: ServiceRegistry, label: str, at_time: datetime) -> TimeStamper:
        with self._lock:
            self._for(registry)
            base = self._stampers.get(label)
            if base is None:
                base = registry.summon_timestamper(ServiceLabel(label))
                base.tsa_cert = _as_read(base.tsa_cert)
                base.certs_to_embed = [_as_read(c) for c in base.certs_to_embed]
                self._stampers[label] = base
        return TimeStamper(
            tsa_cert=base.tsa_cert,
            tsa_key=base.tsa_key,
            signature_algo=base.signature_algo,
            certs_to_embed=base.certs_to_embed,
            fixed_dt=at_time,
            policy=base.policy,
            md_algorithm=base.md_algorithm,
        )

    def responder(self, registry: ServiceRegistry, label: str, at_time: datetime) -> SimpleOCSPResponder:
        with self._lock:
            self._for(registry)
            base = self._responders.get(label)
            if base is None:
                base = registry.summon_responder(ServiceLabel(label))
                base.responder_cert = _as_read(base.responder_cert)
                self._responders[label] = base
        return SimpleOCSPResponder(
            responder_cert=base.responder_cert,
            responder_key=base.responder_key,
            signature_algo=base.signature_algo,
            at_time=at_time,
            revinfo_interface=base.revinfo_interface,
            validity=base.validity,
            response_extensions=base.response_extensions,
        )


class PKIServer:
    """Threaded HTTP server answering TSA, OCSP and CRL requests for a TestPKI.

    Endpoints (``arch`` is ``kyodo-test``)::

        POST /tsa                         current TSA generation (RFC 3161)
        POST /<arch>/tsa/<label>          a specific TSA generation
        POST /<arch>/ocsp/<label>         OCSP (RFC 6960), also GET /<arch>/ocsp/<label>/<b64>
        GET  /<arch>/crls/<label>/latest.crl
        GET  /root.pem, /root.cer         the root certificate

    ``clock`` is consulted for every answer, so tests can move the services
    years ahead; ``tsa_available`` and ``revocation_available`` make the
    corresponding endpoints answer 503, to test outage handling.
    """

    def __init__(
        self,
        pki: TestPKI,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Prepare (but do not start) a server for ``pki`` on its host and port."""
        self.pki = pki
        self.clock = clock
        self.tsa_available = True
        self.revocation_available = True
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._summoned = _Summoned()

    def start(self) -> PKIServer:
        """Bind the port and serve from a daemon thread; returns ``self``."""
        _install_key_cache()
        handler = type("_BoundHandler", (_Handler,), {"server_state": self})
        httpd = ThreadingHTTPServer((self.pki.host, self.pki.port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="kyodo-test-pki", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PKIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers (called from handler threads) ----------------------------------------

    def answer_tsa(self, label: str | None, body: bytes) -> bytes:
        """RFC 3161 response from ``label``, or from the current generation if None."""
        now = self.clock()
        if label is None:
            gen = self.pki.current_tsa(now)
            if gen is None:
                raise _HttpError(503, "no TSA certificate is valid at the server time")
            label = gen.label
        req = tsp.TimeStampReq.load(body)
        stamper = self._summoned.timestamper(self.pki.services, label, now)
        resp: tsp.TimeStampResp = stamper.request_tsa_response(req)
        return bytes(resp.dump())

    def answer_ocsp(self, label: str, body: bytes) -> bytes:
        """OCSP response of responder ``label`` at the server clock."""
        req = ocsp.OCSPRequest.load(body)
        responder = self._summoned.responder(self.pki.services, label, self.clock())
        resp: ocsp.OCSPResponse = responder.build_ocsp_response(req)
        return bytes(resp.dump())

    def answer_crl(self, label: str) -> bytes:
        """Current CRL of repository ``label`` at the server clock."""
        crl = self.pki.services.get_crl(ServiceLabel(label), at_time=self.clock())
        return bytes(crl.dump())


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that aiohttp can keep connections open between requests.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the second one
    # waits for the client's delayed ACK (~40 ms per answer on Linux).
    disable_nagle_algorithm = True
    server_state: ClassVar[PKIServer]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("pki-server: " + format, *args)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:  # noqa: PLR0912 - one branch per endpoint
        state = self.server_state
        parts = [urllib.parse.unquote(p) for p in self.path.split("?")[0].split("/") if p]
        body = b""
        if method == "POST":
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
        try:
            if method == "GET" and parts in (["root.pem"], ["root.cer"]):
                der = state.pki.root_cert.dump()
                if parts[0].endswith(".pem"):
                    self._send(200, "application/x-pem-file", pem.armor("CERTIFICATE", der))
                else:
                    self._send(200, "application/pkix-cert", der)
                return
            if method == "POST" and (parts == ["tsa"] or (len(parts) == 3 and parts[1] == "tsa")):
                if not state.tsa_available:
                    raise _HttpError(503, "TSA switched off")
                label = None if parts == ["tsa"] else parts[2]
                self._send(200, "application/timestamp-reply", state.answer_tsa(label, body))
                return
            if len(parts) >= 3 and parts[0] == ARCH and parts[1] == "ocsp":
                if not state.revocation_available:
                    raise _HttpError(503, "OCSP switched off")
                if method == "GET" and len(parts) == 4:
                    body = _b64_any(parts[3])
                elif method != "POST" or len(parts) != 3:
                    raise _HttpError(404, "not found")
                self._send(200, "application/ocsp-response", state.answer_ocsp(parts[2], body))
                return
            if method == "GET" and len(parts) == 4 and parts[1] == "crls" and parts[3] == "latest.crl":
                if not state.revocation_available:
                    raise _HttpError(503, "CRL switched off")
                self._send(200, "application/pkix-crl", state.answer_crl(parts[2]))
                return
            raise _HttpError(404, "not found")
        except _HttpError as e:
            self._send(e.status, "text/plain; charset=utf-8", str(e).encode("utf-8"))
        except (ValueError, KeyError, binascii.Error) as e:
            log.warning("pki-server: bad request %s %s: %s", method, self.path, e)
            self._send(400, "text/plain; charset=utf-8", b"bad request")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


def _b64_any(value: str) -> bytes:
    padded = value + "=" * (-len(value) % 4)
    if "-" in value or "_" in value:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded)
