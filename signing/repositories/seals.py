"""Every query of the sealing service: contracts awaiting their seal, sealed files, certificates, document keys.

The sealing worker runs across members: it finds a contract, or the files due
for renewal, with a repository made with ``member_id=None`` inside
:func:`core.scope.elevated`, then reads the rest of one contract through
:meth:`SealRepository.of_member`, a repository bound to that contract's member.
:class:`DocumentKeyRepository` holds a member's wrapped data key for the
encrypted document store (:mod:`signing.blobs`), in whatever scope the caller
runs (a request of the member, or the worker).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from core.repository import MemberScopedRepository
from signing.models import (
    AuditEvent,
    ConclusionCertificate,
    Contract,
    ContractStatus,
    DocumentKey,
    SealedDocument,
    TextBox,
)
from tenants.models import ContractTitle, Member

__all__ = ["DocumentKeyRepository", "SealQueue", "SealRepository", "WaitingSeal"]


class SealRepository(MemberScopedRepository):
    """What the sealing service reads and locks: across members (elevated) or within one."""

    def of_member(self, member_id: uuid.UUID) -> SealRepository:
        """The same session's queries, limited to ``member_id`` (one contract's member)."""
        return SealRepository(self.session, member_id)

    # ----------------------------------------------------------------- contracts

    async def try_lock_contract(self, key: int) -> bool:
        """Take the transaction's advisory lock ``key``; False when another transaction holds it."""
        return bool(await self.session.scalar(select(func.pg_try_advisory_xact_lock(key))))

    async def contract_for_update(self, contract_id: uuid.UUID) -> Contract | None:
        """The contract, row-locked until the end of the transaction (None: not found)."""
        return await self.get(Contract, contract_id, for_update=True)

    async def contracts_waiting_since(self, before: dt.datetime) -> list[uuid.UUID]:
        """Ids of the contracts 封緘待ち whose last agreement is older than ``before``."""
        statement = (
            self.scoped(Contract)
            .where(Contract.status == ContractStatus.SEALING, Contract.completed_at < before)
            .with_only_columns(Contract.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def member(self, member_id: uuid.UUID) -> Member:
        """The member a contract or a sealed file belongs to."""
        member = await self.session.get(Member, member_id)
        if member is None:
            raise LookupError(f"no member {member_id}")
        return member

    async def title(self, title_id: uuid.UUID) -> ContractTitle | None:
        """A contract title of the member."""
        return await self.get(ContractTitle, title_id)

    async def title_names(self) -> dict[uuid.UUID, str]:
        """Title id → formal name, for every title of the member."""
        return {t.id: t.formal_name for t in await self.all(self.scoped(ContractTitle))}

    async def text_boxes(self, contract_id: uuid.UUID) -> list[TextBox]:
        """Every text box of the contract (all its documents)."""
        return list(await self.all(self.scoped(TextBox).where(TextBox.contract_id == contract_id)))

    async def trail(self, contract_id: uuid.UUID, kinds: Sequence[str]) -> Sequence[AuditEvent]:
        """The contract's audit events of ``kinds``, in the order they were written."""
        return await self.all(
            self.scoped(AuditEvent)
            .where(AuditEvent.contract_id == contract_id, AuditEvent.kind.in_(list(kinds)))
            .order_by(AuditEvent.id)
        )

    # ----------------------------------------------------------------- renewal

    async def sealed_documents_due(self, by: dt.datetime) -> Sequence[SealedDocument]:
        """Sealed files whose newest timestamp must be renewed by ``by``, soonest first."""
        return await self.all(
            self.scoped(SealedDocument)
            .where(SealedDocument.renew_by.is_not(None), SealedDocument.renew_by <= by)
            .order_by(SealedDocument.renew_by)
        )

    async def has_newer_version(self, row: SealedDocument) -> bool:
        """True if the same document was sealed or renewed again after ``row``."""
        newer = self.scoped(SealedDocument).where(
            SealedDocument.document_id == row.document_id, SealedDocument.version > row.version
        )
        return bool(await self.session.scalar(select(newer.exists())))

    async def certificates_due(self, by: dt.datetime) -> Sequence[ConclusionCertificate]:
        """Certificates of conclusion whose newest timestamp must be renewed by ``by``."""
        return await self.all(
            self.scoped(ConclusionCertificate).where(
                ConclusionCertificate.renew_by.is_not(None), ConclusionCertificate.renew_by <= by
            )
        )


class DocumentKeyRepository(MemberScopedRepository):
    """One member's wrapped data key of the document store."""

    def _member(self) -> uuid.UUID:
        if self.member_id is None:
            raise ValueError("a document key belongs to one member")
        return self.member_id

    async def wrapped_key(self) -> bytes | None:
        """The member's data key, wrapped by the master key (None: not made yet)."""
        self._member()
        return await self.session.scalar(self.scoped(DocumentKey).with_only_columns(DocumentKey.wrapped_key))

    async def add_wrapped_key_once(self, wrapped: bytes) -> None:
        """Store ``wrapped`` as the member's key unless one is stored already (two first uploads agree)."""
        await self.session.execute(
            insert(DocumentKey)
            .values(id=uuid.uuid4(), member_id=self._member(), wrapped_key=wrapped)
            .on_conflict_do_nothing(index_elements=["member_id"])
        )


@dataclass(frozen=True)
class WaitingSeal:
    """A contract agreed by every party whose seal is not stored: waiting, or refused by the sealer."""

    lg_code: str
    member_name: str
    contract_id: uuid.UUID
    status: ContractStatus
    completed_at: dt.datetime | None
    failure_reason: str


class SealQueue(MemberScopedRepository):
    """Contracts waiting for the sealing service, across members (``kyodo seal pending``, ``kyodo watch``)."""

    async def needing_seal(self) -> list[WaitingSeal]:
        """Contracts being sealed or that could not be sealed, the longest waiting first."""
        statement = (
            self.scoped(Contract)
            .where(Contract.status.in_([ContractStatus.SEALING, ContractStatus.SEAL_FAILED]))
            .with_only_columns(
                Member.lg_code,
                Member.name,
                Contract.id,
                Contract.status,
                Contract.completed_at,
                Contract.seal_failure,
            )
            .join_from(Contract, Member, Member.id == Contract.member_id)
            .order_by(Contract.completed_at)
        )
        rows = await self.session.execute(statement)
        return [
            WaitingSeal(code, name, cid, status, done, str((failure or {}).get("reason", "")))
            for code, name, cid, status, done, failure in rows.tuples()
        ]
