"""Private glue between the settings and pyHanko: keys, TSA client, revocation policy.

Shared by :mod:`signing.sealing` and :mod:`signing.renewal`. Nothing here knows
about the test PKI; everything is derived from :class:`SigningSettings`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

import aiohttp
from asn1crypto import cms, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator import errors as cv_errors
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from core.settings import KeySource, SigningSettings

from .errors import SealingUnavailable, SigningConfigurationError, SigningError

__all__ = [
    "KeptKeySigner",
    "PinnedTimeStamper",
    "ReusedRevocationData",
    "TsaCertificateChanged",
    "as_signing_error",
    "declares_crl_and_ocsp",
    "load_extra_certs",
    "load_signer",
    "load_trust_roots",
    "revocation_policy",
    "signing_validation_context",
    "tsa_cert_of",
]

DIGEST = "sha256"


# -- keys ------------------------------------------------------------------------------


class KeptKeySigner(SimpleSigner):
    """``SimpleSigner`` that parses its private key once, not on every signature.

    pyHanko's ``SimpleSigner.sign_raw`` re-loads the DER key on each call and is
    called twice per seal (size estimate + real signature); for RSA-2048 that
    parse dominates the cost of a seal.
    """

    def __init__(self, base: SimpleSigner) -> None:
        """Wrap an already loaded ``SimpleSigner`` (certificate, key, chain)."""
        super().__init__(
            signing_cert=base.signing_cert,
            signing_key=base.signing_key,
            cert_registry=base.cert_registry,
            signature_mechanism=base.signature_mechanism,
            prefer_pss=base.prefer_pss,
            embed_roots=base.embed_roots,
        )
        self._key: PrivateKeyTypes = serialization.load_der_private_key(base.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign ``data`` with the cached key (RSA PKCS#1 v1.5, RSA-PSS, ECDSA)."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algo = mechanism.signature_algo
        except ValueError:
            algo = mechanism["algorithm"].native
        key = self._key
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hash_algo)
        if algo == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algo))
        # PSS and anything unusual: the stock (slower) implementation is correct.
        return super().sign_raw(data, digest_algorithm)


def _load_pkcs12(settings: SigningSettings, extra: list[x509.Certificate]) -> Signer:
    if settings.pkcs12_path is None:
        raise SigningConfigurationError("no PKCS#12 file configured")
    try:
        data = settings.pkcs12_path.read_bytes()
    except OSError as e:
        raise SigningConfigurationError(f"cannot read {settings.pkcs12_path}: {e}") from e
    passphrase = settings.pkcs12_passphrase.encode("utf-8") if settings.pkcs12_passphrase else None
    try:
        base = SimpleSigner.load_pkcs12_data(data, other_certs=extra, passphrase=passphrase)
    except ValueError as e:
        raise SigningConfigurationError(f"cannot open {settings.pkcs12_path} (wrong passphrase or not PKCS#12)") from e
    # pyHanko's loaders return None instead of raising on some bad input.
    if base is None or base.signing_cert is None:
        raise SigningConfigurationError(f"no key/certificate in {settings.pkcs12_path}")
    return KeptKeySigner(base)


def _load_pkcs11(settings: SigningSettings, extra: list[x509.Certificate]) -> Signer:
    try:
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign import pkcs11
    except ImportError as e:  # python-pkcs11 is an optional extra
        raise SigningConfigurationError("PKCS#11 needs `pip install pyhanko[pkcs11]`") from e
    if settings.pkcs11_module is None or settings.pkcs11_key_label is None:
        raise SigningConfigurationError("PKCS#11 module and key label are required")
    try:
        session = pkcs11.open_pkcs11_session(
            str(settings.pkcs11_module),
            token_criteria=TokenCriteria(label=settings.pkcs11_token_label),
            user_pin=settings.pkcs11_pin,
        )
        # The key never leaves the token, so there is nothing to cache here.
        return pkcs11.PKCS11Signer(
            session,
            key_label=settings.pkcs11_key_label,
            cert_label=settings.pkcs11_cert_label or settings.pkcs11_key_label,
            ca_chain=extra,
        )
    except Exception as e:
        raise SigningConfigurationError(f"cannot open PKCS#11 token: {e}") from e


def load_trust_roots(settings: SigningSettings) -> list[x509.Certificate]:
    """Root certificates from ``settings.trust_root_paths``."""
    if not settings.trust_root_paths:
        raise SigningConfigurationError("no trust roots configured")
    try:
        return list(load_certs_from_pemder([str(p) for p in settings.trust_root_paths]))
    except (OSError, ValueError) as e:
        raise SigningConfigurationError(f"cannot load trust roots: {e}") from e


def load_extra_certs(settings: SigningSettings) -> list[x509.Certificate]:
    """Intermediate certificates from ``settings.extra_cert_paths``."""
    try:
        return list(load_certs_from_pemder([str(p) for p in settings.extra_cert_paths]))
    except (OSError, ValueError) as e:
        raise SigningConfigurationError(f"cannot load extra certificates: {e}") from e


def load_signer(settings: SigningSettings) -> Signer:
    """Open the provider key described by ``settings`` (once per process)."""
    extra = load_extra_certs(settings)
    if settings.key_source is KeySource.PKCS12:
        return _load_pkcs12(settings, extra)
    return _load_pkcs11(settings, extra)


# -- TSA client ---------------------------------------------------------------------------


class TsaCertificateChanged(Exception):
    """The TSA answered with another certificate than the one validated up front."""


def tsa_cert_of(token: cms.ContentInfo) -> x509.Certificate:
    """The signing certificate of an RFC 3161 timestamp token."""
    signed_data = token["content"]
    sid = signed_data["signer_infos"][0]["sid"]
    for choice in signed_data["certificates"]:
        cert = choice.chosen
        if not isinstance(cert, x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.issuer == ias["issuer"] and cert.serial_number == ias["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise SigningError("timestamp token does not carry its signing certificate")


class PinnedTimeStamper(HTTPTimeStamper):
    """HTTP TSA client that notices a TSA certificate rollover.

    pyHanko validates (and embeds revocation data for) the certificate of a
    *dummy* timestamp fetched once per timestamper. After a rollover the real
    tokens carry a new certificate whose revocation data would be missing from
    the DSS, so the first token from an unexpected certificate raises
    :class:`TsaCertificateChanged`; the caller then starts over with a fresh
    timestamper.
    """

    def __init__(self, url: str, *, session: aiohttp.ClientSession, settings: SigningSettings) -> None:
        """Create a client for ``url`` that uses the caller's session."""
        auth: tuple[str, str] | None = None
        if settings.tsa_username:
            auth = (settings.tsa_username, settings.tsa_password or "")
        super().__init__(url, timeout=settings.http_timeout, auth=auth, session=session)
        self.expected_cert: x509.Certificate | None = None

    async def pin(self) -> x509.Certificate:
        """Fetch the dummy token once and remember its certificate."""
        if self.expected_cert is None:
            token = await self.async_dummy_response(DIGEST)
            self.expected_cert = tsa_cert_of(token)
        return self.expected_cert

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """Request a token and check it comes from the pinned certificate."""
        token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
        expected = self.expected_cert
        if expected is not None and tsa_cert_of(token).dump() != expected.dump():
            raise TsaCertificateChanged(tsa_cert_of(token).subject.human_friendly)
        return token


