"""A contract's record after the fact: its particulars corrected with a reason, its department changed.

Staff holding ``contract:correct`` use the page ``/contracts/{id}/record``;
other systems the same two actions under ``/api/v1/contracts/{id}``. Both call
:class:`signing.services.ContractRecords`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from policy.guards import current_principal, requires, requires_member_staff
from signing import services as svc
from signing.controllers._common import UrlForm, date_or_none, error_response, int_or_none, origin_of, parse_uuid
from signing.models import Contract


async def provide_records(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> svc.ContractRecords:
    """The record actions of the signed-in staff member or API key."""
    return svc.ContractRecords(db_session, current_principal(request), origin_of(request))


def _particulars(form: dict[str, str]) -> svc.Particulars:
    return svc.Particulars(
        transaction_date=date_or_none(form.get("transaction_date")),
        amount=int_or_none(form.get("amount"), _("Please enter the amount as a number of yen.")),
        counterparty=form.get("counterparty", ""),
        contract_number=form.get("contract_number", ""),
        reason=form.get("reason", ""),
    )


class ContractRecordsController(Controller):
    """The record page of a contract: correct its particulars, change its department."""

    path = "/contracts"
    dependencies = {"records": Provide(provide_records)}  # noqa: RUF012
    include_in_schema = False
    guards = [requires_member_staff, requires("contract", "correct")]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    async def _page(
        self, records: svc.ContractRecords, contract: Contract, *, form: dict[str, str] | None = None, error: str = ""
    ) -> dict[str, Any]:
        return {
            "contract": contract,
            "departments": await records.departments(),
            "field_labels": svc.particulars_labels(),
            "form": form,
            "error": error,
        }

    @get("/{contract_id:uuid}/record")
    async def record(
        self, *, contract_id: FromPath[uuid.UUID], records: NamedDependency[svc.ContractRecords]
    ) -> Template:
        """The forms to correct the particulars (concluded contracts) and to move the contract."""
        contract = await records.contract(contract_id)
        return Template("signing/record.html", context=await self._page(records, contract))

    @post("/{contract_id:uuid}/corrections")
    async def correct(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, records: NamedDependency[svc.ContractRecords]
    ) -> Template | Redirect:
        """Correct the particulars with a reason; a refusal brings the form back as typed."""
        try:
            await records.correct(contract_id, _particulars(data))
        except Invalid as exc:
            contract = await records.contract(contract_id)
            return Template(
                "signing/record.html",
                context=await self._page(records, contract, form=data, error=exc.message),
                status_code=400,
            )
        return Redirect(path=f"/contracts/{contract_id}#corrections", status_code=303)

    @post("/{contract_id:uuid}/department")
    async def move(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, records: NamedDependency[svc.ContractRecords]
    ) -> Redirect:
        """Move the contract to another department (or to none)."""
        raw = data.get("department_id", "")
        department_id = parse_uuid(raw, _("Please choose a department of your organisation.")) if raw else None
        await records.move(contract_id, department_id)
        return Redirect(path=f"/contracts/{contract_id}", status_code=303)


@dataclass
class CorrectionIn:
    """The particulars as they should now read (every one of them), and why."""

    reason: str
    transaction_date: dt.date | None = None
    amount: int | None = None
    counterparty: str = ""
    contract_number: str = ""


@dataclass
class DepartmentIn:
    """The department the contract now belongs to (null: none)."""

    department_id: uuid.UUID | None = None


@dataclass
class RecordOut:
    """A contract's particulars, department and corrections (oldest first)."""

    id: uuid.UUID
    transaction_date: dt.date | None
    amount: int | None
    counterparty: str
    contract_number: str
    department_id: uuid.UUID | None
    corrections: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def of(cls, c: Contract) -> RecordOut:
        return cls(
            id=c.id,
            transaction_date=c.transaction_date,
            amount=c.amount,
            counterparty=c.counterparty,
            contract_number=c.contract_number,
            department_id=c.department_id,
            corrections=list(c.corrections),
        )


class ContractRecordsApiController(Controller):
    """Corrections of a concluded contract's particulars, and department moves, for other systems."""

    path = "/api/v1/contracts"
    dependencies = {"records": Provide(provide_records)}  # noqa: RUF012
    guards = [requires_member_staff, requires("contract", "correct")]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012
    tags = ["contracts"]  # noqa: RUF012

    @post("/{contract_id:uuid}/corrections", status_code=200)
    async def correct(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[CorrectionIn],
        records: NamedDependency[svc.ContractRecords],
    ) -> RecordOut:
        """Correct a concluded contract's 取引年月日, amount, counterparty and number, with the reason.

        Give every particular as it should now read; the ones that differ are
        recorded (before → after) in the audit trail and in ``corrections``.
        """
        particulars = svc.Particulars(
            transaction_date=data.transaction_date,
            amount=data.amount,
            counterparty=data.counterparty,
            contract_number=data.contract_number,
            reason=data.reason,
        )
        return RecordOut.of(await records.correct(contract_id, particulars))

    @post("/{contract_id:uuid}/department", status_code=200)
    async def move(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[DepartmentIn],
        records: NamedDependency[svc.ContractRecords],
    ) -> RecordOut:
        """Move the contract to another department of the member (a reorganisation); recorded in the trail."""
        return RecordOut.of(await records.move(contract_id, data.department_id))


__all__ = ["ContractRecordsApiController", "ContractRecordsController"]
