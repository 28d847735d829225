"""The secretariat's screens of onboarding: stages and checklists (ONB-2), billing (ONB-3), leaving (DAT-3).

Each acts only on members of the secretariat's own consortium: a member of
another consortium answers like one that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import parse_month, today_jst
from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from core.settings import Settings
from core.web import status_of
from onboarding import billing, leaving, stages
from onboarding.controllers.forms import HTML_ERRORS, FormData, actor, form_date, is_htmx, money
from onboarding.documents import invoice_csv, invoice_pdf
from onboarding.members import consortium_member, consortium_members
from onboarding.models import CHECKLIST_ITEMS, InvoiceKind
from policy.guards import current_principal, requires, requires_secretariat
from tenants.models import Member, MemberStatus

__all__ = ["BillingController", "LeavingController", "OnboardingController"]


# --------------------------------------------------------------------------- stages and checklists


def _onboarding_context(progress: list[stages.MemberProgress]) -> dict[str, Any]:
    return {
        "progress": progress,
        "items": CHECKLIST_ITEMS,
        "checklist_label": stages.checklist_label,
        "stage_label": stages.stage_label,
        "MemberStatus": MemberStatus,
    }


async def _member_row(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    member: Member,
    *,
    message: str = "",
    refused: stages.InvalidTransition | None = None,
) -> Template | Redirect:
    """htmx: the member's part of the page, with the message or the refusal; otherwise back to the page."""
    if not is_htmx(request):
        if refused is not None:
            raise refused
        return Redirect(path="/secretariat/onboarding", status_code=303)
    progress = await stages.consortium_progress(session, principal.consortium_id, member.id)
    context = _onboarding_context(progress)
    context.update({"p": progress[0], "message": message, "error": refused.message if refused else ""})
    return Template(
        "onboarding/onboarding_member.html",
        context=context,
        status_code=status_of(refused) if refused is not None else 200,
    )