# -- revocation policy --------------------------------------------------------------------


def declares_crl_and_ocsp(cert: x509.Certificate) -> bool:
    """Whether a certificate names both an OCSP responder and a CRL."""
    return bool(cert.ocsp_urls) and bool(cert.crl_distribution_points)


def revocation_policy(end_entity_rule: RevocationCheckingRule) -> CertRevTrustPolicy:
    """Require revocation data for every certificate; ``end_entity_rule`` for leaves."""
    return CertRevTrustPolicy(
        RevocationCheckingPolicy(
            ee_certificate_rule=end_entity_rule,
            intermediate_ca_cert_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
        )
    )


class ReusedRevocationData(FetcherBackend):
    """pyHanko's HTTP fetchers, kept for ``seconds`` so that seals in a row share what they fetched.

    Each seal asks the OCSP responder about the seal and TSA certificates and
    fetches the issuing CA's CRL: four requests a seal, whose answers are the
    same for every seal of the next minutes (an OCSP response here is valid
    for ten minutes, a CRL for days). pyHanko's fetchers remember each answer
    (and each failure) for their lifetime, so the sealer keeps one set of them
    for ``seconds`` and then starts a new set, which fetches again. A seal
    certificate revoked meanwhile is noticed by the seals after that, at most
    ``seconds`` later. ``forget`` drops the set at once; the sealer calls it
    after a failed seal so that a failed fetch is not remembered.
    ``seconds`` of 0 gives every seal its own fetchers.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Fetch over ``session``; reuse the answers for ``seconds`` by ``clock``."""
        self._backend = AIOHttpFetcherBackend(session, per_request_timeout=timeout)
        self.seconds = seconds
        self._clock = clock
        self._fetchers: Fetchers | None = None
        self._since = 0.0

    def get_fetchers(self) -> Fetchers:
        """The current set of fetchers, or a new one when the last is older than ``seconds``."""
        now = self._clock()
        if self._fetchers is None or self.seconds <= 0 or now - self._since >= self.seconds:
            self._fetchers = self._backend.get_fetchers()
            self._since = now
        return self._fetchers

    def forget(self) -> None:
        """Fetch anew for the next seal."""
        self._fetchers = None

    async def close(self) -> None:
        """Nothing to close: the HTTP session belongs to the sealer."""


