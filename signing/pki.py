"""Offline test PKI and its trust services (TSA, OCSP, CRL) on loopback.

Development, the demo and the tests need a complete PKI without touching the
network: a root CA, an issuing CA, the provider's seal certificate, a sandbox
seal certificate visibly marked as a test, a TSA (plus successors for rollover),
an OCSP responder and CRLs. Production never imports this module: it hands the
sealer a :class:`~core.settings.SigningSettings` pointing at a real key and
TSA, and :meth:`TestPKI.signing_settings` produces exactly the same kind of
object for the test PKI (a PKCS#12 file, a TSA URL, a root certificate).

Layout of the directory (created on first use, reused afterwards)::

    pki.json            ports, passphrase, TSA generations
    certomancer.yml     the certomancer configuration, generated in code
    keys/*.key.pem      private keys, generated here and never by certomancer
    certs/*.pem         every issued certificate (for inspection and export)
    *.p12               PKCS#12 bundles handed to the sealer

Certificates are re-derived by certomancer from the stored configuration on
every load. All issuing keys are RSA with PKCS#1 v1.5 signatures, which are
deterministic, so every process derives byte-identical certificates; the
exported PEM files are compared on load to catch any drift.

:class:`PKIServer` serves the TSA, OCSP and CRL endpoints from a thread
(``ThreadingHTTPServer``), in-process for tests or as a loopback service for
the demo. Unlike certomancer's own ``animate`` server it answers concurrent
requests and OCSP GET, and parsed private keys are cached so that a response
costs one signature rather than a key parse plus a signature.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import logging
import secrets
import signal
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from asn1crypto import algos, keys, ocsp, pem, tsp, x509
from certomancer import crypto_utils
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    PKIArchitecture,
    ServiceLabel,
)
from certomancer.registry.pki_arch import ServiceRegistry
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from core.settings import KeySource, SigningSettings

__all__ = [
    "PKIServer",
    "SealIdentity",
    "TestPKI",
    "TsaGeneration",
    "main",
]

log = logging.getLogger(__name__)

ARCH = "kyodo-test"
_META_FILE = "pki.json"
_CONFIG_FILE = "certomancer.yml"
_YEAR = timedelta(days=365)

SealIdentity = Literal["provider", "sandbox"]
"""Which seal certificate to use: the provider's, or the sandbox test seal."""

_SUBJECTS: dict[str, dict[str, str]] = {
    "root": {"common-name": "Kyodo Test Root CA"},
    "interm": {"common-name": "Kyodo Test Issuing CA"},
    "ocsp": {"common-name": "Kyodo Test OCSP Responder"},
    "provider": {
        "common-name": "Kyodo Test Provider Seal",
        "organization-name": "Kyodo Test Provider",
    },
    "sandbox": {
        "common-name": "TEST ENVIRONMENT — 試験用 Kyodo Sandbox Seal",
        "organization-name": "TEST ENVIRONMENT — 試験用",
    },
}


def _fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class TsaGeneration:
    """One TSA certificate generation (rollover creates the next one)."""

    label: str
    not_before: datetime
    not_after: datetime

    def covers(self, moment: datetime) -> bool:
        """Whether the certificate is within its validity period at ``moment``."""
        return self.not_before <= moment < self.not_after


def _generate_key(path: Path) -> None:
    # Keys are made here, outside certomancer, so that loading the configuration
    # never has to create (or wait for) key material.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _ee_extensions(usage: list[str], eku: str | None) -> list[dict[str, Any]]:
    exts: list[dict[str, Any]] = [
        {
            "id": "key_usage",
            "critical": True,
            "smart-value": {"schema": "key-usage", "params": usage},
        },
        {
            "id": "crl_distribution_points",
            "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["interm"]}},
        },
        {
            "id": "authority_information_access",
            "smart-value": {"schema": "aia-urls", "params": {"ocsp-responder-names": ["interm"]}},
        },
    ]
    if eku is not None:
        exts.append({"id": "extended_key_usage", "critical": True, "value": [eku]})
    return exts


