"""What a member's readable exit export reads: every contract with its files, parties and trail.

One repository bound to the member (its administrator's request, scoped by
row-level security, or the operator's command with system access). Rows come
back in a stable order so that two exports of unchanged data list the same
files in the same order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from core.repository import MemberScopedRepository
from signing.models import AuditEvent, ConclusionCertificate, Contract, ContractDocument, Party, SealedDocument
from tenants.models import ContractTitle, Department

__all__ = ["ExitRepository"]


class ExitRepository(MemberScopedRepository):
    """Every contract-related row of one member, for its export."""

    async def contracts(self) -> Sequence[Contract]:
        """Every contract of the member, oldest first."""
        return await self.all(self.scoped(Contract).order_by(Contract.created_at, Contract.id))

    async def documents(self) -> Sequence[ContractDocument]:
        """Every uploaded file (the originals), by contract and position."""
        return await self.all(
            self.scoped(ContractDocument).order_by(ContractDocument.contract_id, ContractDocument.position)
        )

    async def parties(self) -> Sequence[Party]:
        """Every party, by contract and order."""
        return await self.all(self.scoped(Party).order_by(Party.contract_id, Party.order_no, Party.created_at))

    async def sealed_documents(self) -> Sequence[SealedDocument]:
        """Every sealed version of every file."""
        return await self.all(
            self.scoped(SealedDocument).order_by(
                SealedDocument.contract_id, SealedDocument.document_id, SealedDocument.version
            )
        )

    async def certificates(self) -> Sequence[ConclusionCertificate]:
        """Every version of every certificate of conclusion."""
        return await self.all(
            self.scoped(ConclusionCertificate).order_by(
                ConclusionCertificate.contract_id, ConclusionCertificate.version
            )
        )

    async def trail(self) -> Sequence[AuditEvent]:
        """The whole audit trail of the member, in the order it was chained."""
        return await self.all(self.scoped(AuditEvent).order_by(AuditEvent.id))

    async def title_names(self) -> dict[uuid.UUID, str]:
        """Contract title id → its formal name."""
        return {t.id: t.formal_name for t in await self.all(self.scoped(ContractTitle))}

    async def department_names(self) -> dict[uuid.UUID, str]:
        """Department id → its name."""
        return {d.id: d.name for d in await self.all(self.scoped(Department))}
