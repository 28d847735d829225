"""The shared sealing service: one provider seal per contract version, kept valid for decades.

``seal_contract`` runs in a Celery worker after the last agreement. For every
file of the contract it fills the agreed text boxes into the PDF (flattened,
with the embedded Japanese font) and applies ONE PAdES certification signature
with the provider's certificate, a signature timestamp, the validation data and
a document timestamp (PAdES B-LTA); then it renders and seals the certificate of
conclusion. Everything is stored in one transaction together with the status
締結済み, and only that transaction queues the 【締結完了】 mails and links
(:func:`signing.conclusion.announce_conclusion`): concluded means sealed.

Exactly once, never silently wrong:
* a PostgreSQL advisory lock per contract, held for the whole transaction, lets
  only one worker seal a contract at a time; another worker that receives the
  same task backs off and later finds the contract concluded;
* the status is checked under that lock, and ``(document_id, version)`` is
  unique, so a retry after a crash cannot store a second seal;
* a worker killed mid-seal loses its connection, PostgreSQL rolls its
  transaction back and frees the lock, and the task (acks late) is delivered again;
* when the TSA or OCSP/CRL servers cannot be reached, :class:`SealingUnavailable`
  propagates: nothing is stored, the contract stays 封緘待ち, and the task retries
  with backoff. There is no fallback to the local clock or to an unsigned file;
* when the document or a typed value cannot be sealed (:class:`SealingInputError`),
  nothing is stored either, and the contract moves to 封緘できませんでした with
  the reason instead of being retried for ever (:mod:`signing.conclusion`).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import replace

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from core.settings import SealSettings, Settings, SigningSettings
from onboarding.environment import is_test
from onboarding.metering import record_conclusion
from onboarding.models import Environment
from signing.audit import Actor, actor_display_name, append_event
from signing.blobs import BlobStore
from signing.certificate import AgreementLine, CertificateData, PartyLine, SealedFileLine, render_certificate
from signing.conclusion import announce_conclusion, failure_from_error, record_seal_failure
from signing.errors import SealingInputError
from signing.models import (
    AuditKind,
    ConclusionCertificate,
    Contract,
    ContractDocument,
    ContractStatus,
    PartyKind,
    SealedDocument,
)
from signing.renewal import Renewer, renewal_deadline
from signing.repositories.seals import SealRepository
from signing.sealing import Sealer, TextBoxFill
from tenants.models import ContractTitle, Member

__all__ = [
    "SEALING_ACTOR",
    "SealOutcome",
    "SealerPool",
    "renew_due",
    "sandbox_signing_settings",
    "seal_contract",
]

log = logging.getLogger(__name__)

SEALING_ACTOR = Actor(actor="封緘サービス（共同）")
"""How the platform appears in the audit trail when it seals or renews."""

_CERTIFICATE_EVENTS = (AuditKind.AGREED, AuditKind.FORWARDED, AuditKind.DECLINED)
"""What the certificate of conclusion lists of each party (worded by signing.labels, as on the screens)."""


class SealOutcome(enum.StrEnum):
    """What one run of :func:`seal_contract` did."""

    SEALED = "sealed"
    ALREADY_SEALED = "already_sealed"
    NOT_READY = "not_ready"
    BUSY = "busy"
    """Another worker holds the contract's lock right now: try again shortly."""
    FAILED = "failed"
    """The document or a typed value cannot be sealed: recorded as 封緘できませんでした, not retried."""


def sandbox_signing_settings(base: SigningSettings, seal: SealSettings | None = None) -> SigningSettings:
    """The clearly labelled test certificate for members in sandbox or trial (never the real seal).

    ``KYODO_SIGNING_SANDBOX_PKCS12_PATH`` / ``_PASSPHRASE`` name it; the TSA and
    trust roots are those of ``base`` unless ``KYODO_SIGNING_SANDBOX_TSA_URL`` /
    ``_TRUST_ROOTS`` say otherwise.
    """
    seal = seal or SealSettings()
    if seal.sandbox_pkcs12_path is None:
        return base
    return replace(
        base,
        pkcs12_path=seal.sandbox_pkcs12_path,
        pkcs12_passphrase=seal.sandbox_pkcs12_passphrase
        if seal.sandbox_pkcs12_passphrase is not None
        else (base.pkcs12_passphrase or ""),
        tsa_url=seal.sandbox_tsa_url or base.tsa_url,
        trust_root_paths=seal.sandbox_trust_root_paths or base.trust_root_paths,
    )


