"""The offline test PKI: a root CA, an issuing CA, the seal certificates, TSA generations.

Development, the demo and the tests need a complete PKI without touching the
network: a root CA, an issuing CA, the provider's seal certificate, a sandbox
seal certificate visibly marked as a test, a TSA (plus successors for rollover),
an OCSP responder and CRLs. :meth:`TestPKI.signing_settings` hands the sealer a
:class:`~core.settings.SigningSettings` of exactly the kind production builds
for a real key and TSA (a PKCS#12 file, a TSA URL, a root certificate).

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
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from asn1crypto import pem, x509
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig
from certomancer.registry.pki_arch import ServiceRegistry
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.settings import KeySource, SigningSettings

__all__ = ["ARCH", "META_FILE", "SealIdentity", "TestPKI", "TsaGeneration"]

ARCH = "kyodo-test"
META_FILE = "pki.json"
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
    :meth:`signing_settings` to get the settings the sealer
    needs, and :class:`~testpki.server.PKIServer` to serve its TSA, OCSP and CRL endpoints.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        """Open an existing PKI; prefer :meth:`ensure`."""
        self.directory = directory
        self._lock = threading.Lock()
        meta = json.loads((directory / META_FILE).read_text("utf-8"))
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
        :param port: loopback port of :class:`~testpki.server.PKIServer`; it is written into the
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
        if (directory / META_FILE).exists():
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
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
        (directory / META_FILE).chmod(0o600)
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
        meta = json.loads((self.directory / META_FILE).read_text("utf-8"))
        meta["tsas"].append({"label": label, "not_before": _fmt(gen.not_before), "not_after": _fmt(gen.not_after)})
        (self.directory / META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
        self._tsas.append(gen)
        self._reload()
        return gen

    # -- accessors ------------------------------------------------------------------

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
