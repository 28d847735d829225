"""Service agreements and monthly invoices (ONB-3, ONB-4, MOR-8).

Agreements
    Each member has its own agreement with the provider. Every change (price,
    included contracts, extension up to :data:`LATEST_END`) is a new **version**
    effective from a date; versions are never rewritten, and a version may not
    take effect inside a month that has already been invoiced.

What a month costs (all amounts in integer yen, before tax)
    * A member is billed from its go-live day (the ``live`` stage change's
      effective day, or the agreement start if later) to the agreement end (or the
      day it left). Members in sandbox or trial are never billed.
    * **Monthly fee, prorated by day**: for each run of days under one version,
      ``floor(monthly fee × days ÷ days in the month)``.
    * **Concluded contracts**: live usage events only, counted in the order they
      happened. The first *included* ones (the allowance of the version in force on
      the member's last billed day of the month) are free; each further one costs the
      extra price of the version in force on the day it was concluded.
    * **Consumption tax per rate, per invoice**: every line carries its rate (10 %, or
      8 % for a reduced-rate item); for each rate ``tax = floor(subtotal of the rate ×
      rate ÷ 100)``, fractions below one yen truncated once per rate and invoice, never
      per line (消費税法施行令 70条の10).

Invoices
    Issued on the 1st for the previous month by Celery beat (Asia/Tokyo), or on
    demand (secretariat screen, ``kyodo billing run --month YYYY-MM``). One per
    member, or, when the consortium has a paying member (MOR-8), one consolidated
    invoice to it with lines per member. Numbers come from a per-consortium counter
    row locked ``FOR UPDATE``, so they have no gaps even with concurrent runs;
    issuing the same month again issues nothing new. Issued invoices are never
    changed (the database refuses UPDATE/DELETE to the application); a correction
    is a credit note reversing the invoice, after which the month may be issued again.

Qualified invoices (適格請求書, 消費税法 57条の4)
    The issuer is the provider, configured once (``KYODO_INVOICE_*``,
    :class:`core.settings.InvoiceSettings`): name, address, registration number
    (T and 13 digits, check digit verified) and the bank account payments go to.
    Issuing is refused with a plain message while one of them is missing or wrong.
    What was printed is copied onto the invoice row, with the payment due date (end of
    the ``due_months``-th month after the billed month) and the totals per rate, so a
    later change of the settings never alters an issued invoice. Every screen,
    document and command shows the number as :func:`invoice_number` formats it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST, month_end, month_is_over
from core.errors import Invalid, NotFound
from core.i18n import format_date
from core.i18n import gettext as _
from core.scope import elevated
from core.settings import InvoiceSettings, get_settings
from onboarding.environment import TEST_STATUSES
from onboarding.members import consortium_members
from onboarding.models import (
    ConsortiumBilling,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    ServiceAgreement,
    StageChange,
)
from onboarding.repository import OnboardingRepository
from tenants.models import Consortium, Member, MemberStatus

__all__ = [
    "ACCOUNT_TYPES",
    "LATEST_END",
    "REDUCED_TAX_RATE_PERCENT",
    "TAX_RATE_PERCENT",
    "AgreementError",
    "BillingOverview",
    "Charge",
    "IssuerIncomplete",
    "add_agreement_version",
    "check_issuer",
    "compute_month",
    "due_date",
    "invoice_lines",
    "invoice_number",
    "invoice_of",
    "issue_credit_note",
    "issue_month",
    "latest_end_of",
    "overview",
    "rate_totals",
    "registration_number_problem",
    "set_payer",
    "tax_for",
]

LATEST_END = dt.date(2031, 3, 31)
"""Agreements of the first consortium may be extended up to this day (GUN-13(6)); each consortium keeps its own."""
TAX_RATE_PERCENT = 10
"""The standard consumption tax rate (標準税率); every line of the service is at this rate."""
REDUCED_TAX_RATE_PERCENT = 8
"""The reduced rate (軽減税率), shown separately when a line has it."""
ACCOUNT_TYPES = ("普通", "当座")


class AgreementError(Invalid):
    """An agreement version that may not be made (message in the user's language)."""


class IssuerIncomplete(Invalid):
    """The provider's invoice settings lack what a qualified invoice must show."""


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def tax_for(subtotal: Decimal, rate: int = TAX_RATE_PERCENT) -> Decimal:
    """Consumption tax of an invoice's lines at one ``rate``: fractions below one yen truncated (towards zero)."""
    if subtotal < 0:
        return -tax_for(-subtotal, rate)
    return _floor(subtotal * rate / 100)


def rate_totals(lines: Iterable[tuple[int, Decimal]]) -> list[dict[str, int]]:
    """Subtotal and tax per rate of ``(rate, amount)`` lines, highest rate first: one rounding per rate."""
    by_rate: dict[int, Decimal] = defaultdict(Decimal)
    for rate, amount in lines:
        by_rate[rate] += amount
    return [
        {"rate": rate, "subtotal": int(by_rate[rate]), "tax": int(tax_for(by_rate[rate], rate))}
        for rate in sorted(by_rate, reverse=True)
    ]


def invoice_number(invoice: Invoice | int) -> str:
    """The invoice's number as every screen, PDF, CSV and command shows it: ``000001``."""
    number = invoice if isinstance(invoice, int) else invoice.number
    return f"{number:06d}"


# --------------------------------------------------------------------------- the issuer


_REGISTRATION = re.compile(r"T(\d{13})")


def _fold(text: str) -> str:
    """Full-width letters and digits folded, spaces and hyphens dropped: what people paste from a notice."""
    return re.sub(r"[\s\-‐－ー]", "", unicodedata.normalize("NFKC", text)).upper()


def registration_number_problem(value: str) -> str | None:
    """What is wrong with a registration number (適格請求書発行事業者登録番号), or None.

    T and 13 digits; the first digit is the check digit of the 法人番号 (or of the
    number given to a sole proprietor): ``9 − (Σ Pn × Qn mod 9)`` over the other 12
    digits, Pn the n-th digit from the right, Qn 1 for odd n and 2 for even n.
    """
    m = _REGISTRATION.fullmatch(_fold(value))
    if m is None:
        return _("The registration number “{value}” is not T followed by 13 digits (e.g. T1234567890123).").format(
            value=value
        )
    digits = m[1]
    weighted = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(digits[1:]), start=1))
    if int(digits[0]) != 9 - weighted % 9:
        return _(
            "The registration number “{value}” does not add up (its check digit, the digit after T, is wrong): "
            "compare it with the notice of registration."
        ).format(value=value)
    return None