class SealerPool:
    """One long-lived :class:`Sealer` per identity (provider, sandbox) for this process and loop.

    Keeping the parsed key, the TSA client and the HTTP session is what makes a
    seal cost ~0.1 s instead of ~0.6 s (SIGNING-NOTES).
    """

    def __init__(self, provider: SigningSettings, sandbox: SigningSettings | None = None) -> None:
        self.settings = {"provider": provider, "sandbox": sandbox or provider}
        self._sealers: dict[str, Sealer] = {}
        self._renewers: dict[str, Renewer] = {}

    def sealer(self, identity: str) -> Sealer:
        """The sealer of ``identity`` (created on first use)."""
        if identity not in self._sealers:
            self._sealers[identity] = Sealer(self.settings[identity])
        return self._sealers[identity]

    def renewer(self, identity: str) -> Renewer:
        """The renewer of ``identity`` (created on first use)."""
        if identity not in self._renewers:
            self._renewers[identity] = Renewer(self.settings[identity])
        return self._renewers[identity]

    async def aclose(self) -> None:
        """Close every HTTP session."""
        for sealer in self._sealers.values():
            await sealer.aclose()
        for renewer in self._renewers.values():
            await renewer.aclose()
        self._sealers.clear()
        self._renewers.clear()


def _lock_key(contract_id: uuid.UUID) -> int:
    # A signed 64-bit key for pg_try_advisory_xact_lock, stable across processes.
    return int.from_bytes(hashlib.sha256(b"seal:" + contract_id.bytes).digest()[:8], "big", signed=True)


def _is_test(member: Member) -> bool:
    return is_test(member)


def _made_in_test(contract: Contract) -> bool:
    """A contract made in the sandbox or trial is sealed with the labelled test certificate, whatever came after."""
    return contract.environment is Environment.TEST


@asynccontextmanager
async def _across_members(session: AsyncSession) -> AsyncIterator[SealRepository]:
    """The worker's scope: every member's rows inside the block, the previous scope afterwards.

    A database error aborts the transaction; it is rolled back here, before the
    scope is restored, so that the error the task classifies is the database's
    own (a lock or statement timeout is retried) and not a later statement's
    "transaction aborted".
    """
    async with elevated(session):
        try:
            yield SealRepository(session, None)
        except DBAPIError:
            with suppress(DBAPIError):
                await session.rollback()
            raise


async def _certificate_data(
    repo: SealRepository,
    contract: Contract,
    *,
    member: Member,
    title: ContractTitle,
    sealed: Sequence[tuple[ContractDocument, SealedDocument]],
    concluded_at: dt.datetime,
) -> CertificateData:
    parties = sorted(contract.parties, key=lambda p: (p.order_no, p.created_at))
    titles = await repo.title_names()
    events = await repo.trail(contract.id, [k.value for k in _CERTIFICATE_EVENTS])
    return CertificateData(
        member_name=member.name,
        title_formal_name=title.formal_name,
        subject=contract.subject,
        contract_number=contract.contract_number,
        amount=contract.amount,
        transaction_date=contract.transaction_date,
        counterparty=contract.counterparty,
        concluded_at=concluded_at,
        contract_id=str(contract.id),
        parties=[
            PartyLine(
                order=p.order_no,
                role="契約者" if p.kind is PartyKind.CONTRACTOR else titles.get(p.title_id or uuid.UUID(int=0), "職員"),
                company=p.company,
                name=p.name,
                email=p.email,
                status=p.status,
            )
            for p in parties
        ],
        events=[
            AgreementLine(
                when=e.occurred_at,
                what=AuditKind(e.kind),
                who=actor_display_name(e.actor),
                email=e.email,
                ip=str(e.ip or ""),
            )
            for e in events
            if e.kind in {k.value for k in _CERTIFICATE_EVENTS}
        ],
        files=[SealedFileLine(doc.file_name, s.sha256, s.size) for doc, s in sealed],
        test_environment=_made_in_test(contract),
    )


async def seal_contract(
    session: AsyncSession, settings: Settings, pool: SealerPool, contract_id: uuid.UUID
) -> SealOutcome:
    """Seal every file of the contract and its certificate, once. The caller commits.

    Runs across members (:func:`core.scope.elevated`); everything after the
    contract is found is read within the contract's member.

    :raises SealingUnavailable: the TSA or revocation servers cannot be reached;
        nothing was stored and the contract stays 封緘待ち.
    """
    async with _across_members(session) as everyone:
        if not await everyone.try_lock_contract(_lock_key(contract_id)):
            return SealOutcome.BUSY
        contract = await everyone.contract_for_update(contract_id)
        if contract is None:
            return SealOutcome.NOT_READY
        return await _seal(session, settings, pool, everyone.of_member(contract.member_id), contract)


