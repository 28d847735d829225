"""Settings of the sealing core: where the provider key lives and which TSA to use.

Production points these at a real CA-issued key (PKCS#12 file or a PKCS#11
token/HSM) and a commercial RFC 3161 TSA; development and tests point them at
the files written by :mod:`signing.pki`. The sealing code only ever reads this
object, so it cannot tell the two apart.

Every field has a ``KYODO_SIGNING_*`` environment default, read when the object
is created (``SigningSettings()`` or ``SigningSettings.from_env()``).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SigningConfigurationError

__all__ = ["KeySource", "SigningSettings"]


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_path(name: str) -> Path | None:
    value = _env(name)
    return Path(value) if value else None


def _env_paths(name: str) -> tuple[Path, ...]:
    # os.pathsep keeps the same convention as PATH: ':' on POSIX.
    value = _env(name)
    return tuple(Path(p) for p in value.split(os.pathsep) if p) if value else ()


class KeySource(enum.StrEnum):
    """Where the provider's private key is kept."""

    PKCS12 = "pkcs12"
    PKCS11 = "pkcs11"


@dataclass(frozen=True)
class SigningSettings:
    """How to reach the provider's signing key and the trust services."""

    key_source: KeySource = field(default_factory=lambda: KeySource(_env("KYODO_SIGNING_KEY_SOURCE") or "pkcs12"))
    """``pkcs12`` (key file, e.g. the test PKI or a software seal) or ``pkcs11`` (HSM/token)."""

    pkcs12_path: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_PKCS12_PATH"))
    """PKCS#12 (.p12/.pfx) file holding the provider key, its certificate and chain."""

    pkcs12_passphrase: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_PKCS12_PASSPHRASE"), repr=False)
    """Passphrase of the PKCS#12 file."""

    pkcs11_module: Path | None = field(default_factory=lambda: _env_path("KYODO_SIGNING_PKCS11_MODULE"))
    """Path of the PKCS#11 module (.so) of the HSM or token."""

    pkcs11_token_label: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_PKCS11_TOKEN_LABEL"))
    """Label of the token holding the key."""

    pkcs11_key_label: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_PKCS11_KEY_LABEL"))
    """Label of the private key object on the token."""

    pkcs11_cert_label: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_PKCS11_CERT_LABEL"))
    """Label of the certificate object on the token (defaults to the key label)."""

    pkcs11_pin: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_PKCS11_PIN"), repr=False)
    """User PIN of the token."""

    tsa_url: str = field(default_factory=lambda: _env("KYODO_SIGNING_TSA_URL", "") or "")
    """RFC 3161 time-stamping service URL."""

    tsa_username: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_TSA_USERNAME"))
    """HTTP basic-auth user for the TSA, if it requires one."""

    tsa_password: str | None = field(default_factory=lambda: _env("KYODO_SIGNING_TSA_PASSWORD"), repr=False)
    """HTTP basic-auth password for the TSA."""

    trust_root_paths: tuple[Path, ...] = field(default_factory=lambda: _env_paths("KYODO_SIGNING_TRUST_ROOTS"))
    """PEM/DER files of the root certificates the provider and TSA chain up to."""

    extra_cert_paths: tuple[Path, ...] = field(default_factory=lambda: _env_paths("KYODO_SIGNING_EXTRA_CERTS"))
    """Intermediate certificates not already inside the PKCS#12 file or token."""

    http_timeout: float = field(default_factory=lambda: float(_env("KYODO_SIGNING_HTTP_TIMEOUT", "10") or "10"))
    """Seconds to wait for one TSA, OCSP or CRL answer before giving up."""

    @classmethod
    def from_env(cls) -> SigningSettings:
        """Build the settings from ``KYODO_SIGNING_*`` environment variables."""
        return cls()

    def check(self) -> None:
        """Fail early with a readable message if a required field is missing.

        :raises SigningConfigurationError: on a missing or contradictory field.
        """
        if not self.tsa_url:
            raise SigningConfigurationError("KYODO_SIGNING_TSA_URL is not set")
        if not self.trust_root_paths:
            raise SigningConfigurationError("KYODO_SIGNING_TRUST_ROOTS is not set")
        if self.key_source is KeySource.PKCS12:
            if self.pkcs12_path is None:
                raise SigningConfigurationError("KYODO_SIGNING_PKCS12_PATH is not set")
        elif self.pkcs11_module is None or self.pkcs11_key_label is None:
            raise SigningConfigurationError(
                "PKCS#11 needs KYODO_SIGNING_PKCS11_MODULE and KYODO_SIGNING_PKCS11_KEY_LABEL"
            )