@dataclass(frozen=True)
class _Issuer:
    """The provider as printed on an invoice, checked."""

    name: str
    address: str
    registration_number: str
    bank_name: str
    bank_branch: str
    bank_account_type: str
    bank_account_number: str
    bank_account_holder: str
    due_months: int


def check_issuer(settings: InvoiceSettings, *, bank: bool = True) -> _Issuer:
    """The issuer from the settings, or :class:`IssuerIncomplete` naming everything missing or wrong.

    ``bank=False`` for a credit note, which asks for no payment.
    """
    problems: list[str] = []
    if not settings.issuer_name.strip():
        problems.append(_("The issuer's name (KYODO_INVOICE_ISSUER_NAME) is not set."))
    if not settings.registration_number.strip():
        problems.append(_("The registration number (KYODO_INVOICE_REGISTRATION_NUMBER) is not set."))
    elif problem := registration_number_problem(settings.registration_number):
        problems.append(problem)
    account_type = settings.bank_account_type.strip()
    number = unicodedata.normalize("NFKC", settings.bank_account_number).strip()
    if bank:
        missing = [
            name
            for name, value in (
                ("KYODO_INVOICE_BANK_NAME", settings.bank_name),
                ("KYODO_INVOICE_BANK_BRANCH", settings.bank_branch),
                ("KYODO_INVOICE_BANK_ACCOUNT_NUMBER", number),
                ("KYODO_INVOICE_BANK_ACCOUNT_HOLDER", settings.bank_account_holder),
            )
            if not value.strip()
        ]
        if missing:
            problems.append(
                _("The bank account payments go to is not complete: {names} not set.").format(names=", ".join(missing))
            )
        if account_type not in ACCOUNT_TYPES:
            problems.append(_("The account type (KYODO_INVOICE_BANK_ACCOUNT_TYPE) must be 普通 or 当座."))
        if number and not re.fullmatch(r"\d{1,8}", number):
            problems.append(_("The account number (KYODO_INVOICE_BANK_ACCOUNT_NUMBER) must be at most 8 digits."))
        if settings.due_months < 1:
            problems.append(_("KYODO_INVOICE_DUE_MONTHS must be 1 or more."))
    if problems:
        raise IssuerIncomplete(
            _("Invoices cannot be issued until the provider's invoice settings are complete: {problems}").format(
                problems=" ".join(problems)
            )
        )
    return _Issuer(
        name=settings.issuer_name.strip(),
        address=settings.issuer_address.strip(),
        registration_number=_fold(settings.registration_number),
        bank_name=settings.bank_name.strip() if bank else "",
        bank_branch=settings.bank_branch.strip() if bank else "",
        bank_account_type=account_type if bank else "",
        bank_account_number=number if bank else "",
        bank_account_holder=settings.bank_account_holder.strip() if bank else "",
        due_months=settings.due_months,
    )


