"""A contract's particulars (電子帳簿保存法 search keys): required before sending, corrected with history.

取引年月日, amount and counterparty are the keys a concluded contract must be
found by (LAW-1). They are required before a contract is sent
(:func:`require_particulars`). After conclusion they can be corrected only by
staff holding ``contract:correct``, with a reason, and never silently: each
correction is an audit event (``corrected``, before → after) and is kept on
the contract (``Contract.corrections``) for its page and its CSV; the search
finds the current value. A contract can also move to another department, and
a department merged into another takes its contracts along (``moved`` events).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Forbidden, Invalid
from core.i18n import gettext as _
from core.scope import Principal
from signing.audit import Actor, Origin, append_event
from signing.models import AuditKind, Contract, ContractStatus
from signing.repositories import ContractRepository
from signing.services._common import documents_of, get_contract, lock_contract, now
from tenants import oplog
from tenants.models import Department
from tenants.services import on_department_merge

__all__ = [
    "CORRECTABLE",
    "ContractRecords",
    "Particulars",
    "move_department_contracts",
    "particulars_labels",
    "require_particulars",
]

CORRECTABLE = ("transaction_date", "amount", "counterparty", "contract_number")
"""The particulars a concluded contract may have corrected."""

MAX_REASON = 500


def particulars_labels() -> dict[str, str]:
    """The particulars' names, in the user's language."""
    return {
        "transaction_date": _("Transaction date"),
        "amount": _("Amount"),
        "counterparty": _("Counterparty"),
        "contract_number": _("Contract number"),
    }


def require_particulars(contract: Contract) -> None:
    """Refuse to send a contract without its search keys (取引年月日, amount, counterparty).

    :raises Invalid: naming the missing ones.
    """
    labels = particulars_labels()
    missing = [
        labels[name]
        for name, value in (
            ("transaction_date", contract.transaction_date),
            ("amount", contract.amount),
            ("counterparty", contract.counterparty.strip()),
        )
        if value is None or value == ""
    ]
    if missing:
        raise Invalid(
            _(
                "Please enter {fields} before sending: they are the keys the concluded contract is found by "
                "(Electronic Books Maintenance Act)."
            ).format(fields="、".join(missing))
        )


@dataclass
class Particulars:
    """The corrected particulars of a concluded contract (all of them, as they should now read) and why."""

    transaction_date: dt.date | None
    amount: int | None
    counterparty: str
    contract_number: str
    reason: str


def _shown(value: object) -> str | int | None:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)


class ContractRecords:
    """What staff holding ``contract:correct`` do with a contract's record: correct particulars, move it.

    Reads the contract as the caller may see it (another member's is not
    found); works in the request's transaction, which the request commits.
    """

    def __init__(self, session: AsyncSession, principal: Principal, origin: Origin) -> None:
        if principal.member_id is None:
            raise Forbidden(_("Only staff of a member organisation can work with contracts."))
        self.session = session
        self.principal = principal
        self.member_id: uuid.UUID = principal.member_id
        self.who = Actor.of_principal(principal, origin)
        self.repo = ContractRepository(session, principal.member_id)

    async def contract(self, contract_id: uuid.UUID) -> Contract:
        """The contract (404 when the caller may not see it)."""
        return await get_contract(self.session, contract_id, self.principal)

    async def departments(self) -> Sequence[Department]:
        """The member's departments, for the choice of a new one."""
        return await self.repo.departments()

    async def correct(self, contract_id: uuid.UUID, data: Particulars) -> Contract:
        """Correct the particulars of a concluded contract, with the reason; each change is recorded.

        :raises Conflict: the contract is not concluded (a draft is edited, a
            contract in circulation cancelled and sent again).
        :raises Invalid: no reason, a required key emptied, or nothing changed.
        """
        contract = await self.contract(contract_id)
        await lock_contract(self.session, contract)
        if contract.status is not ContractStatus.CONCLUDED:
            raise Conflict(_("Only a concluded contract's particulars are corrected this way."))
        reason = " ".join(data.reason.split())[:MAX_REASON]
        if not reason:
            raise Invalid(_("Please give the reason for the correction."))
        after: dict[str, object] = {
            "transaction_date": data.transaction_date,
            "amount": data.amount,
            "counterparty": unicodedata.normalize("NFC", " ".join(data.counterparty.split()))[:400],
            "contract_number": " ".join(data.contract_number.split())[:100],
        }
        if data.amount is not None and data.amount < 0:
            raise Invalid(_("Please enter the amount as a number of yen."))
        for name in ("transaction_date", "amount", "counterparty"):
            if after[name] is None or after[name] == "":
                raise Invalid(
                    _("{field} is a search key of the contract and cannot be emptied.").format(
                        field=particulars_labels()[name]
                    )
                )
        changes = {
            name: {"before": _shown(getattr(contract, name)), "after": _shown(value)}
            for name, value in after.items()
            if getattr(contract, name) != value
        }
        if not changes:
            raise Invalid(_("None of the particulars was changed."))
        for name in changes:
            setattr(contract, name, after[name])
        record: dict[str, object] = {
            "at": now().isoformat(timespec="seconds"),
            "by": self.principal.name,
            "reason": reason,
            "changes": changes,
        }
        # A new list, so that the JSON column is written.
        contract.corrections = [*contract.corrections, record]
        await append_event(
            self.session,
            member_id=contract.member_id,
            contract_id=contract.id,
            kind=AuditKind.CORRECTED,
            who=self.who,
            documents=documents_of(contract),
            detail={"reason": reason, "changes": changes},
        )
        await self.session.flush()
        return contract

    async def move(self, contract_id: uuid.UUID, department_id: uuid.UUID | None) -> Contract:
        """Move a contract to another department of the member (None: to no department); recorded.

        :raises Invalid: the department is not the member's.
        """
        contract = await self.contract(contract_id)
        await lock_contract(self.session, contract)
        target = await self.repo.department(department_id) if department_id is not None else None
        if department_id is not None and target is None:
            raise Invalid(_("Please choose a department of your organisation."))
        if contract.department_id == department_id:
            raise Invalid(_("The contract already belongs to this department."))
        before = await self.repo.department(contract.department_id) if contract.department_id else None
        await _move(self.session, contract, before, target, self.who, via="move")
        await self.session.flush()
        return contract


async def _move(
    session: AsyncSession,
    contract: Contract,
    before: Department | None,
    after: Department | None,
    who: Actor,
    *,
    via: str,
) -> None:
    contract.department_id = after.id if after is not None else None
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.MOVED,
        who=who,
        documents=documents_of(contract),
        detail={
            "via": via,
            "before": {"id": str(before.id), "name": before.name} if before else None,
            "after": {"id": str(after.id), "name": after.name} if after else None,
        },
    )


async def move_department_contracts(
    session: AsyncSession, member_id: uuid.UUID, source: Department, target: Department, who: Actor
) -> int:
    """Every contract of ``source`` moves to ``target`` (a merger of departments); each move is recorded.

    Returns how many contracts moved.
    """
    repo = ContractRepository(session, member_id)
    moved = 0
    for contract in await repo.of_department(source.id):
        await _move(session, contract, source, target, who, via="merge")
        moved += 1
    await session.flush()
    return moved


@on_department_merge
async def _contracts(session: AsyncSession, member_id: uuid.UUID, source: Department, target: Department) -> int:
    """When departments merge, the contracts move along, each move recorded as done by whoever merged them."""
    who = oplog.bound(session)
    actor = Actor(actor=who.actor, ip=who.ip, user_agent=who.user_agent)
    return await move_department_contracts(session, member_id, source, target, actor)
