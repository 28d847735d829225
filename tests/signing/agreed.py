"""A contract agreed by one staff signer through the services: 封緘待ち, ready for a real seal.

Tests of sealing, backups and the leaving export need the same starting point:
a member's signer holding a contract title, a contract with its search keys,
PDFs, the signer as the one party with one text box on the first file, sent and
agreed. The caller commits (and seals, when it needs a sealed contract).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import Principal, PrincipalKind
from core.settings import Settings
from signing import services as svc
from signing.audit import Actor
from signing.models import Contract, PartyKind
from tenants.models import Member
from tests import factories as f
from tests.scope import system_access


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
    """The contract, agreed by ``signer_name`` under the title ``formal_name``; its box holds ``value``."""
    mayor = await f.title(session, member, title_code, "市長", formal_name)
    signer = await f.staff(session, member, login, roles=("signer", "drafter"), name=signer_name)
    await f.grant(session, signer, mayor)
    principal = Principal(
        kind=PrincipalKind.STAFF,
        id=signer.id,
        name=signer.name,
        consortium_id=member.consortium_id,
        member_id=member.id,
    )
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
