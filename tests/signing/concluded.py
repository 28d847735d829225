"""Contracts at the end of circulation, for tests of sealing and what comes after it.

Made through the workflow functions and sealed by the real sealing service
(loopback TSA/OCSP), so their sealed files and certificates are real.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

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


async def agreed_by_its_signer(
    session: AsyncSession,
    settings: Settings,
    member: Member,
    *,
    files: Sequence[tuple[str, bytes]],
    subject: str,
    counterparty: str,
    amount: int,
    transaction_date: dt.date,
    contract_number: str = "",
    login: str = "morioka-shocho",
    signer_name: str = "内舘 茂",
    title_code: str = "mayor",
    formal_name: str = "盛岡市長 内舘 茂",
    value: str | None = None,
) -> Contract:
    """A contract agreed by one staff signer, ``signer_name`` under ``formal_name``: 封緘待ち, ready for a real seal.

    Its box on the first file holds ``value``; the caller commits, and seals when it
    needs a sealed contract.
    """
    mayor = await f.title(session, member, title_code, "市長", formal_name)
    signer = await f.staff(session, member, login, roles=("signer", "drafter"), name=signer_name)
    await f.grant(session, signer, mayor)
    principal = principal_of(signer, member)
    # The trail names staff as a signed-in request does (Actor.of_principal), with the internal id.
    who = Actor(actor=f"{principal.kind.value}:{principal.id} {principal.name}", email=signer.email)
    await system_access(session)
    contract = await svc.create_contract(
        session,
        principal,
        svc.ContractInput(
            subject=subject,
            title_id=mayor.id,
            contract_number=contract_number,
            amount=amount,
            transaction_date=transaction_date,
            counterparty=counterparty,
        ),
        who,
    )
    documents = await svc.add_documents(session, settings, contract, list(files), who)
    party = await svc.add_party(
        session,
        contract,
        svc.PartyInput(
            order_no=1,
            kind=PartyKind.STAFF,
            name=signer.name,
            email=signer.email,
            staff_id=signer.id,
            title_id=mayor.id,
        ),
        who,
    )
    box = await svc.add_text_box(
        session,
        contract,
        svc.TextBoxInput(
            document_id=documents[0].id, party_id=party.id, page=0, x=72, y=100, width=260, height=24, label="記名"
        ),
        who,
    )
    await svc.send(session, settings, contract, who)
    await session.refresh(contract, ["documents", "parties", "sealed_documents"])
    await svc.staff_agree(
        session,
        settings,
        contract=contract,
        principal=principal,
        values={str(box.id): value if value is not None else formal_name},
        who=who,
    )
    return contract


__all__ = ["agreed_by_its_signer", "concluded", "principal_of"]
