"""The secretariat's work (members, contractor companies) and the members' address books.

The secretariat sees figures about members (kind, status, dates, number of
staff), never their contracts. Counting the members' staff needs system
access, so it happens here, in one aggregate query inside
:func:`core.scope.elevated`, which gives the session its previous scope back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.identifiers import validate_corporate_number, validate_lg_code
from consortium.repository import ConsortiumRepository
from core.dates import JST
from core.errors import Conflict, Invalid, NotFound
from core.i18n import gettext as _
from core.scope import elevated
from core.text import normalized_email
from onboarding.stages import transition
from policy.models import PolicyRule
from policy.permissions import MEMBER_PERMISSIONS, BuiltinRole
from policy.services import RoleService
from tenants.models import (
    AddressBookEntry,
    ApiKey,
    ContractorCompany,
    ContractorContact,
    Member,
    MemberKind,
    MemberStatus,
    OperatorAccount,
    Staff,
    StaffStatus,
)
from tenants.passwords import hash_secret
from tenants.services import ApiKeyService, generate_password, login_id_taken

__all__ = [
    "AddressBookService",
    "AddressEntry",
    "CompanyService",
    "MemberFigures",
    "MembershipService",
    "create_operator",
    "issue_operator_api_key",
    "today",
]


def today() -> dt.date:
    """Today's date in Japan."""
    return dt.datetime.now(JST).date()


