"""Does a PDF match a sealed file on record? (by SHA-256, across all members)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import for_member, system_access
from signing.models import ConclusionCertificate, Contract, ContractDocument, SealedDocument
from tenants.models import Member

__all__ = ["RecordMatch", "find_record"]


@dataclass(frozen=True)
class RecordMatch:
    """What the platform knows about a sealed file: enough to recognise it, nothing more.

    Whoever holds the PDF already sees its contents; the match only confirms which
    member, contract number and time it belongs to.
    """

    member_name: str
    contract_number: str
    subject: str
    what: str
    """"document" (a sealed contract file) or "certificate" (締結証明書)."""
    file_name: str
    version: int
    concluded_at: dt.datetime | None


async def find_record(session: AsyncSession, sha256: str) -> RecordMatch | None:
    """The sealed file (any version) or certificate with this SHA-256, if the platform issued it."""
    await system_access(session)
    try:
        row = await session.execute(
            select(SealedDocument, Contract, Member, ContractDocument.file_name)
            .join(Contract, Contract.id == SealedDocument.contract_id)
            .join(Member, Member.id == Contract.member_id)
            .join(ContractDocument, ContractDocument.id == SealedDocument.document_id)
            .where(SealedDocument.sha256 == sha256)
            .limit(1)
        )
        found = row.first()
        if found is not None:
            sealed, contract, member, file_name = found
            return RecordMatch(
                member.name,
                contract.contract_number,
                contract.subject,
                "document",
                file_name,
                sealed.version,
                contract.concluded_at,
            )
        row = await session.execute(
            select(ConclusionCertificate, Contract, Member)
            .join(Contract, Contract.id == ConclusionCertificate.contract_id)
            .join(Member, Member.id == Contract.member_id)
            .where(ConclusionCertificate.sha256 == sha256)
            .limit(1)
        )
        cert = row.first()
        if cert is not None:
            certificate, contract, member = cert
            return RecordMatch(
                member.name,
                contract.contract_number,
                contract.subject,
                "certificate",
                "締結証明書",
                certificate.version,
                contract.concluded_at,
            )
        return None
    finally:
        # The lookup needs every member's rows; nothing after it may.
        await for_member(session, None)
