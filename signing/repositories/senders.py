"""Who speaks in a contract's mails and on its contractor pages: the member, the department, a contact.

The contact is the contract's department's, else the member's, else the
drafter's name and address, so a contractor always has someone to call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from signing.models import Contract
from signing.repositories.contracts import ContractRepository
from tenants.models import Department, Member, Staff

__all__ = ["Sender", "SenderRepository"]


@dataclass(frozen=True)
class Sender:
    """The member a contract belongs to, its department and whom to call."""

    member: str
    department: str = ""
    contact: str = ""


class SenderRepository(ContractRepository):
    """The sender of one contract (made for the contract's member, or elevated by the mail task)."""

    async def sender(self, contract_id: uuid.UUID) -> Sender | None:
        """The member, department and contact of the contract; None when it does not exist."""
        # Usually already loaded by the request (the contract page, the link): no second SELECT.
        contract = await self.session.get(Contract, contract_id)
        if contract is None:
            return None
        member = await self.session.get(Member, contract.member_id)
        department = await self.get(Department, contract.department_id) if contract.department_id else None
        drafter = await self.get(Staff, contract.created_by_id) if contract.created_by_id else None
        contact = (department.contact if department else "") or (member.contact if member else "")
        if not contact and drafter is not None:
            contact = f"{drafter.name} <{drafter.email}>"
        return Sender(
            member=member.name if member is not None else "",
            department=department.name if department is not None else "",
            contact=contact,
        )