def _required(value: str | None, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise Invalid(_("Please enter {field}.").format(field=label))
    return text


def _email(value: str | None) -> str:
    email = _required(value, _("an e-mail address"))
    normalized = normalized_email(email)
    if normalized is None:
        raise Invalid(_("The e-mail address {email} is not valid.").format(email=email.strip()[:254]))
    return normalized.lower()


def _corporate_number(value: str | None) -> str | None:
    if not (value or "").strip():
        return None
    return validate_corporate_number(value or "")


# --------------------------------------------------------------------------- membership


@dataclass(frozen=True)
class MemberFigures:
    """What the secretariat sees of a member."""

    member: Member
    staff_count: int


class MembershipService:
    """Members of one consortium, as the secretariat manages them."""

    def __init__(self, session: AsyncSession, consortium_id: uuid.UUID) -> None:
        self.session = session
        self.consortium_id = consortium_id

    async def find(self, member_id: uuid.UUID) -> Member:
        """A member of this consortium, or NotFound."""
        member = await self.session.scalar(
            select(Member).where(Member.id == member_id, Member.consortium_id == self.consortium_id)
        )
        if member is None:
            raise NotFound(_("No such member."))
        return member

    async def figures(self) -> list[MemberFigures]:
        """Every member with its number of active staff."""
        members = (
            await self.session.scalars(
                select(Member).where(Member.consortium_id == self.consortium_id).order_by(Member.lg_code)
            )
        ).all()
        ids = [m.id for m in members]
        counts: dict[uuid.UUID, int] = {}
        if ids:
            async with elevated(self.session):
                counts = await ConsortiumRepository(self.session, None).active_staff_counts(ids)
        return [MemberFigures(m, counts.get(m.id, 0)) for m in members]

    async def add(
        self,
        *,
        lg_code: str,
        name: str,
        kind: MemberKind,
        joined_on: dt.date,
        admin_login_id: str,
        admin_name: str,
        admin_email: str,
        status: MemberStatus = MemberStatus.SANDBOX,
    ) -> tuple[Member, Staff, str]:
        """A new member and its first administrator; returns the initial password (show it once)."""
        code = validate_lg_code(lg_code)
        name = _required(name, _("a name"))
        login_id = _required(admin_login_id, _("a login ID"))
        email = _email(admin_email)
        if await self.session.scalar(select(Member.id).where(Member.lg_code == code)) is not None:
            raise Conflict(_("A member with the code {code} already exists.").format(code=code))
        if await login_id_taken(self.session, login_id):
            raise Conflict(_("The login ID {login_id} is already in use. Choose another.").format(login_id=login_id))
        member = Member(
            consortium_id=self.consortium_id, lg_code=code, name=name, kind=kind, status=status, joined_on=joined_on
        )
        self.session.add(member)
        await self.session.flush()
        password = generate_password()
        # The first administrator is a row of the new member, which the secretariat's
        # scope cannot write; the previous scope comes back after the block.
        async with elevated(self.session):
            admin = Staff(
                member_id=member.id,
                login_id=login_id,
                name=_required(admin_name, _("a name")),
                email=email,
                password_hash=await hash_secret(password),
                must_change_password=True,
                status=StaffStatus.ACTIVE,
                failed_logins=0,
            )
            self.session.add(admin)
            await self.session.flush()
            self.session.add(
                PolicyRule(member_id=member.id, ptype="g", v0=f"staff:{admin.id}", v1=f"role:{BuiltinRole.ADMIN}")
            )
            await self.session.flush()
        return member, admin, password

    async def set_status(
        self, member: Member, status: MemberStatus, *, on: dt.date | None = None, by: str = "secretariat"
    ) -> Member:
        """Move a member along its stages; leaving records the date.

        Every move but the last goes through the stage machine
        (:func:`onboarding.stages.transition`): its checks (no sandbox straight to
        live), its record, the clearing of test data and the go-live day at
        promotion. ``left`` closes a member that is leaving.

        Raises:
            Invalid: the move is not one the stages allow.
        """
        if status is MemberStatus.LEFT:
            if MemberStatus(member.status) is not MemberStatus.LEAVING:
                raise Invalid(_("Only a member that is leaving can be marked as left."))
            member.status = status
            member.left_on = on or today()
        else:
            await transition(self.session, member, status, by=by, effective_on=on)
            if status is MemberStatus.LEAVING:
                member.left_on = on
        await self.session.flush()
        return member


# --------------------------------------------------------------------------- companies


class CompanyService:
    """Contractor companies shared by every member of a consortium (CON-6)."""

    def __init__(self, session: AsyncSession, consortium_id: uuid.UUID) -> None:
        self.session = session
        self.consortium_id = consortium_id

    async def all(self) -> Sequence[ContractorCompany]:
        """Every company of the consortium, by name."""
        rows = await self.session.scalars(
            select(ContractorCompany)
            .where(ContractorCompany.consortium_id == self.consortium_id)
            .order_by(ContractorCompany.name)
        )
        return rows.all()

    async def find(self, company_id: uuid.UUID) -> ContractorCompany:
        """A company of this consortium, or NotFound."""
        row = await self.session.scalar(
            select(ContractorCompany).where(
                ContractorCompany.id == company_id, ContractorCompany.consortium_id == self.consortium_id
            )
        )
        if row is None:
            raise NotFound(_("No such company."))
        return row

    async def contacts(self, company_ids: Sequence[uuid.UUID] | None = None) -> Sequence[ContractorContact]:
        """Contacts of the consortium's companies (optionally only of some)."""
        query = (
            select(ContractorContact)
            .join(ContractorCompany, ContractorCompany.id == ContractorContact.company_id)
            .where(ContractorCompany.consortium_id == self.consortium_id)
            .order_by(ContractorContact.name)
        )
        if company_ids is not None:
            query = query.where(ContractorContact.company_id.in_(company_ids))
        return (await self.session.scalars(query)).all()

    async def add(self, *, name: str, corporate_number: str | None = None, address: str = "") -> ContractorCompany:
        """A new company; a 法人番号 already registered is refused."""
        number = _corporate_number(corporate_number)
        if number and await self.by_number(number) is not None:
            raise Conflict(
                _("A company with the corporate number {number} is already registered.").format(number=number)
            )
        row = ContractorCompany(
            consortium_id=self.consortium_id,
            corporate_number=number,
            name=_required(name, _("a company name")),
            address=(address or "").strip(),
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def by_number(self, number: str) -> ContractorCompany | None:
        """The company with this 法人番号, if registered."""
        row: ContractorCompany | None = await self.session.scalar(
            select(ContractorCompany).where(
                ContractorCompany.consortium_id == self.consortium_id, ContractorCompany.corporate_number == number
            )
        )
        return row

    async def contact_by_email(self, email: str) -> ContractorContact | None:
        """The contact with this e-mail address at any company of the consortium."""
        row: ContractorContact | None = await self.session.scalar(
            select(ContractorContact)
            .join(ContractorCompany, ContractorCompany.id == ContractorContact.company_id)
            .where(ContractorCompany.consortium_id == self.consortium_id, ContractorContact.email == email)
            .limit(1)
        )
        return row

    async def add_contact(self, company: ContractorCompany, *, name: str, email: str) -> ContractorContact:
        """A person at ``company``; the same e-mail twice at one company is refused."""
        email = _email(email)
        exists = await self.session.scalar(
            select(ContractorContact.id).where(
                ContractorContact.company_id == company.id, ContractorContact.email == email
            )
        )
        if exists is not None:
            raise Conflict(_("{email} is already a contact of this company.").format(email=email))
        row = ContractorContact(company_id=company.id, name=_required(name, _("a name")), email=email)
        self.session.add(row)
        await self.session.flush()
        return row


# --------------------------------------------------------------------------- address book


@dataclass(frozen=True)
class AddressEntry:
    """An address-book line: the entry with its company and contact."""

    entry: AddressBookEntry
    company: ContractorCompany
    contact: ContractorContact


class AddressBookService:
    """A member's own address book of contractor contacts (SAP-6(22))."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID, consortium_id: uuid.UUID) -> None:
        self.member_id = member_id
        self.book = ConsortiumRepository(session, member_id)
        self.companies = CompanyService(session, consortium_id)

    async def entries(self) -> list[AddressEntry]:
        """Every entry, by company name then contact name."""
        return [AddressEntry(e, c, p) for e, c, p in await self.book.address_book()]

    async def find(self, entry_id: uuid.UUID) -> AddressBookEntry:
        """One entry of the member, or NotFound."""
        row = await self.book.address_book_entry(entry_id)
        if row is None:
            raise NotFound(_("No such address book entry."))
        return row

    async def add(
        self,
        *,
        company_name: str,
        contact_name: str,
        email: str,
        corporate_number: str | None = None,
        note: str = "",
    ) -> AddressEntry:
        """Add a contact, reusing the shared company (same 法人番号) and contact (same e-mail) if known."""
        email = _email(email)
        number = _corporate_number(corporate_number)
        contact = await self.companies.contact_by_email(email)
        if contact is not None:
            company = await self.companies.find(contact.company_id)
            if number and company.corporate_number and company.corporate_number != number:
                raise Conflict(
                    _("{email} is registered as a contact of {company}, which has another corporate number.").format(
                        email=email, company=company.name
                    )
                )
        else:
            company_or_none = await self.companies.by_number(number) if number else None
            company = company_or_none or await self.companies.add(name=company_name, corporate_number=number)
            contact = await self.companies.add_contact(company, name=contact_name, email=email)
        if await self.book.address_book_entry_for(contact.id) is not None:
            raise Conflict(_("{email} is already in the address book.").format(email=email))
        entry = AddressBookEntry(
            member_id=self.member_id, company_id=company.id, contact_id=contact.id, note=(note or "").strip()
        )
        self.book.add(entry)
        await self.book.flush()
        return AddressEntry(entry, company, contact)

    async def remove(self, entry: AddressBookEntry) -> None:
        """Take an entry out of the address book (the shared company stays)."""
        await self.book.remove(entry)


# --------------------------------------------------------------------------- operator


async def issue_operator_api_key(
    session: AsyncSession, *, lg_code: str, label: str, role: str | None = None
) -> tuple[Member, ApiKey, str]:
    """An API key for the member with ``lg_code``, issued by the operator (system access).

    Returns the member, the key's row and the key itself (shown once, never stored).
    """
    code = validate_lg_code(lg_code)
    member = await session.scalar(select(Member).where(Member.lg_code == code))
    if member is None:
        raise Invalid(_("There is no member with the code {code}.").format(code=code))
    async with elevated(session):
        row, key = await ApiKeyService(session, member.id).issue(label=label, created_by_id=None)
        if role:
            # The operator stands above every member: it may give any member role.
            await RoleService(session, member.id).assign(
                editor=frozenset(MEMBER_PERMISSIONS), subject=f"apikey:{row.id}", role_name=role
            )
        await session.flush()
    return member, row, key


async def create_operator(
    session: AsyncSession, *, login_id: str, name: str, email: str
) -> tuple[OperatorAccount, str]:
    """A new operator account of the provider; returns it and its initial password (shown once)."""
    login_id = _required(login_id, _("a login ID"))
    if await login_id_taken(session, login_id):
        raise Conflict(_("The login ID {login_id} is already in use. Choose another.").format(login_id=login_id))
    password = generate_password()
    account = OperatorAccount(
        login_id=login_id,
        name=_required(name, _("a name")),
        email=_email(email),
        password_hash=await hash_secret(password),
        must_change_password=True,
        active=True,
        failed_logins=0,
    )
    session.add(account)
    await session.flush()
    return account, password
