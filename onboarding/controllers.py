"""Screens and API of onboarding.

* Member administrators: bulk staff import (``/admin/import``,
  ``/api/v1/staff-imports``) and the member's full export (``/admin/export``).
* The secretariat: stages and checklists (``/secretariat/onboarding``),
  agreements and invoices (``/secretariat/billing``), deletion of a leaving
  member (``/secretariat/leaving``). It sees figures and records, never contract
  contents.

Handlers stay thin: they check the caller, call a service, render.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import gettext as _
from core.outbox import enqueue
from core.scope import Principal
from core.settings import Settings
from onboarding import billing, leaving, stages
from onboarding.dates import parse_month, today_jst
from onboarding.documents import invoice_csv, invoice_pdf
from onboarding.models import (
    CHECKLIST_ITEMS,
    ConsortiumBilling,
    ImportStatus,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    ServiceAgreement,
    StaffImport,
)
from onboarding.staff_import import (
    BACKGROUND_ROWS,
    ImportRejected,
    apply_import,
    column_label,
    login_id_conflict,
    preview,
    status_label,
)
from onboarding.tasks import progress_key
from policy.engine import CHANNEL
from policy.engine import engine as policy_engine
from policy.guards import current_principal, requires, requires_member_staff, requires_secretariat
from policy.permissions import member_domain
from tenants.models import Member, MemberStatus

__all__ = [
    "BillingController",
    "LeavingController",
    "MemberExportController",
    "OnboardingController",
    "StaffImportApiController",
    "StaffImportController",
]

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass
class UploadForm:
    """A CSV file sent from a form or by another system."""

    file: UploadFile


Upload = Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Form errors on screens: the reason on a page in the user's language, with a way back."""
    status = getattr(exc, "status_code", 400)
    detail = getattr(exc, "detail", "") or str(exc)
    return Template(
        "error.html",
        context={"title": _("The request could not be completed"), "message": detail},
        status_code=status,
    )


HTML_ERRORS = {ValidationException: _error_page, NotFoundException: _error_page}


def _actor(principal: Principal) -> str:
    return f"{principal.name} ({principal.kind.value}:{principal.id})"


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(request.headers.get("hx-request"))


# --------------------------------------------------------------------------- staff import


async def _job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> StaffImport:
    """The caller's member's import (row-level security hides the others, the filter says so)."""
    job = await session.scalar(
        select(StaffImport).where(StaffImport.id == job_id, StaffImport.member_id == principal.member_id)
    )
    if job is None:
        raise NotFoundException(detail=_("No such import."))
    return job


async def _member(session: AsyncSession, principal: Principal) -> Member:
    member = await session.get(Member, principal.member_id)
    assert member is not None
    return member


async def _read_upload(upload: UploadForm) -> tuple[str, bytes]:
    data = await upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationException(detail=_("The file is larger than 20 MB. Split it into several files."))
    return upload.file.filename or "staff.csv", data


async def _progress(redis: Redis, job: StaffImport) -> dict[str, int]:
    if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        raw = await redis.get(progress_key(job.id))
        if raw:
            data = json.loads(raw)
            return {"processed": int(data["processed"]), "total": int(data["total"])}
        return {"processed": 0, "total": len(job.rows)}
    return {"processed": job.processed_rows, "total": job.total_rows}


POLICY_CHANGED = "kyodo_policy_changed"
"""Request-state key: the Casbin domain whose role assignments the request changed."""


async def announce_policy_change(request: Request[Any, Any, Any]) -> None:
    """After the response (so after the commit), tell every process to reload the domain."""
    domain = request.state.get(POLICY_CHANGED)
    if domain:
        policy_engine.invalidate(domain)
        await request.app.state.redis.publish(CHANNEL, domain)


async def _commit(session: AsyncSession, principal: Principal, job: StaffImport) -> bool:
    """Apply now (small files; True) or hand to a worker through the outbox (large ones)."""
    if job.status is not ImportStatus.PREVIEWED:
        if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.DONE):
            return False  # a second click changes nothing
        raise ImportRejected(_("This import has problems and cannot be applied. Correct the file and upload it again."))
    if len(job.rows) > BACKGROUND_ROWS:
        job.status = ImportStatus.QUEUED
        enqueue(session, "onboarding.apply_staff_import", job_id=str(job.id))
        await session.flush()
        return False
    try:
        async with session.begin_nested():
            await apply_import(session, job, await _member(session, principal))
    except IntegrityError as exc:
        # Login IDs are unique across members, and other members' IDs are not visible here.
        raise ImportRejected(login_id_conflict()) from exc
    job.finished_at = dt.datetime.now(dt.UTC)
    return True


