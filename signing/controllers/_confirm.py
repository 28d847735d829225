"""Confirmation pages of the contract screens: asked before an action, answered by posting it again.

A form of the contract page posts to the action itself. Without ``confirmed=yes``
the handler changes nothing and answers with the question (what happens and to
whom, from :func:`signing.services.confirmation`); its button posts the same
fields again with ``confirmed=yes``. No script is needed and the action's route,
guard and checks stay the one route, guard and checks.
"""

from __future__ import annotations

import uuid

from litestar.response import Template

from signing import services as svc

__all__ = ["confirm_page", "confirmed"]


def confirmed(form: dict[str, str]) -> bool:
    """True when the person answered the confirmation."""
    return form.get("confirmed") == "yes"


async def confirm_page(
    actions: svc.ContractActions, contract_id: uuid.UUID, step: svc.ContractStep, form: dict[str, str]
) -> Template:
    """The question before ``step``; the contract is read as the caller may see it (another member's is not found)."""
    contract = await actions.contract(contract_id)
    question = await svc.confirmation(actions.session, actions.principal, contract, step)
    fields = {k: v for k, v in form.items() if k.startswith("box_")}
    return Template(
        "confirm.html",
        context={
            "c": question,
            "action": f"/contracts/{contract.id}/{step.value}",
            "fields": fields,
            "back": f"/contracts/{contract.id}",
        },
    )