def _add_months(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def due_date(month: dt.date, issued_on: dt.date, months: int = 1) -> dt.date:
    """支払期限: the end of the ``months``-th month after the billed ``month`` (1: 翌月末).

    An invoice issued after that day (a late run, or one issued again after a credit
    note) is due at the end of the month after the one it is issued in.
    """
    due = month_end(_add_months(month, months))
    if due < issued_on:
        due = month_end(_add_months(issued_on.replace(day=1), 1))
    return due


async def latest_end_of(session: AsyncSession, consortium_id: uuid.UUID | None) -> dt.date:
    """The latest end an agreement may have in the consortium (set when it was created; :data:`LATEST_END` if none)."""
    if consortium_id is None:
        return LATEST_END
    day: dt.date | None = await session.scalar(select(Consortium.latest_end).where(Consortium.id == consortium_id))
    return day or LATEST_END


async def _last_invoiced_month(session: AsyncSession, member_id: uuid.UUID) -> dt.date | None:
    last: dt.date | None = await session.scalar(
        select(func.max(Invoice.month))
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(InvoiceLine.member_ref_id == member_id, Invoice.kind == InvoiceKind.INVOICE)
    )
    return last


async def add_agreement_version(
    session: AsyncSession,
    member: Member,
    *,
    effective_from: dt.date,
    start_date: dt.date,
    end_date: dt.date,
    monthly_fee: Decimal,
    included_contracts: int,
    extra_contract_price: Decimal,
    by: str,
    note: str = "",
) -> ServiceAgreement:
    """Add a version of ``member``'s agreement (the first one, a price change or an extension).

    Raises:
        AgreementError: dates out of order, end after the consortium latest end, negative prices,
            or a version taking effect in a month already invoiced.
    """
    if end_date < start_date:
        raise AgreementError(_("The end date is before the start date."))
    latest = await latest_end_of(session, member.consortium_id)
    if end_date > latest:
        raise AgreementError(
            _("Agreements can run until {day} at the latest.").format(day=format_date(latest, locale=None))
        )
    if monthly_fee < 0 or extra_contract_price < 0 or included_contracts < 0:
        raise AgreementError(_("Prices and included contracts cannot be negative."))
    if (
        monthly_fee != monthly_fee.to_integral_value()
        or extra_contract_price != extra_contract_price.to_integral_value()
    ):
        raise AgreementError(_("Prices are whole yen."))
    last = await _last_invoiced_month(session, member.id)
    if last is not None and effective_from <= month_end(last):
        raise AgreementError(
            _("{month} has already been invoiced; a change can take effect from {day} at the earliest.").format(
                month=f"{last:%Y-%m}", day=(month_end(last) + dt.timedelta(days=1)).isoformat()
            )
        )
    version = (
        await session.scalar(
            select(func.max(ServiceAgreement.version)).where(ServiceAgreement.member_ref_id == member.id)
        )
        or 0
    ) + 1
    row = ServiceAgreement(
        consortium_id=member.consortium_id,
        member_ref_id=member.id,
        version=version,
        effective_from=effective_from,
        start_date=start_date,
        end_date=end_date,
        monthly_fee=monthly_fee,
        included_contracts=included_contracts,
        extra_contract_price=extra_contract_price,
        created_by=by,
        note=note,
    )
    session.add(row)
    await session.flush()
    return row


async def set_payer(session: AsyncSession, consortium_id: uuid.UUID, payer_id: uuid.UUID | None) -> None:
    """Let one member pay for all (MOR-8), or every member for itself (``None``)."""
    billing = await _billing_row(session, consortium_id)
    billing.payer_member_ref_id = payer_id
    await session.flush()


async def _billing_row(session: AsyncSession, consortium_id: uuid.UUID) -> ConsortiumBilling:
    """The consortium's billing row, locked FOR UPDATE until the transaction ends."""
    await session.execute(
        insert(ConsortiumBilling)
        .values(id=uuid.uuid4(), consortium_id=consortium_id, last_invoice_number=0)
        .on_conflict_do_nothing(index_elements=["consortium_id"])
    )
    row = await session.scalar(
        select(ConsortiumBilling)
        .where(ConsortiumBilling.consortium_id == consortium_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


@dataclass
class Charge:
    """One line of what a member owes for a month."""

    member: Member
    description: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    tax_rate: int = TAX_RATE_PERCENT


def _in_force(versions: list[ServiceAgreement], day: dt.date) -> ServiceAgreement | None:
    current = None
    for v in versions:  # sorted by (effective_from, version)
        if v.effective_from <= day:
            current = v
    return current


def _day_span(first: dt.date, last: dt.date) -> str:
    return f"{first.month}/{first.day}–{last.month}/{last.day}"


@dataclass
class _MemberMonth:
    member: Member
    charges: list[Charge] = field(default_factory=list)


async def _go_live_days(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, dt.date]:
    rows = (
        await session.execute(
            select(StageChange.member_ref_id, func.min(StageChange.effective_on))
            .where(StageChange.member_ref_id.in_(ids), StageChange.to_status == MemberStatus.LIVE)
            .group_by(StageChange.member_ref_id)
        )
    ).tuples()
    return dict(rows.all())


async def _live_conclusions(
    session: AsyncSession, member_id: uuid.UUID, first: dt.date, last: dt.date
) -> list[dt.date]:
    start = dt.datetime.combine(first, dt.time(), tzinfo=JST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=JST)
    times = await OnboardingRepository(session, member_id).live_conclusion_times(start, end)
    return [t.astimezone(JST).date() for t in times]


def _billed_days(
    member: Member, versions: list[ServiceAgreement], go_live: dt.date | None, first: dt.date, last: dt.date
) -> list[tuple[dt.date, ServiceAgreement]]:
    """The days of the month the member is live and under agreement, with the terms of each."""
    billed: list[tuple[dt.date, ServiceAgreement]] = []
    day = first
    while day <= last:
        terms = _in_force(versions, day)
        if (
            terms is not None
            and terms.start_date <= day <= terms.end_date
            and day >= (go_live or terms.start_date)
            and (member.left_on is None or day <= member.left_on)
        ):
            billed.append((day, terms))
        day += dt.timedelta(days=1)
    return billed


def _fee_charges(member: Member, billed: list[tuple[dt.date, ServiceAgreement]], month: dt.date) -> list[Charge]:
    """Monthly fee: one line per run of consecutive days under one version, prorated by day."""
    days_in_month = month_end(month).day
    runs: list[list[tuple[dt.date, ServiceAgreement]]] = []
    for entry in billed:
        if runs and runs[-1][-1][1] is entry[1] and (entry[0] - runs[-1][-1][0]).days == 1:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    charges = []
    for run in runs:
        terms, count = run[0][1], len(run)
        amount = _floor(Decimal(terms.monthly_fee) * count / days_in_month)
        if count == days_in_month:
            text = _("Monthly fee {month}").format(month=f"{month:%Y-%m}")
        else:
            text = _("Monthly fee {span} ({days}/{total} days)").format(
                span=_day_span(run[0][0], run[-1][0]), days=count, total=days_in_month
            )
        charges.append(Charge(member, text, 1, amount, amount))
    return charges


async def compute_month(session: AsyncSession, consortium_id: uuid.UUID, month: dt.date) -> list[Charge]:
    """Every member's charges for ``month`` (first day), per the rules in the module docstring.

    Concluded contracts are counted from the members' own usage rows, read inside
    :func:`core.scope.elevated`; the caller's scope is unchanged afterwards.
    """
    first, last = month, month_end(month)
    members = await consortium_members(session, consortium_id)
    versions_of: dict[uuid.UUID, list[ServiceAgreement]] = defaultdict(list)
    for v in (
        await session.scalars(
            select(ServiceAgreement)
            .where(ServiceAgreement.consortium_id == consortium_id)
            .order_by(ServiceAgreement.effective_from, ServiceAgreement.version)
        )
    ).all():
        versions_of[v.member_ref_id].append(v)
    go_live = await _go_live_days(session, [m.id for m in members])
    charges: list[Charge] = []
    for member in members:
        versions = versions_of.get(member.id)
        if not versions or MemberStatus(member.status) in TEST_STATUSES:
            continue
        billed = _billed_days(member, versions, go_live.get(member.id), first, last)
        if not billed:
            continue
        charges.extend(_fee_charges(member, billed, month))
        # Concluded contracts beyond the allowance.
        allowance = billed[-1][1].included_contracts
        async with elevated(session):
            conclusions = await _live_conclusions(session, member.id, first, last)
        concluded = [d for d in conclusions if d in dict(billed)]
        extra_by_price: dict[Decimal, int] = defaultdict(int)
        for day_concluded in concluded[allowance:]:
            extra_by_price[Decimal(dict(billed)[day_concluded].extra_contract_price)] += 1
        for price, n in sorted(extra_by_price.items()):
            text = _("Concluded contracts beyond the {included} included ({concluded} concluded)").format(
                included=allowance, concluded=len(concluded)
            )
            charges.append(Charge(member, text, n, price, price * n))
    return charges


async def _credited_ids(session: AsyncSession, consortium_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(Invoice.credits_invoice_id).where(
            Invoice.consortium_id == consortium_id, Invoice.credits_invoice_id.is_not(None)
        )
    )
    return {r for r in rows if r is not None}


async def issue_month(
    session: AsyncSession,
    consortium_id: uuid.UUID,
    month: dt.date,
    *,
    by: str,
    issued_on: dt.date | None = None,
    issuer: InvoiceSettings | None = None,
) -> list[Invoice]:
    """Issue the invoices of ``month`` that are not issued yet; returns the new ones.

    ``issuer``: the provider's invoice settings (default: this process's).

    Raises:
        Invalid: the month has not ended yet (its usage is billed once it is over).
        IssuerIncomplete: the registration number, the bank account or the issuer's name is missing or wrong.
    """
    if not month_is_over(month, issued_on):
        raise Invalid(
            _("Invoices for {month} can be issued once the month is over, from {day} on.").format(
                month=f"{month:%Y-%m}", day=(month_end(month) + dt.timedelta(days=1)).isoformat()
            )
        )
    checked = check_issuer(issuer or get_settings().invoice)
    billing = await _billing_row(session, consortium_id)  # locked: one issuer at a time
    charges = await compute_month(session, consortium_id, month)
    payer_of: dict[uuid.UUID, Member] = {}
    if billing.payer_member_ref_id is not None:
        payer = await session.get(Member, billing.payer_member_ref_id)
        assert payer is not None
        payer_of = {c.member.id: payer for c in charges}
    else:
        payer_of = {c.member.id: c.member for c in charges}
    groups: dict[uuid.UUID, list[Charge]] = defaultdict(list)
    for charge in charges:
        groups[payer_of[charge.member.id].id].append(charge)
    credited = await _credited_ids(session, consortium_id)
    existing = (
        await session.scalars(
            select(Invoice).where(
                Invoice.consortium_id == consortium_id, Invoice.month == month, Invoice.kind == InvoiceKind.INVOICE
            )
        )
    ).all()
    already = {i.payer_member_ref_id for i in existing if i.id not in credited}
    issued: list[Invoice] = []
    for payer_id, lines in groups.items():
        if payer_id in already:
            continue
        payer = next(m for m in payer_of.values() if m.id == payer_id)
        issued.append(
            await _issue(
                session,
                billing,
                payer,
                month,
                lines,
                kind=InvoiceKind.INVOICE,
                by=by,
                issued_on=issued_on,
                issuer=checked,
            )
        )
    return issued


async def _issue(
    session: AsyncSession,
    billing: ConsortiumBilling,
    payer: Member,
    month: dt.date,
    charges: list[Charge],
    *,
    kind: InvoiceKind,
    by: str,
    issued_on: dt.date | None,
    issuer: _Issuer,
    reverses: Invoice | None = None,
    note: str = "",
) -> Invoice:
    subtotal = sum((c.amount for c in charges), Decimal(0))
    per_rate = rate_totals((c.tax_rate, c.amount) for c in charges)
    tax = Decimal(sum(r["tax"] for r in per_rate))
    day = issued_on or dt.datetime.now(JST).date()
    billing.last_invoice_number += 1
    invoice = Invoice(
        id=uuid.uuid4(),
        consortium_id=billing.consortium_id,
        number=billing.last_invoice_number,
        kind=kind,
        month=month,
        payer_member_ref_id=payer.id,
        payer_name=payer.name,
        credits_invoice_id=reverses.id if reverses else None,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        issued_on=day,
        issued_by=by,
        note=note,
        rate_totals=per_rate,
        due_on=due_date(month, day, issuer.due_months) if kind is InvoiceKind.INVOICE else None,
        issuer_name=issuer.name,
        issuer_address=issuer.address,
        registration_number=issuer.registration_number,
        bank_name=issuer.bank_name,
        bank_branch=issuer.bank_branch,
        bank_account_type=issuer.bank_account_type,
        bank_account_number=issuer.bank_account_number,
        bank_account_holder=issuer.bank_account_holder,
    )
    session.add(invoice)
    session.add_all(
        InvoiceLine(
            invoice_id=invoice.id,
            position=i,
            member_ref_id=c.member.id,
            member_name=c.member.name,
            description=c.description,
            quantity=c.quantity,
            unit_price=c.unit_price,
            amount=c.amount,
            tax_rate=c.tax_rate,
        )
        for i, c in enumerate(charges, start=1)
    )
    await session.flush()
    return invoice


async def issue_credit_note(
    session: AsyncSession, invoice_id: uuid.UUID, *, by: str, note: str, issuer: InvoiceSettings | None = None
) -> Invoice:
    """Reverse an issued invoice with a credit note (the invoice itself is never changed).

    The credit note (適格返還請求書) names the issuer and its registration number as the
    settings are now; it asks for no payment, so no bank account or due date.
    """
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None or invoice.kind is not InvoiceKind.INVOICE:
        raise AgreementError(_("Only an invoice can be credited."))
    checked = check_issuer(issuer or get_settings().invoice, bank=False)
    billing = await _billing_row(session, invoice.consortium_id)
    if invoice.id in await _credited_ids(session, invoice.consortium_id):
        raise AgreementError(_("This invoice has already been credited."))
    payer = await session.get(Member, invoice.payer_member_ref_id)
    assert payer is not None
    lines = await invoice_lines(session, invoice)
    members = {
        m.id: m
        for m in (await session.scalars(select(Member).where(Member.id.in_([x.member_ref_id for x in lines])))).all()
    }
    charges = [
        Charge(
            members[x.member_ref_id], x.description, -x.quantity, Decimal(x.unit_price), -Decimal(x.amount), x.tax_rate
        )
        for x in lines
    ]
    return await _issue(
        session,
        billing,
        payer,
        invoice.month,
        charges,
        kind=InvoiceKind.CREDIT_NOTE,
        by=by,
        issued_on=None,
        issuer=checked,
        reverses=invoice,
        note=note,
    )


# --------------------------------------------------------------------------- what the secretariat sees


@dataclass
class BillingOverview:
    """The billing screen of one consortium: agreements, the paying member and the latest invoices."""

    members: Sequence[Member]
    agreements: Sequence[ServiceAgreement]
    invoices: Sequence[Invoice]
    payer_id: uuid.UUID | None


async def overview(session: AsyncSession, consortium_id: uuid.UUID, *, invoices: int = 200) -> BillingOverview:
    """Members, agreement versions, the paying member and the latest ``invoices`` of the consortium."""
    agreements = await session.scalars(
        select(ServiceAgreement)
        .where(ServiceAgreement.consortium_id == consortium_id)
        .order_by(ServiceAgreement.member_ref_id, ServiceAgreement.version)
    )
    issued = await session.scalars(
        select(Invoice).where(Invoice.consortium_id == consortium_id).order_by(Invoice.number.desc()).limit(invoices)
    )
    setup = await session.scalar(select(ConsortiumBilling).where(ConsortiumBilling.consortium_id == consortium_id))
    return BillingOverview(
        members=await consortium_members(session, consortium_id),
        agreements=agreements.all(),
        invoices=issued.all(),
        payer_id=setup.payer_member_ref_id if setup else None,
    )


async def invoice_of(session: AsyncSession, consortium_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    """An invoice or credit note of the consortium; NotFound for any other."""
    invoice = await session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.consortium_id == consortium_id)
    )
    if invoice is None:
        raise NotFound(_("No such invoice."))
    return invoice


async def invoice_lines(session: AsyncSession, invoice: Invoice) -> list[InvoiceLine]:
    """The lines of ``invoice``, in their order."""
    lines = await session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
    )
    return list(lines.all())
