"""Files handed out — documents, the certificate of conclusion, page previews — each download in the audit trail.

Concluded files are named after the contract (``契約番号_件名.pdf``, ``…_締結証明書.pdf``), not after the upload,
and the previews of a concluded contract are drawn from the sealed file, with what each party filled in.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, Unavailable
from core.i18n import gettext as _
from core.settings import Settings
from signing.audit import Actor, append_event
from signing.blobs import BlobStore
from signing.models import (
    AuditKind,
    Contract,
    ContractStatus,
)
from signing.pdfcheck import PdfLimits
from signing.pdfgate import PreviewUnavailableError, page_preview
from signing.repositories import ContractRepository
from signing.services._common import documents_of

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def _safe(part: str) -> str:
    """A piece of a file name that every system saves as it is (no path separators, no control characters)."""
    return _UNSAFE.sub("_", part).strip(" ._")[:80]


def download_name(contract: Contract, suffix: str = "", *, position: int | None = None) -> str:
    """``契約番号_件名.pdf`` (``…_2.pdf`` for a contract's second file, ``…_締結証明書.pdf`` for its certificate)."""
    parts = [_safe(contract.contract_number), _safe(contract.subject) or str(contract.id)]
    if position is not None and position > 0:
        parts.append(str(position + 1))
    if suffix:
        parts.append(suffix)
    return "_".join(p for p in parts if p) + ".pdf"


@dataclass(frozen=True)
class Download:
    """A file handed out: its bytes, the name to save it under, its type, and whether it is the sealed contract."""

    data: bytes
    file_name: str
    media_type: str = "application/pdf"
    sealed: bool | None = None
    """For a contract document: the sealed file (True) or the uploaded original (False); None otherwise."""


async def document_download(
    session: AsyncSession,
    settings: Settings,
    contract: Contract,
    document_id: uuid.UUID,
    who: Actor,
    *,
    sealed_only: bool = False,
) -> Download:
    """A document to download, recorded in the audit trail.

    Once the contract is concluded this is the newest sealed file. Before, staff
    and other systems get the uploaded original, named 未封緘_… (and marked not
    sealed), so nobody keeps it for the concluded contract; ``sealed_only``
    (contractors) refuses until the seal exists.
    """
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None:
        raise NotFound(_("The document was not found."))
    sealed = [s for s in contract.sealed_documents if s.document_id == document_id]
    concluded = contract.status is ContractStatus.CONCLUDED and bool(sealed)
    if sealed_only and not concluded:
        raise Conflict(
            _("The contract can be downloaded once it is sealed and concluded. You will receive an e-mail then."),
        )
    store = BlobStore(settings)
    if concluded:
        latest = max(sealed, key=lambda s: s.version)
        data = await store.get(session, contract.member_id, latest.sha256)
        first = min(d.position for d in contract.documents)
        name = download_name(contract, position=None if len(contract.documents) == 1 else document.position - first)
        digest = latest.sha256
    else:
        data = await store.get(session, contract.member_id, document.sha256)
        name, digest = f"未封緘_{document.file_name}", document.sha256
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=documents_of(contract),
        detail={"document": str(document_id), "sha256": digest, "sealed": concluded},
    )
    return Download(data, name, sealed=concluded)


async def certificate_download(session: AsyncSession, settings: Settings, contract: Contract, who: Actor) -> Download:
    """The newest sealed certificate of conclusion (WF-12), recorded like any download; 409 before the seal."""
    row = await ContractRepository(session, contract.member_id).latest_certificate(contract.id)
    if row is None:
        raise Conflict(_("The certificate of conclusion is issued once the contract is sealed."))
    data = await BlobStore(settings).get(session, contract.member_id, row.sha256)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.DOWNLOADED,
        who=who,
        documents=documents_of(contract),
        detail={"certificate": True},
    )
    return Download(data, download_name(contract, "締結証明書"))


async def page_preview_png(
    session: AsyncSession, settings: Settings, contract: Contract, document_id: uuid.UUID, page: int
) -> bytes:
    """A page of a document as PNG, drawn off the event loop and cached (503-like error when it cannot be drawn)."""
    document = next((d for d in contract.documents if d.id == document_id), None)
    if document is None or not 0 <= page < document.page_count:
        raise NotFound(_("The document was not found."))
    member_id, sha256 = contract.member_id, document.sha256
    sealed = [s for s in contract.sealed_documents if s.document_id == document_id]
    if contract.status is ContractStatus.CONCLUDED and sealed:
        # What was agreed, with every value filled in: the newest sealed file, not the upload.
        sha256 = max(sealed, key=lambda s: s.version).sha256

    async def load() -> bytes:
        return await BlobStore(settings).get(session, member_id, sha256)

    try:
        return await page_preview(member_id, sha256, page, load, limits=PdfLimits.of(settings.contracts))
    except PreviewUnavailableError as exc:
        raise Unavailable(exc.message) from exc
