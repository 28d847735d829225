"""Verify a sealed PDF offline and explain the result in a JSON-friendly report.

The check is the one an archive needs years from now, when the TSA, OCSP and
CRL servers may be gone: PAdES-LTA validation (ETSI EN 319 102-1) using only
what is embedded in the file (certificates, OCSP responses and CRLs in the DSS,
the chain of document timestamps), never the network.

Choices made here, each for a reason:

* **Local-only revocation, explicit validation time.** With fetching allowed
  and the responders unreachable, a correct B-LTA fails with "no revocation
  information"; offline results must not depend on who happens to be online.
* **Freshness "max difference between revocation data and validation".** The
  AdES time-sliding algorithm uses it to find the moment the embedded revocation
  data last vouched for a certificate, and the timestamp chain proves the
  signature existed before that moment.
* **The newest document timestamp's certificates are assumed not revoked at the
  validation time** (pyHanko's own archival simulation does the same): nobody
  can know that offline, and it is exactly what the next renewal checks online.
  The report lists this assumption.
* **Nothing may follow the newest document timestamp but DSS updates** (pyHanko
  writes one for the timestamp's own revocation data). Any other incremental
  update (an annotation, a form change, a new page) makes the report not OK,
  and so does any changed byte inside a signed range.

pyHanko's past-validation step starts from the process clock, so a validation
time later than "now" is refused; tests move the clock instead (freezegun).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias

from asn1crypto import cms, tsp, x509
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
    NonRevokedStatusAssertion,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

__all__ = ["SignatureReport", "VerificationReport", "verify", "verify_async"]

TrustRoot: TypeAlias = x509.Certificate | bytes | Path
Coverage: TypeAlias = Literal["entire_file", "entire_revision", "partial"]

_CLOCK_SLACK = timedelta(minutes=5)
_ASSERTION_SLACK = timedelta(hours=1)
_ALLOWED_AFTER_SEAL = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)


@dataclasses.dataclass(frozen=True)
class SignatureReport:
    """One signature or document timestamp of the file, oldest first."""

    kind: Literal["signature", "document_timestamp"]
    field_name: str
    revision: int
    """PDF revision (0-based) the signature covers."""
    signer_subject: str
    signer_issuer: str
    signer_serial: str
    signer_not_after: str
    signing_time: str | None
    """Time claimed by the signer (not proof of anything)."""
    timestamp_time: str | None
    """Time certified by a TSA: signature timestamp, or the document timestamp itself."""
    coverage: Coverage
    modification_level: str | None
    """What changed after this signature: NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER."""
    intact: bool
    """The signed bytes hash to the value in the signature."""
    valid: bool
    """The cryptographic signature over that hash verifies."""
    trusted: bool
    """The certificate chains to a trust root and was valid and unrevoked when it had to be."""
    trusted_at: str | None
    """Moment the chain was evaluated at (for timestamps: when the next one vouched for it)."""
    docmdp_ok: bool | None
    """Later changes are allowed by the certification level (None: not applicable)."""
    certification: str | None
    """DocMDP level of a certification signature, e.g. NO_CHANGES."""
    ltv: str | None
    """AdES-LTA sub-indication of a signature (OK when valid for the long term)."""
    ltv_message: str | None
    best_signature_time: str | None
    """Earliest time the signature is proven to have existed."""
    problems: tuple[str, ...]
    ok: bool
    signer_name: str = ""
    """Who signed, as a person reads it: the certificate's common name and organisation (e.g. the TSA's name)."""


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """Result of :func:`verify`; ``dataclasses.asdict``/``to_json`` friendly."""

    sha256: str
    size: int
    validation_time: str
    revisions: int
    signatures: tuple[SignatureReport, ...]
    certified: bool
    """The first signature is a certification signature."""
    archive_timestamped: bool
    """A document timestamp follows the last signature (PAdES B-LTA)."""
    ok: bool
    problems: tuple[str, ...]
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of str/bool/int/None/list values."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The report as JSON (UTF-8 safe, Japanese kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _name(value: object) -> str:
    return value.name if isinstance(value, enum.Enum) else str(value)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _coverage(level: SignatureCoverageLevel | None) -> Coverage:
    if level == SignatureCoverageLevel.ENTIRE_FILE:
        return "entire_file"
    if level == SignatureCoverageLevel.ENTIRE_REVISION:
        return "entire_revision"
    return "partial"


def _load_roots(trust_roots: Iterable[TrustRoot]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for root in trust_roots:
        if isinstance(root, x509.Certificate):
            roots.append(root)
        elif isinstance(root, Path):
            roots.extend(load_certs_from_pemder_data(root.read_bytes()))
        else:
            roots.extend(load_certs_from_pemder_data(root))
    if not roots:
        raise ValueError("verify() needs at least one trust root")
    return roots


def _tst_time(signed_data: cms.SignedData) -> datetime:
    info = signed_data["encap_content_info"]["content"].parsed
    assert isinstance(info, tsp.TSTInfo)
    gen_time: datetime = info["gen_time"].native
    return gen_time


def _signature_ts_time(sig: EmbeddedPdfSignature) -> datetime | None:
    unsigned = sig.signer_info["unsigned_attrs"]
    if not unsigned:
        return None
    for attr in unsigned:
        if attr["type"].native == "signature_time_stamp_token":
            return _tst_time(attr["values"][0]["content"])
    return None


def _readable_name(cert: x509.Certificate) -> str:
    """``Common name (Organisation)``: what a person recognises, not the X.500 string."""
    subject = cert.subject.native
    common = str(subject.get("common_name") or "")
    organisation = str(subject.get("organization_name") or "")
    if organisation and organisation not in common:
        return f"{common}（{organisation}）" if common else organisation
    return common or cert.subject.human_friendly


def _subject_fields(cert: x509.Certificate) -> dict[str, str]:
    return {
        "signer_name": _readable_name(cert),
        "signer_subject": cert.subject.human_friendly,
        "signer_issuer": cert.issuer.human_friendly,
        "signer_serial": format(cert.serial_number, "x"),
        "signer_not_after": cert.not_valid_after.isoformat(),
    }


def _spec(
    roots: list[x509.Certificate], newest_ts: EmbeddedPdfSignature | None, at: datetime
) -> PdfSignatureValidationSpec:
    assertions: list[NonRevokedStatusAssertion] = []
    if newest_ts is not None:
        certs = [newest_ts.signer_cert, *newest_ts.other_embedded_certs]
        # certvalidator compares the assertion with the moment of each check,
        # which parts of pyHanko take from the process clock: allow for the
        # time the validation itself takes.
        until = max(at, datetime.now(UTC)) + _ASSERTION_SLACK
        assertions = [NonRevokedStatusAssertion(c.sha256, at=until) for c in certs if not c.self_issued]
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=roots),
        revinfo_policy=CertRevTrustPolicy(
            REQUIRE_REVINFO, freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION
        ),
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
            local_knowledge=LocalKnowledge(nonrevoked_assertions=assertions),
            # Seal (e-seal) certificates often carry digitalSignature only;
            # personal signing certificates nonRepudiation. Either will do.
            key_usage_settings=KeyUsageConstraints(
                key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
            ),
        ),
        diff_policy=DEFAULT_DIFF_POLICY,
    )


async def _signature_report(
    sig: EmbeddedPdfSignature, spec: PdfSignatureValidationSpec, at: datetime, explicit: bool
) -> SignatureReport:
    timing = ValidationTimingInfo(validation_time=at, best_signature_time=at, point_in_time_validation=explicit)
    result = await ades_lta_validation(sig, spec, timing_info=timing)
    status = result.api_status
    problems: list[str] = []
    passed = result.ades_subindic == AdESPassed.OK
    if not passed:
        problems.append(f"long-term validation: {_name(result.ades_subindic)}: {result.failure_msg}")
    if status is not None:
        intact, valid = status.intact, status.valid
        coverage, level, docmdp_ok = status.coverage, status.modification_level, status.docmdp_ok
        # PAdES forbids the CMS signing-time attribute; the claim is /M.
        claimed = status.signer_reported_dt or sig.self_reported_timestamp
    else:  # the engine gave up before producing pyHanko's status object
        sig.compute_integrity_info(DEFAULT_DIFF_POLICY)
        intact = valid = False
        info = ModificationInfo(coverage=sig.coverage, diff_result=sig.diff_result)
        coverage, level, docmdp_ok = info.coverage, info.modification_level, None
        claimed = sig.self_reported_timestamp
    if not intact:
        problems.append("the signed bytes were changed")
    elif not valid:
        problems.append("the signature value does not verify")
    if docmdp_ok is False or (level is not None and level not in _ALLOWED_AFTER_SEAL):
        name = level.name if level is not None else "unknown"
        problems.append(f"the document was modified after sealing ({name})")
    mdp = sig.docmdp_level
    return SignatureReport(
        kind="signature",
        field_name=str(sig.field_name),
        revision=sig.signed_revision,
        **_subject_fields(sig.signer_cert),
        signing_time=_iso(claimed),
        timestamp_time=_iso(_signature_ts_time(sig)),
        coverage=_coverage(coverage),
        modification_level=level.name if level is not None else None,
        intact=intact,
        valid=valid,
        trusted=passed,
        trusted_at=_iso(at),
        docmdp_ok=docmdp_ok,
        certification=mdp.name if mdp is not None and sig.sig_object.get("/Reference") else None,
        ltv=_name(result.ades_subindic),
        ltv_message=result.failure_msg,
        best_signature_time=_iso(result.best_signature_time),
        problems=tuple(problems),
        ok=not problems,
    )


async def _timestamp_report(
    sig: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[x509.Certificate],
    *,
    moment: datetime,
    newest: bool,
    at: datetime,
) -> SignatureReport:
    # Each document timestamp is judged at the moment it had to be valid: when
    # the next timestamp vouched for it, or (newest) when it was made.
    kwargs: dict[str, Any] = {
        "trust_roots": roots,
        "moment": moment,
        "allow_fetching": False,
        "revinfo_policy": CertRevTrustPolicy(REQUIRE_REVINFO),
    }
    vc = dss.as_validation_context(kwargs) if dss is not None else None
    if vc is None:
        vc = ValidationContext(**kwargs)
    status = await async_validate_pdf_timestamp(sig, validation_context=vc, diff_policy=DEFAULT_DIFF_POLICY)
    problems: list[str] = []
    if not status.intact:
        problems.append("the timestamped bytes were changed")
    elif not status.valid:
        problems.append("the timestamp signature does not verify")
    elif not status.trusted:
        problems.append(f"TSA certificate not trusted/valid at {moment.isoformat()}")
    cert = sig.signer_cert
    if newest and cert.not_valid_after <= at:
        problems.append("the newest timestamp's TSA certificate has expired: renewal was missed")
    level = status.modification_level
    return SignatureReport(
        kind="document_timestamp",
        field_name=str(sig.field_name),
        revision=sig.signed_revision,
        **_subject_fields(cert),
        signing_time=None,
        timestamp_time=_iso(status.timestamp),
        coverage=_coverage(status.coverage),
        modification_level=level.name if level is not None else None,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        trusted_at=_iso(moment),
        docmdp_ok=None,
        certification=None,
        ltv=None,
        ltv_message=None,
        best_signature_time=None,
        problems=tuple(problems),
        ok=not problems,
    )


async def verify_async(
    pdf_bytes: bytes,
    *,
    validation_time: datetime | None = None,
    trust_roots: Iterable[TrustRoot],
) -> VerificationReport:
    """Verify every signature and document timestamp of ``pdf_bytes`` offline.

    :param pdf_bytes: the PDF as stored or as uploaded.
    :param validation_time: moment to validate at (default: now); must not be
        later than the process clock.
    :param trust_roots: root certificates (asn1crypto objects, PEM/DER bytes
        or paths) that the provider and TSA chains must reach.
    :returns: the report; ``report.ok`` is the overall verdict.
    :raises ValueError: no trust root, or a validation time in the future.
    """
    roots = _load_roots(trust_roots)
    now = datetime.now(UTC)
    explicit = validation_time is not None
    at = (validation_time or now).astimezone(UTC)
    if at > now + _CLOCK_SLACK:
        raise ValueError("validation_time is in the future of the system clock")
    digest = hashlib.sha256(pdf_bytes).hexdigest()
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        sigs = list(reader.embedded_signatures)
        revisions = reader.xrefs.total_revisions
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a PDF we can vouch for"
        return VerificationReport(
            sha256=digest,
            size=len(pdf_bytes),
            validation_time=at.isoformat(),
            revisions=0,
            signatures=(),
            certified=False,
            archive_timestamped=False,
            ok=False,
            problems=(f"unreadable PDF: {type(e).__name__}: {e}",),
            assumptions=(),
        )
    doc_ts = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"]
    regular = [s for s in sigs if s.sig_object_type != "/DocTimeStamp"]
    newest_ts = doc_ts[-1] if doc_ts else None
    spec = _spec(roots, newest_ts, at)
    try:
        dss: DocumentSecurityStore | None = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None

    reports: list[SignatureReport] = []
    for sig in sigs:
        if sig.sig_object_type == "/DocTimeStamp":
            i = doc_ts.index(sig)
            newest = i == len(doc_ts) - 1
            moment = _tst_time(sig.signed_data) if newest else _tst_time(doc_ts[i + 1].signed_data)
            reports.append(await _timestamp_report(sig, dss, roots, moment=moment, newest=newest, at=at))
        else:
            reports.append(await _signature_report(sig, spec, at, explicit))

    problems: list[str] = []
    if not regular:
        problems.append("no signature")
    if not doc_ts or doc_ts[-1].signed_revision < max(s.signed_revision for s in regular or doc_ts):
        problems.append("no document timestamp after the last signature (not PAdES B-LTA)")
    if reports:
        last = reports[-1]
        if last.coverage != "entire_file" and last.modification_level not in ("LTA_UPDATES", "NONE"):
            problems.append(f"the file was changed after its last signature/timestamp ({last.modification_level})")
    for r in reports:
        problems.extend(f"{r.field_name}: {p}" for p in r.problems)
    first = regular[0] if regular else None
    certified = bool(first is not None and first.sig_object.get("/Reference") and first.docmdp_level is not None)
    return VerificationReport(
        sha256=digest,
        size=len(pdf_bytes),
        validation_time=at.isoformat(),
        revisions=revisions,
        signatures=tuple(reports),
        certified=certified,
        archive_timestamped=bool(doc_ts) and not any("not PAdES B-LTA" in p for p in problems),
        ok=not problems,
        problems=tuple(problems),
        assumptions=(
            "validated offline with embedded validation data only",
            "the newest document timestamp's TSA certificates are assumed not revoked "
            "at the validation time (not knowable offline; checked online at each renewal)",
        ),
    )


def verify(
    pdf_bytes: bytes,
    *,
    validation_time: datetime | None = None,
    trust_roots: Iterable[TrustRoot],
) -> VerificationReport:
    """Blocking :func:`verify_async`, for workers, scripts and tests.

    :raises RuntimeError: when called from a running event loop (await
        :func:`verify_async` there instead).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(verify_async(pdf_bytes, validation_time=validation_time, trust_roots=trust_roots))
    raise RuntimeError("verify() called inside an event loop; use await verify_async()")
