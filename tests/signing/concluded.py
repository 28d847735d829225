"""Concluded contracts for tests of what comes after conclusion (corrections, the portal).

Made through the workflow functions and sealed by the real sealing service
(loopback TSA/OCSP), so their sealed files and certificates are real.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import Principal, PrincipalKind
from core.settings import Settings
from signing import services as svc
from signing.audit import Actor
from signing.models import Contract, ContractStatus, PartyKind
from signing.seal_service import SealerPool, SealOutcome, seal_contract
from tenants.models import ContractTitle, Department, Member, Staff
from tests import factories as f
from tests.scope import system_access


def principal_of(staff: Staff, member: Member) -> Principal:
    """The staff member as the services see them (permissions are the guards' business)."""
    return Principal(
        kind=PrincipalKind.STAFF,
        id=staff.id,
        name=staff.name,
        consortium_id=member.consortium_id,
        member_id=member.id,
        department_id=staff.department_id,
    )


async def concluded(
    session: AsyncSession,
    settings: Settings,
    pool: SealerPool,
    *,
    drafter: Staff,
    member: Member,
    title: ContractTitle,
    subject: str,
    email: str,
    counterparty: str = "岩手建設株式会社",
    amount: int = 1_200_000,
    day: dt.date = dt.date(2026, 4, 1),
    number: str = "",
    department: Department | None = None,
) -> Contract:
    """A contract with one contractor (``email``) who agreed, sealed: 締結済み."""
    await system_access(session)
    who = Actor(drafter.name)
    contract = await svc.create_contract(
        session,
        principal_of(drafter, member),
        svc.ContractInput(
            subject=subject,
            title_id=title.id,
            contract_number=number,
            amount=amount,
            transaction_date=day,
            counterparty=counterparty,
            department_id=department.id if department else None,
        ),
        who,
    )
    await svc.add_documents(session, settings, contract, [("契約書.pdf", f.pdf())], who)
    party = await svc.add_party(
        session,
        contract,
        svc.PartyInput(
            order_no=1,
            kind=PartyKind.CONTRACTOR,
            company=counterparty,
            name="担当 一郎",
            email=email,
            password="pw-2026-ok",
        ),
        who,
    )
    await svc.send(session, settings, contract, who)
    await svc.agree(session, settings, contract=contract, party=party, values={}, who=Actor("契約者"))
    assert await seal_contract(session, settings, pool, contract.id) is SealOutcome.SEALED
    await system_access(session)
    await session.refresh(contract)
    assert contract.status is ContractStatus.CONCLUDED
    return contract


__all__ = ["concluded", "principal_of"]
