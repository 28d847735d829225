"""Seal an agreed contract PDF with the provider's PAdES B-LTA certification signature.

One :class:`Sealer` lives for the whole life of a worker process (or of the
event loop of a web process). It keeps what is expensive to rebuild: the
parsed private key, one RFC 3161 client whose dummy token is fetched once, and
one aiohttp session whose connections to the TSA/OCSP/CRL hosts stay open.
A seal then costs a few loopback/HTTP round trips plus hashing the file.

What :meth:`Sealer.seal` produces, in one pass:

1. the filled text boxes drawn into page content with an embedded Japanese
   font subset (flattened: no form field survives);
2. one invisible certification signature, DocMDP "no changes" (P=1), PAdES
   (ETSI.CAdES.detached), SHA-256, with a signature timestamp;
3. the validation data (certificates, OCSP responses and CRLs) in the DSS;
4. a document timestamp over all of it: PAdES B-LTA.

If the TSA, OCSP responder or CRL repository cannot be reached, it raises
:class:`~signing.errors.SealingUnavailable` and returns nothing: it never uses
the local clock as a signing time and never hands back a partially sealed file.

Celery prefork workers keep one :class:`Sealer` per process and run it on the
process's one event loop (:func:`core.asyncrun.run_async`,
:class:`signing.seal_service.SealerPool`); pyHanko's synchronous API would run
``asyncio.run`` per call, which breaks session reuse and fails inside a running loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import aiohttp
from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko_certvalidator.policy_decl import RevocationCheckingRule

from core.settings import SigningSettings

from . import _trust
from ._layout import TextBoxFill, draw_text_boxes
from .errors import SealingInputError, SigningConfigurationError, SigningError
from .fonts import japanese_font_path

__all__ = ["DEFAULT_FIELD_NAME", "Sealer", "TextBoxFill", "check_settings"]

log = logging.getLogger(__name__)

DEFAULT_FIELD_NAME = "KyodoSeal"
"""Name of the (invisible) signature field of the platform seal."""


def _open_for_sealing(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    except (PdfError, ValueError, KeyError, IndexError, TypeError, RecursionError) as e:
        raise SealingInputError(f"not a readable PDF: {e}") from e
    reader = writer.prev
    if reader.encrypted:
        raise SealingInputError("encrypted PDFs cannot be sealed; upload a decrypted copy")
    if reader.embedded_signatures:
        # A certification signature must be the first signature of a document.
        raise SealingInputError("the PDF is already signed; upload the unsigned original")
    return writer


def check_settings(settings: SigningSettings) -> None:
    """Fail early with a readable message if a required field is missing.

    :raises SigningConfigurationError: on a missing or contradictory field.
    """
    problem = settings.problem()
    if problem:
        raise SigningConfigurationError(problem)


class Sealer:
    """Long-lived PAdES B-LTA sealer (one per process or event loop).

    Use it as an async context manager, or call :meth:`aclose` at shutdown::

        async with Sealer(settings) as sealer:
            sealed = await sealer.seal(pdf, fields, reason=..., location=...)
    """

    def __init__(
        self,
        settings: SigningSettings,
        *,
        signer: Signer | None = None,
        session: aiohttp.ClientSession | None = None,
        font_path: Path | None = None,
        field_name: str = DEFAULT_FIELD_NAME,
    ) -> None:
        """Load the key, the trust roots and the font; network use starts lazily.

        :param settings: key source, TSA URL and trust roots.
        :param signer: an already opened pyHanko signer (e.g. a PKCS#11 signer
            shared with other code); by default one is opened from ``settings``.
        :param session: an aiohttp session to share (the caller closes it);
            by default the sealer creates and owns one.
        :param font_path: font for text boxes (default :func:`japanese_font_path`).
        :param field_name: name of the signature field.
        :raises SigningConfigurationError: on an unusable key, root or font.
        """
        check_settings(settings)
        self.settings = settings
        self.field_name = field_name
        self._signer = signer or _trust.load_signer(settings)
        if self._signer.signing_cert is None:
            raise SigningConfigurationError("the signer has no certificate")
        self._trust_roots = _trust.load_trust_roots(settings)
        self._other_certs: list[x509.Certificate] = list(self._signer.cert_registry)
        self._font_path = font_path or japanese_font_path()
        self._session = session
        self._owns_session = session is None
        self._timestamper: _trust.PinnedTimeStamper | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reserved: int | None = None
        """Room for the signature container (hex digits), learned from this sealer's first seal."""
        self._revocation: _trust.ReusedRevocationData | None = None

    @property
    def signing_certificate(self) -> x509.Certificate:
        """The provider certificate that appears in the signature panel."""
        cert = self._signer.signing_cert
        assert cert is not None  # checked in __init__
        return cert

    async def __aenter__(self) -> Sealer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this sealer created it."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None
        self._timestamper = None
        self._reserved = None
        self._revocation = None

    def _revocation_data(self) -> _trust.ReusedRevocationData:
        if self._revocation is None:
            self._revocation = _trust.ReusedRevocationData(
                self._http(),
                timeout=self.settings.http_timeout,
                seconds=self.settings.revocation_reuse_seconds,
            )
        return self._revocation

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(
                "a Sealer is bound to the event loop it first ran on; "
                "create one per loop (SealerPool keeps one per worker process)"
            )
        self._loop = loop
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.http_timeout))
            self._owns_session = True
        return self._session

    async def _pinned_timestamper(self) -> _trust.PinnedTimeStamper:
        session = self._http()
        if self._timestamper is None:
            self._timestamper = _trust.PinnedTimeStamper(self.settings.tsa_url, session=session, settings=self.settings)
        try:
            await self._timestamper.pin()
        except Exception as e:
            self._timestamper = None  # do not keep a half-initialised client
            raise _trust.as_signing_error(e, "TSA") from e
        return self._timestamper

    async def seal(
        self,
        pdf_bytes: bytes,
        fields: Sequence[TextBoxFill],
        *,
        reason: str,
        location: str,
        contact_info: str | None = None,
    ) -> bytes:
        """Fill, certify (P=1), timestamp and archive-timestamp a PDF.

        :param pdf_bytes: the agreed, unsigned PDF.
        :param fields: text box values to draw into the pages first.
        :param reason: signature reason shown by viewers, e.g.
            ``"札幌市 / 庁舎清掃業務委託契約 / 契約番号 R7-123 の締結"``.
        :param location: signature location, e.g. the member's name.
        :param contact_info: optional contact shown by some viewers.
        :returns: the sealed PDF (PAdES B-LTA).
        :raises SealingUnavailable: TSA/OCSP/CRL unreachable; retry later.
        :raises SealingInputError: unreadable, encrypted or already signed PDF,
            or text boxes that cannot be drawn.
        :raises SigningConfigurationError: key or certificate problem
            (revoked, expired, untrusted).
        :raises SigningError: anything else that went wrong while signing.
        """
        tsa_changes = 0
        while True:
            try:
                return await self._seal_once(pdf_bytes, fields, reason, location, contact_info)
            except _trust.TsaCertificateChanged as e:
                # The TSA rolled its certificate over since we pinned it; the
                # DSS would lack the new certificate's revocation data.
                log.warning("TSA certificate changed to %s; re-pinning", e)
                self._forget_revocation_data()
                self._timestamper = None
                self._reserved = None  # its chain, and so the container, may differ in size
                tsa_changes += 1
                if tsa_changes == 2:
                    raise SigningError("TSA certificate changed twice during one seal") from e
            except _ReservationTooSmall as e:
                # E.g. the container outgrew the room: seal again, pyHanko sizing it (nothing was kept).
                log.warning("seal in the room learned before failed (%s); sealing again with pyHanko's estimate", e)
                self._reserved = None
            except BaseException:
                # Whatever failed (a responder down, a revoked certificate), the next
                # seal fetches its revocation data again rather than reuse a failure.
                self._forget_revocation_data()
                raise

    def _forget_revocation_data(self) -> None:
        if self._revocation is not None:
            self._revocation.forget()

    async def _seal_once(
        self,
        pdf_bytes: bytes,
        fields: Sequence[TextBoxFill],
        reason: str,
        location: str,
        contact_info: str | None,
    ) -> bytes:
        timestamper = await self._pinned_timestamper()
        assert timestamper.expected_cert is not None
        writer = _open_for_sealing(pdf_bytes)
        try:
            draw_text_boxes(writer, fields, self._font_path)
        except SigningError:
            raise
        except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as e:
            # The document's own structure stopped the drawing: the same file
            # fails the same way every time, so this is never retried.
            raise SealingInputError(f"the PDF's pages could not be written: {type(e).__name__}: {e}") from e

        # Embed both OCSP and CRL for the seal and TSA certificates when they
        # declare both. With two OCSP responses from one issuer in the DSS
        # (seal + TSA), pyhanko-certvalidator counts the response for the
        # *other* certificate as a failure, so once they are stale it reports
        # a general chain failure instead of "try later" and archive
        # validation never falls back to the timestamp chain. A CRL next to
        # them turns the verdict back into "stale, try the past".
        leaves = (self.signing_certificate, timestamper.expected_cert)
        rule = (
            RevocationCheckingRule.CRL_AND_OCSP_REQUIRED
            if all(_trust.declares_crl_and_ocsp(c) for c in leaves)
            else RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
        )
        vc = _trust.signing_validation_context(
            trust_roots=self._trust_roots,
            other_certs=self._other_certs,
            session=self._http(),
            timeout=self.settings.http_timeout,
            end_entity_rule=rule,
            fetchers=self._revocation_data(),
        )
        meta = PdfSignatureMetadata(
            field_name=self.field_name,
            md_algorithm=_trust.DIGEST,
            reason=reason,
            location=location,
            contact_info=contact_info,
            certify=True,
            docmdp_permissions=MDPPerm.NO_CHANGES,
            subfilter=SigSeedSubFilter.PADES,
            embed_validation_info=True,
            use_pades_lta=True,
            validation_context=vc,
            signer_key_usage={"digital_signature"},
        )
        pdf_signer = PdfSigner(
            meta,
            self._signer,
            timestamper=timestamper,
            new_field_spec=SigFieldSpec(sig_field_name=self.field_name),
        )
        output = io.BytesIO()
        reserved = self._reserved
        try:
            # Without bytes_reserved pyHanko signs a dummy container first to size
            # the room for the real one (a fifth of a seal's CPU). Its size (the
            # chain, the signed attributes, the TSA's token) is the same for every
            # seal of this sealer, so the room sized for the first seal is reused.
            await pdf_signer.async_sign_pdf(writer, output=output, bytes_reserved=reserved)
        except _trust.TsaCertificateChanged:
            raise
        except PyHankoSigningError as e:
            if reserved is not None:
                raise _ReservationTooSmall(str(e)) from e
            raise _trust.as_signing_error(e, "seal") from e
        except (PdfError, RecursionError) as e:
            # Writing the signed revision failed on the document's structure.
            raise SealingInputError(f"the PDF could not be signed as it is: {type(e).__name__}: {e}") from e
        except Exception as e:
            raise _trust.as_signing_error(e, "seal") from e
        sealed = output.getvalue()
        if reserved is None:
            self._reserved = _signature_room(sealed)
        return sealed


class _ReservationTooSmall(Exception):
    """The signature container did not fit the room learned from an earlier seal."""


def _signature_room(sealed: bytes) -> int | None:
    """The room (hex digits) of the certification signature's /Contents, from its /ByteRange."""
    try:
        signatures = PdfFileReader(io.BytesIO(sealed), strict=False).embedded_signatures
        _zero, gap_start, gap_end, _rest = (int(n) for n in signatures[0].byte_range)
    except (PdfError, ValueError, IndexError, TypeError):
        return None
    room = gap_end - gap_start - 2  # less the angle brackets around the hex string
    return room if room > 0 and room % 2 == 0 else None