def _tsa_cert_config(label: str, serial: int, gen: TsaGeneration) -> dict[str, Any]:
    return {
        "subject": label,
        "subject-key": label,
        "issuer": "interm",
        "serial": serial,
        "validity": {"valid-from": _fmt(gen.not_before), "valid-to": _fmt(gen.not_after)},
        "extensions": _ee_extensions(["digital_signature"], "time_stamping"),
    }


def _build_config(base_url: str, now: datetime, signer_validity: timedelta, tsa: TsaGeneration) -> dict[str, Any]:
    start = now - timedelta(days=1)  # tolerate small clock skew between processes

    def validity(length: timedelta) -> dict[str, str]:
        return {"valid-from": _fmt(start), "valid-to": _fmt(start + length)}

    ca_exts = [
        {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
        {
            "id": "key_usage",
            "critical": True,
            "smart-value": {
                "schema": "key-usage",
                "params": ["digital_signature", "key_cert_sign", "crl_sign"],
            },
        },
    ]
    key_labels = ["root", "interm", "ocsp", "provider", "sandbox", tsa.label]
    entities: dict[str, dict[str, str]] = dict(_SUBJECTS)
    entities[tsa.label] = {"common-name": f"Kyodo Test TSA {tsa.label.split('-')[-1]}"}
    return {
        "external-url-prefix": base_url,
        "keysets": {
            ARCH: {
                "path-prefix": "keys",
                "keys": {lbl: {"path": f"{lbl}.key.pem"} for lbl in key_labels},
            }
        },
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {
                    "country-name": "JP",
                    "organization-name": "Kyodo Test PKI (not for production)",
                },
                "entities": entities,
                "certs": {
                    "root": {
                        "subject": "root",
                        "issuer": "root",
                        "serial": 1,
                        "validity": validity(30 * _YEAR),
                        "extensions": ca_exts,
                    },
                    "interm": {
                        "issuer": "root",
                        "serial": 2,
                        "validity": validity(20 * _YEAR),
                        "extensions": [
                            {
                                "id": "basic_constraints",
                                "critical": True,
                                "value": {"ca": True, "path-len-constraint": 0},
                            },
                            ca_exts[1],
                            {
                                "id": "crl_distribution_points",
                                "smart-value": {
                                    "schema": "crl-dist-url",
                                    "params": {"crl-repo-names": ["root"]},
                                },
                            },
                        ],
                    },
                    "ocsp": {
                        "issuer": "interm",
                        "serial": 3,
                        # Long-lived on purpose: renewal tests move the clock
                        # years ahead and still need an OCSP answer.
                        "validity": validity(20 * _YEAR),
                        "extensions": [
                            {
                                "id": "key_usage",
                                "critical": True,
                                "smart-value": {
                                    "schema": "key-usage",
                                    "params": ["digital_signature"],
                                },
                            },
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["ocsp_signing"],
                            },
                            {"id": "ocsp_no_check"},
                        ],
                    },
                    "provider": {
                        "issuer": "interm",
                        "serial": 4,
                        "validity": validity(signer_validity),
                        "extensions": _ee_extensions(["digital_signature", "non_repudiation"], None),
                    },
                    "sandbox": {
                        "issuer": "interm",
                        "serial": 5,
                        "validity": validity(signer_validity),
                        "extensions": _ee_extensions(["digital_signature", "non_repudiation"], None),
                    },
                    tsa.label: _tsa_cert_config(tsa.label, 100, tsa),
                },
                "services": {
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "ocsp",
                            "signing-key": "ocsp",
                        }
                    },
                    "crl-repo": {
                        "root": {
                            "for-issuer": "root",
                            "signing-key": "root",
                            "simulated-update-schedule": "P30D",
                        },
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "P7D",
                        },
                    },
                    "time-stamping": {
                        tsa.label: {
                            "signing-key": tsa.label,
                            "signing-cert": tsa.label,
                            "certs-to-embed": ["interm"],
                        }
                    },
                },
            }
        },
    }