class OnboardingController(Controller):
    """Stages and checklists of every member, for the secretariat (ONB-2)."""

    path = "/secretariat/onboarding"
    guards = [requires_secretariat, requires("consortium", "view")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Every member: stage, trial runs, checklist, history."""
        progress = await stages.consortium_progress(db_session, current_principal(request).consortium_id)
        return Template("onboarding/onboarding_index.html", context=_onboarding_context(progress))

    @post("/{member_id:uuid}/checklist/{item:str}", guards=[requires("consortium", "manage")])
    async def tick(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        item: FromPath[str],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        """Tick (or clear) a step with its date and a note."""
        principal = current_principal(request)
        member = await consortium_member(db_session, principal.consortium_id, member_id)
        done_on = form_date(data.get("done_on", "")) if not data.get("clear") else None
        await stages.tick(db_session, member, item, done_on=done_on, note=data.get("note", ""), by=actor(principal))
        return await _member_row(request, db_session, principal, member, message=_("Saved."))

    @post("/{member_id:uuid}/stage", guards=[requires("consortium", "manage")])
    async def move(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        """Move the member to the next stage once the secretariat confirmed (promotion to live keeps every setting)."""
        principal = current_principal(request)
        member = await consortium_member(db_session, principal.consortium_id, member_id)
        try:
            target = MemberStatus(data.get("to", ""))
        except ValueError:
            raise Invalid(_("Choose a stage.")) from None
        answer = data.get("confirmed", "")
        if answer == "no":
            return await _member_row(request, db_session, principal, member)
        effective_on = form_date(data.get("effective_on", ""))
        try:
            if answer != "yes":
                question = await stages.stage_question(db_session, member, target, effective_on=effective_on)
                fields = {
                    "to": target.value,
                    "effective_on": data.get("effective_on", ""),
                    "note": data.get("note", ""),
                }
                if is_htmx(request):
                    return Template(
                        "onboarding/stage_confirm.html", context={"c": question, "member": member, "fields": fields}
                    )
                return Template(
                    "confirm.html",
                    context={
                        "c": question,
                        "action": f"/secretariat/onboarding/{member.id}/stage",
                        "fields": fields,
                        "back": "/secretariat/onboarding",
                    },
                )
            await stages.transition(
                db_session, member, target, by=actor(principal), effective_on=effective_on, note=data.get("note", "")
            )
        except stages.InvalidTransition as exc:
            # The refusal is shown inside the member's part of the page.
            return await _member_row(request, db_session, principal, member, refused=exc)
        return await _member_row(request, db_session, principal, member, message=_("Stage changed."))


# --------------------------------------------------------------------------- agreements and invoices


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class BillingController(Controller):
    """Agreements and invoices of every member, for the secretariat (ONB-3)."""

    path = "/secretariat/billing"
    guards = [requires_secretariat, requires("billing", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Agreement versions, the paying member, invoices, the issuer printed on them and the run form."""
        overview = await billing.overview(db_session, current_principal(request).consortium_id)
        issuer, issuer_problem = None, ""
        try:
            issuer = billing.check_issuer(_settings(request).invoice)
        except billing.IssuerIncomplete as exc:
            issuer_problem = exc.message
        return Template(
            "onboarding/billing_index.html",
            context={
                "members": overview.members,
                "agreements": overview.agreements,
                "invoices": overview.invoices,
                "payer_id": overview.payer_id,
                "InvoiceKind": InvoiceKind,
                "invoice_number": billing.invoice_number,
                "issuer": issuer,
                "issuer_problem": issuer_problem,
                "latest_end": await billing.latest_end_of(db_session, current_principal(request).consortium_id),
            },
        )

    @post("/agreements/{member_id:uuid}", status_code=303)
    async def add_agreement(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """A new agreement version (first agreement, price change or extension)."""
        principal = current_principal(request)
        member = await consortium_member(db_session, principal.consortium_id, member_id)
        try:
            included = int(data.get("included_contracts", "0") or 0)
        except ValueError:
            raise Invalid(_("Included contracts must be a whole number.")) from None
        await billing.add_agreement_version(
            db_session,
            member,
            effective_from=form_date(data.get("effective_from", ""), required=True) or today_jst(),
            start_date=form_date(data.get("start_date", ""), required=True) or today_jst(),
            end_date=form_date(data.get("end_date", ""), required=True) or today_jst(),
            monthly_fee=money(data.get("monthly_fee", ""), _("Monthly fee")),
            included_contracts=included,
            extra_contract_price=money(data.get("extra_contract_price", ""), _("Price per extra contract")),
            by=actor(principal),
            note=data.get("note", ""),
        )
        return Redirect(path="/secretariat/billing", status_code=303)

    @post("/payer", status_code=303)
    async def payer(
        self, request: Request[Any, Any, Any], data: FormData, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Let one member pay for all, or each member for itself."""
        principal = current_principal(request)
        chosen = data.get("payer", "")
        payer_id = None
        if chosen:
            try:
                chosen_id = uuid.UUID(chosen)
            except ValueError:
                raise NotFound(_("No such member.")) from None
            payer_id = (await consortium_member(db_session, principal.consortium_id, chosen_id)).id
        await billing.set_payer(db_session, principal.consortium_id, payer_id)
        return Redirect(path="/secretariat/billing", status_code=303)

    @post("/run", status_code=303)
    async def run(
        self, request: Request[Any, Any, Any], data: FormData, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Issue the invoices of a month that are not issued yet."""
        principal = current_principal(request)
        try:
            month = parse_month(data.get("month", ""))
        except ValueError:
            raise Invalid(_("Enter the month as YYYY-MM.")) from None
        await billing.issue_month(
            db_session, principal.consortium_id, month, by=actor(principal), issuer=_settings(request).invoice
        )
        return Redirect(path="/secretariat/billing", status_code=303)

    @post("/invoices/{invoice_id:uuid}/credit", status_code=303)
    async def credit(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Reverse an invoice with a credit note."""
        principal = current_principal(request)
        invoice = await billing.invoice_of(db_session, principal.consortium_id, invoice_id)
        await billing.issue_credit_note(
            db_session, invoice.id, by=actor(principal), note=data.get("note", ""), issuer=_settings(request).invoice
        )
        return Redirect(path="/secretariat/billing", status_code=303)

    @get("/invoices/{invoice_id:uuid}/pdf")
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """The invoice as PDF."""
        invoice = await billing.invoice_of(db_session, current_principal(request).consortium_id, invoice_id)
        lines = await billing.invoice_lines(db_session, invoice)
        return Response(
            invoice_pdf(invoice, lines),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="invoice-{billing.invoice_number(invoice)}.pdf"'},
        )

    @get("/invoices/{invoice_id:uuid}/csv")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """The invoice as CSV."""
        invoice = await billing.invoice_of(db_session, current_principal(request).consortium_id, invoice_id)
        return Response(
            invoice_csv(invoice, await billing.invoice_lines(db_session, invoice)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="invoice-{billing.invoice_number(invoice)}.csv"'},
        )


# --------------------------------------------------------------------------- leaving


class LeavingController(Controller):
    """Leaving members and the sealed deletion reports (DAT-3); deletion: :mod:`signing.exit_controllers`."""

    path = "/secretariat/leaving"
    guards = [requires_secretariat, requires("consortium", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Members that are leaving, and every deletion report."""
        consortium_id = current_principal(request).consortium_id
        members = await consortium_members(db_session, consortium_id, status=MemberStatus.LEAVING)
        reports = await leaving.deletion_reports(db_session, consortium_id)
        exports = {m.id: (await leaving.exports_of(db_session, m.id))[:1] for m in members}
        requests = await leaving.deletion_requests(db_session, consortium_id)
        return Template(
            "onboarding/leaving_index.html",
            context={"members": members, "reports": reports, "exports": exports, "requests": requests},
        )

    @get("/reports/{report_id:uuid}/pdf")
    async def report_pdf(
        self, request: Request[Any, Any, Any], report_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Response[bytes]:
        """The sealed deletion report, to hand to the member."""
        report = await leaving.deletion_report(db_session, current_principal(request).consortium_id, report_id)
        if not report.pdf:
            raise NotFound(_("This deletion was made before reports were sealed; only the record above exists."))
        return Response(
            report.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="deletion-report-{report.lg_code}.pdf"',
                "Cache-Control": "no-store",
            },
        )
