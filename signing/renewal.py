"""Keep sealed PDFs verifiable for 10+ years: renew the archive timestamp chain.

A PAdES B-LTA file stays verifiable only while its newest document timestamp
can still be validated, i.e. until that TSA certificate expires (or its
algorithms weaken). Before that, :meth:`Renewer.renew` validates the newest
timestamp online, stores the fresh revocation data for it in the DSS and adds a
new document timestamp, whose own revocation data follows in a last DSS
update. Each renewal costs one TSA round trip, one or two OCSP/CRL fetches and
about 8-16 KB.

:func:`renewal_deadline` is stored with every sealed file, so the periodic job
(:func:`signing.seal_service.renew_due`) finds the files that are due in the database.

Pitfall handled here: only the newest timestamp's revocation data is refreshed.
Refreshing the (expired) seal certificate's issuer CRL as well would make the
AdES time-sliding algorithm evaluate that certificate after its expiry and fail
the archive.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from types import TracebackType

import aiohttp
from asn1crypto import cms, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko_certvalidator.policy_decl import RevocationCheckingRule

from core.settings import SigningSettings

from . import _trust
from .errors import SealingInputError, SigningConfigurationError, SigningError

__all__ = ["RenewalTooLate", "Renewer", "renewal_deadline"]


class RenewalTooLate(SigningError):
    """The newest timestamp can no longer be validated (its TSA certificate
    expired or was revoked); the archive chain is broken and cannot be renewed."""


def _newest_timestamp_cert(pdf_bytes: bytes) -> x509.Certificate | None:
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        stamps = reader.embedded_timestamp_signatures
    except Exception as e:
        raise SealingInputError(f"not a readable PDF: {e}") from e
    return stamps[-1].signer_cert if stamps else None


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _last_signature_timestamp_cert(pdf_bytes: bytes) -> x509.Certificate | None:
    """The TSA certificate of the file's last signature if it is a document timestamp, read without parsing the PDF.

    Incremental updates append, so the newest signature dictionary is the last one
    in the file, and its ``/ByteRange`` gap is its ``/Contents`` (the hex of a CMS
    ``SignedData``). None whenever anything is not as expected: the caller then
    reads the whole file the slow, general way.
    """
    matches = list(_BYTE_RANGE.finditer(pdf_bytes, max(0, len(pdf_bytes) - 262_144)))
    if not matches:
        return None
    found = matches[-1]
    start, gap_start, gap_end, length = (int(value) for value in found.groups())
    if start != 0 or not 0 < gap_start < gap_end <= len(pdf_bytes) or gap_end + length > len(pdf_bytes):
        return None
    contents = pdf_bytes[gap_start:gap_end]
    if contents[:1] != b"<" or contents[-1:] != b">":
        return None
    try:
        token = cms.ContentInfo.load(
            bytes.fromhex(contents[1:-1].decode("ascii")), strict=False
        )  # padding after the DER
        signed = token["content"]
        if (
            token["content_type"].native != "signed_data"
            or signed["encap_content_info"]["content_type"].native != "tst_info"
        ):
            return None
        sid = signed["signer_infos"][0]["sid"]
        for choice in signed["certificates"]:
            cert = choice.chosen
            if isinstance(cert, x509.Certificate) and sid.name == "issuer_and_serial_number":
                wanted = sid.chosen
                if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
                    return cert
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return None


def renewal_deadline(pdf_bytes: bytes) -> datetime | None:
    """Expiry of the newest document timestamp's TSA certificate (None: no timestamp).

    Called on the sealed bytes just written, whose last signature is the document
    timestamp: its certificate is read from that one signature's bytes (about 1 ms)
    instead of parsing every object and signature of the file (tens of ms).
    """
    cert = _last_signature_timestamp_cert(pdf_bytes) or _newest_timestamp_cert(pdf_bytes)
    return cert.not_valid_after if cert is not None else None


class Renewer:
    """Long-lived renewal client (one per worker), reusing one HTTP session."""

    def __init__(self, settings: SigningSettings, *, session: aiohttp.ClientSession | None = None) -> None:
        """Load the trust roots; no key is needed to renew.

        :param settings: TSA URL and trust roots (the key fields are ignored).
        :param session: aiohttp session to share; by default one is created.
        """
        if not settings.tsa_url:
            raise SigningError("no TSA URL configured")
        self.settings = settings
        self._trust_roots = _trust.load_trust_roots(settings)
        self._extra = _trust.load_extra_certs(settings)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Renewer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this renewer created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout))
        return self._session

    async def renew(self, pdf_bytes: bytes) -> bytes:
        """Add fresh validation data and a new document timestamp.

        :param pdf_bytes: a sealed PDF (B-LTA, or B-LT to be upgraded).
        :returns: the renewed PDF; the input bytes are a prefix of it.
        :raises SealingUnavailable: TSA/OCSP/CRL unreachable; retry later.
        :raises RenewalTooLate: the newest timestamp is no longer valid.
        :raises SealingInputError: not a readable PDF.
        """
        last_cert = _newest_timestamp_cert(pdf_bytes)
        if last_cert is not None and last_cert.not_valid_after <= datetime.now(UTC):
            # Checked before any network use: no fresh data can repair this.
            raise RenewalTooLate(f"the newest timestamp's TSA certificate expired on {last_cert.not_valid_after}")
        session = self._http()
        # Fetch OCSP *or* a CRL for the timestamp certificate, never the
        # issuer's CRL on top of a working OCSP answer (see module docstring).
        rule = (
            RevocationCheckingRule.OCSP_REQUIRED
            if last_cert is not None and last_cert.ocsp_urls
            else RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
        )
        vc = _trust.signing_validation_context(
            trust_roots=self._trust_roots,
            other_certs=self._extra,
            session=session,
            timeout=self.settings.http_timeout,
            end_entity_rule=rule,
        )
        timestamper = _trust.PinnedTimeStamper(self.settings.tsa_url, session=session, settings=self.settings)
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        try:
            await timestamper.pin()
            out = await PdfTimeStamper(timestamper).async_update_archival_timestamp_chain(
                reader, vc, in_place=False, output=io.BytesIO()
            )
        except asyncio.CancelledError:
            raise
        except Exception as e:
            err = _trust.as_signing_error(e, "renewal")
            if last_cert is not None and (
                isinstance(err, SigningConfigurationError) or "could not be validated" in str(e)
            ):
                raise RenewalTooLate(f"cannot renew: {err}") from e
            raise err from e
        data: bytes = out.getvalue()
        return data