class TestPKI:
    """A generated test PKI living in one directory.

    Use :meth:`ensure` to create it on first use (or reopen it), then
    :meth:`signing_settings` to get the settings a :class:`~signing.sealing.Sealer`
    needs, and :class:`PKIServer` to serve its TSA, OCSP and CRL endpoints.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        """Open an existing PKI; prefer :meth:`ensure`."""
        self.directory = directory
        self._lock = threading.Lock()
        meta = json.loads((directory / _META_FILE).read_text("utf-8"))
        self.port: int = meta["port"]
        self.host: str = meta["host"]
        self._passphrase: str = meta["passphrase"]
        self._tsas = [TsaGeneration(t["label"], _parse(t["not_before"]), _parse(t["not_after"])) for t in meta["tsas"]]
        self._reload()

    # -- creation -----------------------------------------------------------------

    @classmethod
    def ensure(
        cls,
        directory: Path | str,
        *,
        port: int,
        host: str = "127.0.0.1",
        now: datetime | None = None,
        tsa_validity: timedelta = 5 * _YEAR,
        signer_validity: timedelta = 3 * _YEAR,
    ) -> TestPKI:
        """Open the PKI in ``directory``, generating it first if it is not there.

        :param directory: where keys, configuration and certificates are kept.
        :param port: loopback port of :class:`PKIServer`; it is written into the
            certificates (OCSP and CRL URLs), so it is fixed at generation time.
        :param host: loopback address written into the certificates.
        :param now: start of all validity periods (default: the current time).
        :param tsa_validity: lifetime of the first TSA certificate; short enough
            that archives must be renewed, as with a real TSA.
        :param signer_validity: lifetime of the provider and sandbox certificates.
        :returns: the opened PKI.
        :raises ValueError: if an existing PKI was generated for another port.
        """
        directory = Path(directory)
        if (directory / _META_FILE).exists():
            pki = cls(directory)
            if (pki.host, pki.port) != (host, port):
                raise ValueError(
                    f"test PKI in {directory} was generated for {pki.host}:{pki.port}, "
                    f"not {host}:{port}; use another directory or that port"
                )
            return pki
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        directory.mkdir(parents=True, exist_ok=True)
        tsa = TsaGeneration("tsa-1", now - timedelta(days=1), now - timedelta(days=1) + tsa_validity)
        config = _build_config(f"http://{host}:{port}", now, signer_validity, tsa)
        for label in config["keysets"][ARCH]["keys"]:
            _generate_key(directory / "keys" / f"{label}.key.pem")
        (directory / _CONFIG_FILE).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
        meta = {
            "host": host,
            "port": port,
            "passphrase": secrets.token_urlsafe(18),
            "tsas": [
                {
                    "label": tsa.label,
                    "not_before": _fmt(tsa.not_before),
                    "not_after": _fmt(tsa.not_after),
                }
            ],
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
        (directory / _META_FILE).chmod(0o600)
        pki = cls(directory)
        pki._export_certs(check=False)
        return pki

    def _reload(self) -> None:
        config_dict = yaml.safe_load((self.directory / _CONFIG_FILE).read_text("utf-8"))
        config = CertomancerConfig(config_dict, key_search_dir=str(self.directory))
        arch = config.get_pki_arch(ArchLabel(ARCH))
        # Issue everything now: certomancer caches lazily and the server threads
        # should not race to fill that cache.
        for label in config_dict["pki-architectures"][ARCH]["certs"]:
            arch.get_cert(CertLabel(label))
        with self._lock:
            self._config_dict = config_dict
            self._arch = arch
        if (self.directory / "certs").exists():
            self._export_certs(check=True)

    def _export_certs(self, *, check: bool) -> None:
        out = self.directory / "certs"
        out.mkdir(exist_ok=True)
        for label in self._config_dict["pki-architectures"][ARCH]["certs"]:
            data = pem.armor("CERTIFICATE", self._arch.get_cert(CertLabel(label)).dump())
            target = out / f"{label}.pem"
            if check and target.exists():
                if target.read_bytes() != data:
                    raise RuntimeError(
                        f"certificate {label} re-derived differently from {target}; "
                        "the stored PKI is inconsistent, delete the directory"
                    )
                continue
            target.write_bytes(data)

    def add_successor_tsa(self, *, valid_from: datetime, validity: timedelta = 10 * _YEAR) -> TsaGeneration:
        """Issue the next TSA certificate (new key, new certificate) for rollover.

        The TSA endpoint (``/tsa``) switches to the newest generation whose
        validity covers the server clock, the way a real TSA rolls its
        certificate over behind an unchanged URL.

        :param valid_from: start of the new certificate's validity.
        :param validity: its lifetime.
        :returns: the new generation.
        """
        label = f"tsa-{len(self._tsas) + 1}"
        gen = TsaGeneration(label, valid_from.replace(microsecond=0), valid_from + validity)
        _generate_key(self.directory / "keys" / f"{label}.key.pem")
        config = json.loads(json.dumps(self._config_dict))  # deep copy
        arch_cfg = config["pki-architectures"][ARCH]
        config["keysets"][ARCH]["keys"][label] = {"path": f"{label}.key.pem"}
        arch_cfg["entities"][label] = {"common-name": f"Kyodo Test TSA {len(self._tsas) + 1}"}
        arch_cfg["certs"][label] = _tsa_cert_config(label, 99 + len(self._tsas) + 1, gen)
        arch_cfg["services"]["time-stamping"][label] = {
            "signing-key": label,
            "signing-cert": label,
            "certs-to-embed": ["interm"],
        }
        (self.directory / _CONFIG_FILE).write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
        meta = json.loads((self.directory / _META_FILE).read_text("utf-8"))
        meta["tsas"].append({"label": label, "not_before": _fmt(gen.not_before), "not_after": _fmt(gen.not_after)})
        (self.directory / _META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
        self._tsas.append(gen)
        self._reload()
        return gen

    # -- accessors ------------------------------------------------------------------

    @property
    def arch(self) -> PKIArchitecture:
        """The certomancer PKI architecture (certificates, keys, revocation)."""
        return self._arch

    @property
    def services(self) -> ServiceRegistry:
        """certomancer's service registry (TSA, OCSP, CRL answers)."""
        return self._arch.service_registry

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the trust services."""
        return f"http://{self.host}:{self.port}"

    @property
    def tsa_url(self) -> str:
        """Stable TSA URL; answered by the current TSA generation."""
        return f"{self.base_url}/tsa"

    @property
    def tsa_generations(self) -> tuple[TsaGeneration, ...]:
        """All TSA certificate generations, oldest first."""
        return tuple(self._tsas)

    def current_tsa(self, moment: datetime) -> TsaGeneration | None:
        """The generation that answers ``/tsa`` at ``moment`` (newest valid one)."""
        valid = [t for t in self._tsas if t.covers(moment)]
        return max(valid, key=lambda t: t.not_before) if valid else None

    def cert(self, label: str) -> x509.Certificate:
        """A certificate by label: root, interm, ocsp, provider, sandbox, tsa-N."""
        return self._arch.get_cert(CertLabel(label))

    @property
    def root_cert(self) -> x509.Certificate:
        """The self-signed root certificate (the only trust anchor)."""
        return self.cert("root")

    @property
    def root_pem_path(self) -> Path:
        """PEM file of the root certificate, for ``SigningSettings.trust_root_paths``."""
        return self.directory / "certs" / "root.pem"

    def export_root_certificate(self, dest_dir: Path | str) -> tuple[Path, Path]:
        """Write the root certificate as PEM and DER for trusting it elsewhere.

        In Acrobat Reader: Preferences > Signatures > Identities & Trusted
        Certificates > More > Trusted Certificates > Import, choose the ``.cer``
        file and tick "Use this certificate as a trusted root" (and "Certified
        documents" to accept the certification signature). For poppler's
        ``pdfsig`` import it into an NSS database with ``certutil -A -t C,,``.

        :param dest_dir: directory to write ``kyodo-test-root.pem`` and ``.cer`` into.
        :returns: (pem_path, der_path).
        """
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        der = self.root_cert.dump()
        pem_path = dest / "kyodo-test-root.pem"
        der_path = dest / "kyodo-test-root.cer"
        pem_path.write_bytes(pem.armor("CERTIFICATE", der))
        der_path.write_bytes(der)
        return pem_path, der_path

    def pkcs12_path(self, identity: SealIdentity = "provider") -> Path:
        """Write (once) and return a PKCS#12 bundle of a seal key and its chain."""
        path = self.directory / f"{identity}.p12"
        if not path.exists():
            data = self._arch.package_pkcs12(CertLabel(identity), password=self._passphrase.encode("utf-8"))
            path.write_bytes(data)
            path.chmod(0o600)
        return path

    def signing_settings(self, identity: SealIdentity = "provider", *, tsa_url: str | None = None) -> SigningSettings:
        """Settings that point the sealer at this PKI exactly as production would.

        :param identity: ``provider`` (the platform seal) or ``sandbox`` (the
            certificate labelled "TEST ENVIRONMENT — 試験用" for sandbox members).
        :param tsa_url: override the TSA URL (e.g. an unreachable one in tests).
        """
        return SigningSettings(
            key_source=KeySource.PKCS12,
            pkcs12_path=self.pkcs12_path(identity),
            pkcs12_passphrase=self._passphrase,
            pkcs11_module=None,
            pkcs11_token_label=None,
            pkcs11_key_label=None,
            pkcs11_cert_label=None,
            pkcs11_pin=None,
            tsa_url=tsa_url if tsa_url is not None else self.tsa_url,
            tsa_username=None,
            tsa_password=None,
            trust_root_paths=(self.root_pem_path,),
            extra_cert_paths=(),
            http_timeout=5.0,
        )


# -- the loopback trust-service server ----------------------------------------------


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
        stamper = self.pki.services.summon_timestamper(ServiceLabel(label), at_time=now)
        resp: tsp.TimeStampResp = stamper.request_tsa_response(req)
        return bytes(resp.dump())

    def answer_ocsp(self, label: str, body: bytes) -> bytes:
        """OCSP response of responder ``label`` at the server clock."""
        req = ocsp.OCSPRequest.load(body)
        responder = self.pki.services.summon_responder(ServiceLabel(label), at_time=self.clock())
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


def main(argv: list[str] | None = None) -> None:
    """``python -m signing.pki --dir DIR --port PORT``: serve the test PKI on loopback."""
    parser = argparse.ArgumentParser(description="Kyodo offline test PKI: TSA, OCSP and CRL on loopback")
    parser.add_argument("--dir", type=Path, required=True, help="PKI directory (created on first use)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--export-root", type=Path, help="also write the root certificate (PEM + DER) here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    pki = TestPKI.ensure(args.dir, port=args.port)
    if args.export_root:
        for path in pki.export_root_certificate(args.export_root):
            print(f"root certificate: {path}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with PKIServer(pki):
        print(f"TSA {pki.tsa_url}  OCSP/CRL {pki.base_url}/{ARCH}/...  (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()


def existing_port(directory: Path | str, default: int) -> int:
    """The port a PKI in ``directory`` was generated for (its URLs are in the certificates)."""
    meta = Path(directory) / _META_FILE
    try:
        return int(json.loads(meta.read_text("utf-8"))["port"])
    except (OSError, ValueError, KeyError):
        return default


def settings_environment(settings: SigningSettings, *, prefix: str = "KYODO_SIGNING_") -> dict[str, str]:
    """Environment variables that make another process build the same :class:`SigningSettings`."""
    env = {
        f"{prefix}KEY_SOURCE": settings.key_source.value,
        f"{prefix}TSA_URL": settings.tsa_url,
        f"{prefix}TRUST_ROOTS": ":".join(str(p) for p in settings.trust_root_paths),
        f"{prefix}HTTP_TIMEOUT": str(settings.http_timeout),
    }
    if settings.pkcs12_path is not None:
        env[f"{prefix}PKCS12_PATH"] = str(settings.pkcs12_path)
    if settings.pkcs12_passphrase is not None:
        env[f"{prefix}PKCS12_PASSPHRASE"] = settings.pkcs12_passphrase
    return env