def _job_json(job: StaffImport, progress: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "status": job.status.value,
        "filename": job.filename,
        "encoding": job.encoding,
        "total_rows": job.total_rows,
        "problems": job.problems,
        "result": job.result,
        "error": job.error,
        "progress": progress or {"processed": job.processed_rows, "total": job.total_rows},
    }


class StaffImportController(Controller):
    """Bulk staff registration screens for member administrators (ACC-1)."""

    path = "/admin/import"
    guards = [requires_member_staff, requires("member", "import")]  # noqa: RUF012 - Litestar reads a list
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Upload form and recent imports."""
        principal = current_principal(request)
        jobs = (
            await db_session.scalars(
                select(StaffImport)
                .where(StaffImport.member_id == principal.member_id)
                .order_by(StaffImport.created_at.desc())
                .limit(20)
            )
        ).all()
        return Template("onboarding/import_index.html", context={"jobs": jobs, "status_label": status_label})

    @post("/", status_code=303)
    async def upload(
        self, request: Request[Any, Any, Any], data: Upload, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Check the file and show the preview (nothing is written yet)."""
        principal = current_principal(request)
        filename, content = await _read_upload(data)
        job = await preview(
            db_session,
            await _member(db_session, principal),
            filename=filename,
            data=content,
            uploaded_by_id=principal.id,
            grantor=principal.permissions,
        )
        return Redirect(path=f"/admin/import/{job.id}", status_code=303)

    @get("/{job_id:uuid}")
    async def show(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """Preview with every problem by line, or the result."""
        job = await _job(db_session, current_principal(request), job_id)
        progress = await _progress(state.redis, job)
        return Template(
            "onboarding/import_show.html",
            context={"job": job, "progress": progress, "column_label": column_label, "error": None},
        )

    @post("/{job_id:uuid}/commit", status_code=303, after_response=announce_policy_change)
    async def commit(
        self, request: Request[Any, Any, Any], job_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Apply all rows, or none."""
        principal = current_principal(request)
        job = await _job(db_session, principal, job_id)
        try:
            if await _commit(db_session, principal, job):
                request.state[POLICY_CHANGED] = member_domain(principal.member_id)
        except ImportRejected as exc:
            raise ValidationException(detail=str(exc)) from exc
        return Redirect(path=f"/admin/import/{job.id}", status_code=303)

    @get("/{job_id:uuid}/progress")
    async def progress(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Template:
        """The progress box (htmx polls it while the import runs)."""
        job = await _job(db_session, current_principal(request), job_id)
        return Template(
            "onboarding/import_progress.html", context={"job": job, "progress": await _progress(state.redis, job)}
        )


class StaffImportApiController(Controller):
    """Bulk staff registration for other systems (API key with member:import)."""

    path = "/api/v1/staff-imports"
    guards = [requires_member_staff, requires("member", "import")]  # noqa: RUF012 - Litestar reads a list
    tags = ["staff import"]  # noqa: RUF012

    @post("/", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], data: Upload, db_session: NamedDependency[AsyncSession]
    ) -> dict[str, Any]:
        """Upload a CSV; the answer lists every problem by line, or what applying it would do."""
        principal = current_principal(request)
        filename, content = await _read_upload(data)
        job = await preview(
            db_session,
            await _member(db_session, principal),
            filename=filename,
            data=content,
            uploaded_by_id=principal.id if principal.kind.value == "staff" else None,
            grantor=principal.permissions,
        )
        return _job_json(job)

    @get("/{job_id:uuid}")
    async def read(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> dict[str, Any]:
        """An import's state, problems, result and progress."""
        job = await _job(db_session, current_principal(request), job_id)
        return _job_json(job, await _progress(state.redis, job))

    @post("/{job_id:uuid}/commit", status_code=200, after_response=announce_policy_change)
    async def commit(
        self, request: Request[Any, Any, Any], job_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> dict[str, Any]:
        """Apply the import (large files in the background: poll the import until ``done``)."""
        principal = current_principal(request)
        job = await _job(db_session, principal, job_id)
        try:
            if await _commit(db_session, principal, job):
                request.state[POLICY_CHANGED] = member_domain(principal.member_id)
        except ImportRejected as exc:
            raise ValidationException(detail=str(exc)) from exc
        return _job_json(job)


class MemberExportController(Controller):
    """The member's full export, for its administrator (DAT-1)."""

    path = "/admin/export"
    guards = [requires_member_staff, requires("member", "export")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def page(self) -> Template:
        """What the export contains, and the download button."""
        return Template("onboarding/export.html")

    @get("/download")
    async def download(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
    ) -> Response[bytes]:
        """Every table and file of the member as one zip with a SHA-256 manifest."""
        member = await _member(db_session, current_principal(request))
        buffer = io.BytesIO()
        settings: Settings = state.settings
        await leaving.export_member(db_session, member, buffer, settings)
        name = f"kyodo-export-{member.lg_code}-{today_jst():%Y%m%d}.zip"
        return Response(
            buffer.getvalue(),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


# --------------------------------------------------------------------------- secretariat


async def _consortium_member(session: AsyncSession, principal: Principal, member_id: uuid.UUID) -> Member:
    """A member of the secretariat's own consortium, or 404."""
    member = await session.scalar(
        select(Member).where(Member.id == member_id, Member.consortium_id == principal.consortium_id)
    )
    if member is None:
        raise NotFoundException(detail=_("No such member."))
    return member


def _date(value: str, *, required: bool = False) -> dt.date | None:
    value = value.strip()
    if not value:
        if required:
            raise ValidationException(detail=_("Enter a date."))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationException(detail=_("“{value}” is not a date (YYYY-MM-DD).").format(value=value)) from exc


class OnboardingController(Controller):
    """Stages and checklists of every member, for the secretariat (ONB-2)."""

    path = "/secretariat/onboarding"
    guards = [requires_secretariat, requires("consortium", "view")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Every member: stage, trial runs, checklist, history."""
        principal = current_principal(request)
        progress = await stages.consortium_progress(db_session, principal.consortium_id)
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
        member = await _consortium_member(db_session, principal, member_id)
        if item not in CHECKLIST_ITEMS:
            raise NotFoundException(detail=_("No such step."))
        done_on = _date(data.get("done_on", "")) if not data.get("clear") else None
        await stages.tick(db_session, member, item, done_on=done_on, note=data.get("note", ""), by=_actor(principal))
        return await _member_row(request, db_session, principal, member, message=_("Saved."))

    @post("/{member_id:uuid}/stage", guards=[requires("consortium", "manage")])
    async def move(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
    ) -> Template | Redirect:
        """Move the member to the next stage (promotion to live keeps every setting)."""
        principal = current_principal(request)
        member = await _consortium_member(db_session, principal, member_id)
        try:
            target = MemberStatus(data.get("to", ""))
        except ValueError as exc:
            raise ValidationException(detail=_("Choose a stage.")) from exc
        try:
            await stages.transition(
                db_session,
                member,
                target,
                by=_actor(principal),
                effective_on=_date(data.get("effective_on", "")),
                note=data.get("note", ""),
            )
        except stages.InvalidTransition as exc:
            return await _member_row(request, db_session, principal, member, error=str(exc), status_code=400)
        return await _member_row(request, db_session, principal, member, message=_("Stage changed."))


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
    error: str = "",
    status_code: int = 200,
) -> Template | Redirect:
    if not _is_htmx(request):
        if error:
            raise ValidationException(detail=error)
        return Redirect(path="/secretariat/onboarding", status_code=303)
    progress = await stages.consortium_progress(session, principal.consortium_id, member.id)
    context = _onboarding_context(progress)
    context.update({"p": progress[0], "message": message, "error": error})
    return Template("onboarding/onboarding_member.html", context=context, status_code=status_code)


def _money(value: str, label: str) -> Decimal:
    try:
        amount = Decimal(value.replace(",", "").strip())
    except InvalidOperation as exc:
        raise ValidationException(detail=_("{label}: enter an amount in yen.").format(label=label)) from exc
    return amount


class BillingController(Controller):
    """Agreements and invoices of every member, for the secretariat (ONB-3)."""

    path = "/secretariat/billing"
    guards = [requires_secretariat, requires("billing", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        """Agreement versions, the paying member, invoices and the run form."""
        principal = current_principal(request)
        members = (
            await db_session.scalars(
                select(Member).where(Member.consortium_id == principal.consortium_id).order_by(Member.lg_code)
            )
        ).all()
        agreements = (
            await db_session.scalars(
                select(ServiceAgreement)
                .where(ServiceAgreement.consortium_id == principal.consortium_id)
                .order_by(ServiceAgreement.member_ref_id, ServiceAgreement.version)
            )
        ).all()
        invoices = (
            await db_session.scalars(
                select(Invoice)
                .where(Invoice.consortium_id == principal.consortium_id)
                .order_by(Invoice.number.desc())
                .limit(200)
            )
        ).all()
        setup = await db_session.scalar(
            select(ConsortiumBilling).where(ConsortiumBilling.consortium_id == principal.consortium_id)
        )
        return Template(
            "onboarding/billing_index.html",
            context={
                "members": members,
                "agreements": agreements,
                "invoices": invoices,
                "payer_id": setup.payer_member_ref_id if setup else None,
                "InvoiceKind": InvoiceKind,
                "latest_end": billing.LATEST_END,
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
        member = await _consortium_member(db_session, principal, member_id)
        try:
            included = int(data.get("included_contracts", "0") or 0)
        except ValueError as exc:
            raise ValidationException(detail=_("Included contracts must be a whole number.")) from exc
        try:
            await billing.add_agreement_version(
                db_session,
                member,
                effective_from=_date(data.get("effective_from", ""), required=True) or today_jst(),
                start_date=_date(data.get("start_date", ""), required=True) or today_jst(),
                end_date=_date(data.get("end_date", ""), required=True) or today_jst(),
                monthly_fee=_money(data.get("monthly_fee", ""), _("Monthly fee")),
                included_contracts=included,
                extra_contract_price=_money(data.get("extra_contract_price", ""), _("Price per extra contract")),
                by=_actor(principal),
                note=data.get("note", ""),
            )
        except billing.AgreementError as exc:
            raise ValidationException(detail=str(exc)) from exc
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
                payer_id = (await _consortium_member(db_session, principal, uuid.UUID(chosen))).id
            except ValueError as exc:
                raise NotFoundException(detail=_("No such member.")) from exc
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
        except ValueError as exc:
            raise ValidationException(detail=_("Enter the month as YYYY-MM.")) from exc
        await billing.issue_month(db_session, principal.consortium_id, month, by=_actor(principal))
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
        invoice = await _invoice(db_session, principal, invoice_id)
        try:
            await billing.issue_credit_note(db_session, invoice.id, by=_actor(principal), note=data.get("note", ""))
        except billing.AgreementError as exc:
            raise ValidationException(detail=str(exc)) from exc
        return Redirect(path="/secretariat/billing", status_code=303)

    @get("/invoices/{invoice_id:uuid}/pdf")
    async def pdf(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """The invoice as PDF."""
        principal = current_principal(request)
        invoice = await _invoice(db_session, principal, invoice_id)
        lines = await _lines(db_session, invoice)
        return Response(
            invoice_pdf(invoice, lines, issuer=_("Kyodo service provider")),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="invoice-{invoice.number:06d}.pdf"'},
        )

    @get("/invoices/{invoice_id:uuid}/csv")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        """The invoice as CSV."""
        principal = current_principal(request)
        invoice = await _invoice(db_session, principal, invoice_id)
        return Response(
            invoice_csv(invoice, await _lines(db_session, invoice)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="invoice-{invoice.number:06d}.csv"'},
        )


async def _invoice(session: AsyncSession, principal: Principal, invoice_id: uuid.UUID) -> Invoice:
    invoice = await session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.consortium_id == principal.consortium_id)
    )
    if invoice is None:
        raise NotFoundException(detail=_("No such invoice."))
    return invoice


async def _lines(session: AsyncSession, invoice: Invoice) -> list[InvoiceLine]:
    return list(
        (
            await session.scalars(
                select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
            )
        ).all()
    )


class LeavingController(Controller):
    """Deletion of a leaving member's data, and the deletion reports (DAT-3)."""

    path = "/secretariat/leaving"
    guards = [requires_secretariat, requires("consortium", "manage")]  # noqa: RUF012
    include_in_schema = False
    exception_handlers = HTML_ERRORS  # type: ignore[assignment]

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Members that are leaving, and every deletion report."""
        principal = current_principal(request)
        members = (
            await db_session.scalars(
                select(Member)
                .where(Member.consortium_id == principal.consortium_id, Member.status == MemberStatus.LEAVING)
                .order_by(Member.lg_code)
            )
        ).all()
        reports = await leaving.deletion_reports(db_session, principal.consortium_id)
        return Template("onboarding/leaving_index.html", context={"members": members, "reports": reports})

    @post("/{member_id:uuid}/delete", status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: FormData,
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> Redirect:
        """Delete everything of the member after the code is typed again; a report is kept."""
        principal = current_principal(request)
        member = await _consortium_member(db_session, principal, member_id)
        if data.get("confirm", "").strip() != member.lg_code:
            raise ValidationException(
                detail=_("Type the member's local government code ({code}) to confirm the deletion.").format(
                    code=member.lg_code
                )
            )
        try:
            await leaving.delete_member(db_session, member, state.settings, by=_actor(principal))
        except leaving.DeletionRefused as exc:
            raise ValidationException(detail=str(exc)) from exc
        policy_engine.invalidate(member_domain(member.id))
        return Redirect(path="/secretariat/leaving", status_code=303)