def signing_validation_context(
    *,
    trust_roots: list[x509.Certificate],
    other_certs: Iterable[x509.Certificate],
    session: aiohttp.ClientSession,
    timeout: float,
    end_entity_rule: RevocationCheckingRule,
    fetchers: FetcherBackend | None = None,
) -> ValidationContext:
    """A fresh, fetching validation context for one seal or renewal.

    Fresh on purpose: a ``ValidationContext`` accumulates every OCSP response
    and CRL it sees and pyHanko embeds all of them, so sharing one across
    documents would leak stale or unrelated revocation data into the DSS.
    The HTTP session (and its connection pool) is what gets reused, and, with
    ``fetchers`` (:class:`ReusedRevocationData`), the answers fetched for the
    certificates of this document's path by the seals just before.
    """
    return ValidationContext(
        trust_roots=trust_roots,
        other_certs=list(other_certs),
        allow_fetching=True,
        revinfo_policy=revocation_policy(end_entity_rule),
        fetcher_backend=fetchers or AIOHttpFetcherBackend(session, per_request_timeout=timeout),
        # Responders' clocks and ours differ a little (and a loaded machine answers
        # late): an OCSP response "from the future" by a few seconds is still good.
        time_tolerance=CLOCK_TOLERANCE,
    )


CLOCK_TOLERANCE = timedelta(seconds=30)
"""Accepted clock difference between this platform and the TSA/OCSP/CRL servers."""


# -- error mapping --------------------------------------------------------------------------

_TRANSIENT = (
    TimestampRequestError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
    cv_errors.OCSPFetchError,
    cv_errors.CRLFetchError,
    cv_errors.InsufficientRevinfoError,  # includes StaleRevinfoError
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in list(seen):
        # pyHanko passes the certvalidator error as a positional argument.
        seen.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
    return seen


def as_signing_error(exc: BaseException, what: str) -> SigningError:
    """Map a pyHanko/certvalidator/aiohttp failure to one of our typed errors.

    Unreachable or refusing trust services (TSA, OCSP, CRL) become
    :class:`SealingUnavailable`, so the caller retries later. A revoked,
    expired or untrusted certificate is a configuration problem.
    """
    chain = _chain(exc)
    if any(isinstance(e, cv_errors.RevokedError) for e in chain):
        return SigningConfigurationError(f"{what}: a certificate is revoked: {exc}")
    if any(isinstance(e, (cv_errors.ExpiredError, cv_errors.NotYetValidError)) for e in chain):
        return SigningConfigurationError(f"{what}: a certificate is not valid now: {exc}")
    if any(isinstance(e, _TRANSIENT) for e in chain):
        return SealingUnavailable(f"{what}: trust service unavailable: {exc}")
    if any(isinstance(e, cv_errors.PathBuildingError) for e in chain):
        return SigningConfigurationError(f"{what}: certificate does not chain to a trust root: {exc}")
    if isinstance(exc, SigningError):
        return exc
    if isinstance(exc, PyHankoSigningError):
        return SigningError(f"{what}: {exc}")
    return SigningError(f"{what}: unexpected {type(exc).__name__}: {exc}")