async def _seal(
    session: AsyncSession, settings: Settings, pool: SealerPool, repo: SealRepository, contract: Contract
) -> SealOutcome:
    await session.refresh(contract, ["documents", "parties", "sealed_documents"])
    if contract.status is ContractStatus.CONCLUDED:
        return SealOutcome.ALREADY_SEALED
    if contract.status is not ContractStatus.SEALING:
        return SealOutcome.NOT_READY
    member = await repo.member(contract.member_id)
    title = await repo.title(contract.title_id)
    assert title is not None
    identity = "sandbox" if _made_in_test(contract) else "provider"
    sealer = pool.sealer(identity)
    boxes = await repo.text_boxes(contract.id)
    store = BlobStore(settings)
    reason = f"{member.name} {title.formal_name} 契約番号 {contract.contract_number or '—'} の締結"
    # Seal every file before storing anything: a file that cannot be sealed
    # leaves no sealed sibling behind.
    sealed_files: list[tuple[ContractDocument, bytes]] = []
    for document in sorted(contract.documents, key=lambda d: d.position):
        original = await store.get(session, contract.member_id, document.sha256)
        fills = [
            TextBoxFill(page=b.page, x=b.x, y=b.y, width=b.width, height=b.height, text=b.value, ref=str(b.id))
            for b in boxes
            if b.document_id == document.id and b.value
        ]
        try:
            sealed_files.append((document, await sealer.seal(original, fills, reason=reason, location=member.name)))
        except SealingInputError as exc:
            # The same file and values would fail the same way again: no retry.
            log.warning("contract %s cannot be sealed (%s): %s", contract.id, exc.reason, type(exc).__name__)
            await record_seal_failure(session, settings, contract, failure_from_error(exc, document, boxes))
            await session.flush()
            return SealOutcome.FAILED
    stored: list[tuple[ContractDocument, SealedDocument]] = []
    for document, sealed_bytes in sealed_files:
        digest = await store.put(session, contract.member_id, sealed_bytes)
        row = SealedDocument(
            member_id=contract.member_id,
            contract_id=contract.id,
            document_id=document.id,
            version=1,
            sha256=digest,
            size=len(sealed_bytes),
            renew_by=renewal_deadline(sealed_bytes),
        )
        repo.add(row)
        stored.append((document, row))
    concluded_at = dt.datetime.now(dt.UTC)
    certificate_pdf = render_certificate(
        await _certificate_data(repo, contract, member=member, title=title, sealed=stored, concluded_at=concluded_at)
    )
    certificate = await sealer.seal(
        certificate_pdf, [], reason=f"{member.name} 締結証明書 {contract.contract_number or ''}", location=member.name
    )
    certificate_digest = await store.put(session, contract.member_id, certificate)
    repo.add(
        ConclusionCertificate(
            member_id=contract.member_id,
            contract_id=contract.id,
            version=1,
            sha256=certificate_digest,
            size=len(certificate),
            renew_by=renewal_deadline(certificate),
        )
    )
    contract.status = ContractStatus.CONCLUDED
    contract.concluded_at = concluded_at
    # Billing meters concluded contracts (live only); in the test environment it is a trial run.
    await record_conclusion(session, member, contract.id, occurred_at=concluded_at)
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.SEALED,
        who=SEALING_ACTOR,
        documents=[s.sha256 for _doc, s in stored],
        detail={"certificate": certificate_digest, "identity": identity},
    )
    # Only now, in the transaction that stores the seal, is anyone told 締結.
    await announce_conclusion(session, settings, contract)
    await session.flush()
    return SealOutcome.SEALED


async def renew_due(
    session: AsyncSession, settings: Settings, pool: SealerPool, *, now: dt.datetime, margin: dt.timedelta
) -> int:
    """Add a fresh document timestamp to every sealed file whose newest timestamp expires soon (SIG-2).

    The renewed file is stored as the next version; the previous bytes stay as
    they were (they are a prefix of the new file). Runs across members
    (:func:`core.scope.elevated`). Returns how many files were renewed.
    """
    store = BlobStore(settings)
    renewed = 0
    async with _across_members(session) as everyone:
        for row in await everyone.sealed_documents_due(now + margin):
            if await everyone.has_newer_version(row):
                continue
            member = await everyone.member(row.member_id)
            data = await store.get(session, row.member_id, row.sha256)
            fresh = await pool.renewer("sandbox" if _is_test(member) else "provider").renew(data)
            digest = await store.put(session, row.member_id, fresh)
            everyone.add(
                SealedDocument(
                    member_id=row.member_id,
                    contract_id=row.contract_id,
                    document_id=row.document_id,
                    version=row.version + 1,
                    sha256=digest,
                    size=len(fresh),
                    renew_by=renewal_deadline(fresh),
                )
            )
            row.renew_by = None
            await append_event(
                session,
                member_id=row.member_id,
                contract_id=row.contract_id,
                kind=AuditKind.RENEWED,
                who=SEALING_ACTOR,
                documents=[digest],
                detail={"previous": row.sha256, "version": row.version + 1},
            )
            renewed += 1
        for cert in await everyone.certificates_due(now + margin):
            member = await everyone.member(cert.member_id)
            data = await store.get(session, cert.member_id, cert.sha256)
            fresh = await pool.renewer("sandbox" if _is_test(member) else "provider").renew(data)
            digest = await store.put(session, cert.member_id, fresh)
            everyone.add(
                ConclusionCertificate(
                    member_id=cert.member_id,
                    contract_id=cert.contract_id,
                    version=cert.version + 1,
                    sha256=digest,
                    size=len(fresh),
                    renew_by=renewal_deadline(fresh),
                )
            )
            cert.renew_by = None
            renewed += 1
        await session.flush()
    return renewed
