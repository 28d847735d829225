"""Does a PDF match a sealed file on record? (by SHA-256, across all members)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import elevated
from signing.repositories import ContractRepository

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
    """The sealed file (any version) or certificate with this SHA-256, if the platform issued it.

    Whoever uploads a file may be of no member at all, so the lookup reads every
    member's rows; only this lookup does, and the session's scope is back to what
    it was afterwards.
    """
    async with elevated(session):
        repo = ContractRepository(session, None)
        found = await repo.sealed_file_record(sha256)
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
        cert = await repo.certificate_record(sha256)
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
