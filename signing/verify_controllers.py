"""Verification of sealed PDFs for anyone who holds one: a public page and the API.

Verification is offline: only what is embedded in the PDF (certificates, OCSP
responses, CRLs, timestamps) is used, against the configured trust roots, so the
answer does not depend on any server being up years from now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import anyio
from litestar import Controller, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import gettext as _
from core.settings import SigningSettings, get_settings
from signing.labels import verification_problem
from signing.records import find_record
from signing.verification import VerificationReport, verify

__all__ = ["VerificationController", "VerifyApiController"]

MAX_VERIFY_BYTES = get_settings().contracts.max_verify_mb * 1024 * 1024
"""Read once at start-up: Litestar fixes a route's body limit when the route is declared."""
"""Largest PDF accepted for verification (a contract's files are at most 50 MB)."""


@dataclass(frozen=True)
class SignatureRow:
    """One line of the verification table, in words a person reads (the JSON API keeps the raw report)."""

    kind: str
    signer: str
    time: dt.datetime | None
    covers: str
    long_term: str
    ok: bool
    problems: tuple[str, ...]


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def signature_rows(report: VerificationReport) -> list[SignatureRow]:
    """The report's signatures and timestamps as the page shows them: names, Japan time, what is covered."""
    covers = {
        "entire_file": _("The whole file"),
        "entire_revision": _("The whole document as sealed (later additions: validation data and timestamps only)"),
        "partial": _("Part of the file only"),
    }
    rows = []
    for sig in report.signatures:
        if sig.kind != "signature":
            long_term = "—"
        elif sig.ltv == "OK":
            long_term = _("Verifiable for the long term")
        else:
            long_term = _("Not verifiable for the long term ({reason})").format(reason=sig.ltv_message or sig.ltv or "")
        rows.append(
            SignatureRow(
                kind=_("Seal (signature)") if sig.kind == "signature" else _("Document timestamp"),
                signer=sig.signer_name or sig.signer_subject,
                time=_moment(sig.timestamp_time or sig.signing_time),
                covers=covers.get(sig.coverage, sig.coverage),
                long_term=long_term,
                ok=sig.ok,
                problems=tuple(verification_problem(p) for p in sig.problems),
            )
        )
    return rows


def _signing_settings(state: State) -> SigningSettings:
    settings: SigningSettings = state.signing_settings
    return settings


async def _verify_upload(upload: object, state: State) -> VerificationReport:
    if not isinstance(upload, UploadFile):
        raise ValidationException(detail=_("Choose a PDF file to check."))
    data = await upload.read()
    if not data:
        raise ValidationException(detail=_("The file is empty."))
    if not data.startswith(b"%PDF-"):
        raise ValidationException(detail=_("This file is not a PDF."))
    roots = _signing_settings(state).trust_root_paths
    # pyHanko's validation is CPU-bound; keep the event loop free for other requests.
    return await anyio.to_thread.run_sync(lambda: verify(data, trust_roots=roots))


class VerificationController(Controller):
    """Public page: upload a sealed PDF, see who sealed it, when, and whether it is intact."""

    path = "/verify"
    include_in_schema = False

    @get("/")
    async def form(self) -> Template:
        """The upload form."""
        return Template("signing/verify.html", context={"report": None, "record": None, "error": None})

    @post("/", request_max_body_size=MAX_VERIFY_BYTES, status_code=200)
    async def check(
        self,
        state: State,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template:
        """Verify the uploaded PDF, say whether it is on record, and show the result."""
        try:
            report = await _verify_upload(data.get("file"), state)
        except ValidationException as exc:
            return Template(
                "signing/verify.html", context={"report": None, "record": None, "error": exc.detail}, status_code=400
            )
        record = await find_record(db_session, report.sha256)
        return Template(
            "signing/verify.html",
            context={
                "report": report,
                "rows": signature_rows(report),
                "problems": [verification_problem(p) for p in report.problems],
                "record": record,
                "error": None,
            },
        )


class VerifyApiController(Controller):
    """``POST /api/v1/verify``: the same check for other systems."""

    path = "/api/v1/verify"
    tags = ("verification",)

    @post(
        "/",
        request_max_body_size=MAX_VERIFY_BYTES,
        status_code=200,
        summary="Verify a sealed PDF offline",
        description=(
            "Upload a PDF as multipart field `file`. The answer lists every signature and "
            "document timestamp (signer, time, coverage, validity, LTV status) and `ok`."
        ),
    )
    async def verify_pdf(
        self,
        state: State,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> dict[str, Any]:
        """Verify the uploaded PDF and say whether it matches a sealed file on record."""
        report = await _verify_upload(data.get("file"), state)
        body = asdict(report)
        record = await find_record(db_session, report.sha256)
        body["on_record"] = record is not None
        body["record"] = asdict(record) if record is not None else None
        return body
