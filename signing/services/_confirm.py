"""What a confirmation says before an action that cannot be undone: what happens, and to whom.

The screens ask before sending, cancelling and concluding under a title. The
question is built here from the contract as it is, so it names the parties who
are mailed and the title signed under; the action itself changes nothing until
the person confirms (the JSON API acts at once: its caller has decided already).
"""

from __future__ import annotations

import enum

from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import gettext as _
from core.scope import Principal
from core.web import Confirmation
from signing.models import Contract, Party, PartyKind, PartyStatus
from signing.repositories import ContractRepository
from tenants.models import ContractTitle

__all__ = ["Confirmation", "ContractStep", "confirmation", "signer_title"]


class ContractStep(enum.StrEnum):
    """The actions of the contract page that ask first."""

    SEND = "send"
    CANCEL = "cancel"
    SIGN = "sign"


async def signer_title(session: AsyncSession, principal: Principal, contract: Contract) -> ContractTitle | None:
    """The title under which the caller is asked to conclude the contract, if they are one of its signers."""
    mine = next(
        (p for p in contract.parties if p.kind is PartyKind.STAFF and p.staff_id == principal.id and p.title_id),
        None,
    )
    if mine is None or mine.title_id is None:
        return None
    return await ContractRepository(session, contract.member_id).title(mine.title_id)


def _line(party: Party) -> str:
    return f"{party.order_no}. {party.label} <{party.email}>"


async def confirmation(
    session: AsyncSession, principal: Principal, contract: Contract, step: ContractStep
) -> Confirmation:
    """The question to ask before ``step`` on ``contract``."""
    if step is ContractStep.SEND:
        first = min((p.order_no for p in contract.parties), default=0)
        asked_now = [p.label for p in contract.parties if p.order_no == first]
        return Confirmation(
            heading=_("Send “{subject}”?").format(subject=contract.subject),
            what=[
                _("In this order: {names} are mailed the request now, the others when their turn comes.").format(
                    names="、".join(asked_now)
                ),
                _("Contractors open it with the access password you give them by phone or on paper."),
                _("After sending, the files, parties and boxes can no longer be changed."),
            ],
            who=[_line(p) for p in contract.parties],
            who_heading=_("Parties, in order"),
            button=_("Send to {n} parties").format(n=len(contract.parties)),
        )
    if step is ContractStep.CANCEL:
        told = [p for p in contract.parties if p.status is not PartyStatus.WAITING]
        return Confirmation(
            heading=_("Cancel the request for “{subject}”?").format(subject=contract.subject),
            what=[
                _("The contract stops for good and cannot be sent again."),
                _("Everyone asked so far is told by mail that the request is withdrawn, and every link stops working.")
                if told
                else _("Nobody has been asked yet, so nobody is mailed."),
            ],
            who=[_line(p) for p in told],
            who_heading=_("Told by mail") if told else "",
            button=_("Cancel the request"),
            destructive=True,
        )
    title = await signer_title(session, principal, contract)
    title_name = title.formal_name if title is not None else ""
    return Confirmation(
        heading=_("Conclude “{subject}”?").format(subject=contract.subject),
        what=[
            _("You conclude this contract under the title {title}.").format(title=title_name),
            _("Your agreement is recorded with your name, the time and your network address and cannot be taken back."),
        ],
        who=[title_name] if title_name else [],
        who_heading=_("Title signed under"),
        button=_("Conclude under the title {title}").format(title=title.name if title is not None else ""),
    )
