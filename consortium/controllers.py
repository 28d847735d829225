"""Secretariat screens and API (members, contractor companies) and the members' address books."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.services import (
    AddressBookService,
    AddressEntry,
    CompanyService,
    MemberFigures,
    MembershipService,
    today,
)
from core.errors import Invalid
from core.forms import Form, field
from core.i18n import gettext as _
from core.web import Confirmation
from policy.guards import caller_member, current_principal, requires, requires_secretariat
from tenants.models import ContractorCompany, ContractorContact, MemberKind, MemberStatus

__all__ = [
    "AddressBookApiController",
    "AddressBookController",
    "SecretariatApiController",
    "SecretariatController",
]


def _date(text: str, default: dt.date | None = None) -> dt.date:
    if not text and default is not None:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(_("{text} is not a date. Write it like 2026-04-01.").format(text=text)) from None


def _choice(enum: type[MemberKind] | type[MemberStatus], text: str) -> Any:
    try:
        return enum(text)
    except ValueError:
        raise Invalid(_("{text} is not one of the choices.").format(text=text)) from None


def _consortium(request: Request[Any, Any, Any]) -> uuid.UUID:
    return current_principal(request).consortium_id


def kind_labels() -> dict[MemberKind, str]:
    """Kinds of member in the current language."""
    return {
        MemberKind.MUNICIPALITY: _("Municipality"),
        MemberKind.PREFECTURE: _("Prefecture"),
        MemberKind.ASSOCIATION: _("Partial-affairs association"),
    }


def status_labels() -> dict[MemberStatus, str]:
    """Member statuses in the current language."""
    return {
        MemberStatus.INVITED: _("Invited"),
        MemberStatus.SANDBOX: _("Sandbox"),
        MemberStatus.TRIAL: _("Trial"),
        MemberStatus.LIVE: _("Live"),
        MemberStatus.LEAVING: _("Leaving"),
        MemberStatus.LEFT: _("Left"),
    }


# --------------------------------------------------------------------------- secretariat screens


class SecretariatController(Controller):
    """The secretariat's screens: members and shared contractor companies."""

    path = "/secretariat"
    include_in_schema = False
    guards = [requires_secretariat]  # noqa: RUF012

    @get("/members", guards=[requires("consortium", "view")])
    async def members(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Members with kind, status, dates and number of staff."""
        figures = await MembershipService(db_session, _consortium(request)).figures()
        return Template(
            "secretariat/members.html",
            context={
                "figures": figures,
                "kinds": kind_labels(),
                "statuses": status_labels(),
                "today": today(),
                "can_manage": current_principal(request).can("consortium", "manage"),
            },
        )

    @post("/members", guards=[requires("consortium", "manage")], status_code=200)
    async def add_member(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Template:
        """Add a member and its first administrator; show the initial password once."""
        member, admin, password = await MembershipService(db_session, _consortium(request)).add(
            lg_code=field(data, "lg_code"),
            name=field(data, "name"),
            kind=_choice(MemberKind, field(data, "kind") or MemberKind.MUNICIPALITY),
            joined_on=_date(field(data, "joined_on"), today()),
            admin_login_id=field(data, "admin_login_id"),
            admin_name=field(data, "admin_name"),
            admin_email=field(data, "admin_email"),
        )
        return Template(
            "admin/secret.html",
            context={
                "title": _("Member added"),
                "lines": [
                    (_("Member"), f"{member.name}（{member.lg_code}）"),
                    (_("Login ID"), admin.login_id),
                    (_("Initial password"), password),
                ],
                "back": "/secretariat/members",
            },
        )

    @post("/members/{member_id:uuid}/status", guards=[requires("consortium", "manage")], status_code=303)
    async def member_status(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Change a member's status (e.g. leaving, left) with its date."""
        service = MembershipService(db_session, _consortium(request))
        member = await service.find(member_id)
        on = field(data, "on")
        await service.set_status(member, _choice(MemberStatus, field(data, "status")), on=_date(on) if on else None)
        return Redirect("/secretariat/members", status_code=303)

    @get("/companies", guards=[requires("company", "manage")])
    async def companies(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Contractor companies shared by every member, with their contacts."""
        service = CompanyService(db_session, _consortium(request))
        companies = await service.all()
        contacts: dict[uuid.UUID, list[ContractorContact]] = {}
        for c in await service.contacts():
            contacts.setdefault(c.company_id, []).append(c)
        return Template("secretariat/companies.html", context={"companies": companies, "contacts": contacts})

    @post("/companies", guards=[requires("company", "manage")], status_code=303)
    async def add_company(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Register a company (法人番号 optional, checked)."""
        await CompanyService(db_session, _consortium(request)).add(
            name=field(data, "name"), corporate_number=field(data, "corporate_number"), address=field(data, "address")
        )
        return Redirect("/secretariat/companies", status_code=303)

    @post("/companies/{company_id:uuid}/contacts", guards=[requires("company", "manage")], status_code=303)
    async def add_contact(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect:
        """Add a person at a company."""
        service = CompanyService(db_session, _consortium(request))
        await service.add_contact(await service.find(company_id), name=field(data, "name"), email=field(data, "email"))
        return Redirect("/secretariat/companies", status_code=303)


# --------------------------------------------------------------------------- secretariat API


class MemberOut(msgspec.Struct):
    id: uuid.UUID
    lg_code: str
    name: str
    kind: MemberKind
    status: MemberStatus
    joined_on: dt.date
    left_on: dt.date | None
    staff_count: int

    @classmethod
    def of(cls, f: MemberFigures) -> MemberOut:
        m = f.member
        return cls(
            id=m.id,
            lg_code=m.lg_code,
            name=m.name,
            kind=m.kind,
            status=m.status,
            joined_on=m.joined_on,
            left_on=m.left_on,
            staff_count=f.staff_count,
        )


class MemberIn(msgspec.Struct):
    lg_code: str
    name: str
    kind: MemberKind
    joined_on: dt.date
    admin_login_id: str
    admin_name: str
    admin_email: str


class MemberCreated(msgspec.Struct):
    member: MemberOut
    admin_login_id: str
    admin_initial_password: str
    """Shown once."""


class MemberStatusIn(msgspec.Struct):
    status: MemberStatus
    on: dt.date | None = None


class ContactOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    email: str

    @classmethod
    def of(cls, c: ContractorContact) -> ContactOut:
        return cls(id=c.id, name=c.name, email=c.email)


class CompanyOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    corporate_number: str | None
    address: str
    contacts: list[ContactOut]

    @classmethod
    def of(cls, c: ContractorCompany, contacts: list[ContractorContact]) -> CompanyOut:
        return cls(
            id=c.id,
            name=c.name,
            corporate_number=c.corporate_number,
            address=c.address,
            contacts=[ContactOut.of(p) for p in contacts],
        )


class CompanyIn(msgspec.Struct):
    name: str
    corporate_number: str | None = None
    address: str = ""


class ContactIn(msgspec.Struct):
    name: str
    email: str


class SecretariatApiController(Controller):
    """Members and contractor companies of the caller's consortium."""

    path = "/api/v1/secretariat"
    tags = ["secretariat"]  # noqa: RUF012
    guards = [requires_secretariat]  # noqa: RUF012

    @get("/members", guards=[requires("consortium", "view")])
    async def list_members(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[MemberOut]:
        """Members with figures (never contract contents)."""
        return [MemberOut.of(f) for f in await MembershipService(db_session, _consortium(request)).figures()]

    @post("/members", guards=[requires("consortium", "manage")], status_code=201)
    async def create_member(
        self, request: Request[Any, Any, Any], data: JSONBody[MemberIn], db_session: NamedDependency[AsyncSession]
    ) -> MemberCreated:
        """Add a member and its first administrator (initial password returned once)."""
        member, admin, password = await MembershipService(db_session, _consortium(request)).add(
            lg_code=data.lg_code,
            name=data.name,
            kind=data.kind,
            joined_on=data.joined_on,
            admin_login_id=data.admin_login_id,
            admin_name=data.admin_name,
            admin_email=data.admin_email,
        )
        return MemberCreated(MemberOut.of(MemberFigures(member, 1)), admin.login_id, password)

    @patch("/members/{member_id:uuid}", guards=[requires("consortium", "manage")])
    async def change_member_status(
        self,
        request: Request[Any, Any, Any],
        member_id: FromPath[uuid.UUID],
        data: JSONBody[MemberStatusIn],
        db_session: NamedDependency[AsyncSession],
    ) -> MemberOut:
        """Change a member's status (leaving, left …)."""
        service = MembershipService(db_session, _consortium(request))
        member = await service.set_status(await service.find(member_id), data.status, on=data.on)
        figures = {f.member.id: f for f in await service.figures()}
        return MemberOut.of(figures[member.id])

    @get("/companies", guards=[requires("company", "manage")])
    async def list_companies(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[CompanyOut]:
        """Companies and their contacts."""
        service = CompanyService(db_session, _consortium(request))
        contacts: dict[uuid.UUID, list[ContractorContact]] = {}
        for c in await service.contacts():
            contacts.setdefault(c.company_id, []).append(c)
        return [CompanyOut.of(c, contacts.get(c.id, [])) for c in await service.all()]

    @post("/companies", guards=[requires("company", "manage")], status_code=201)
    async def create_company(
        self, request: Request[Any, Any, Any], data: JSONBody[CompanyIn], db_session: NamedDependency[AsyncSession]
    ) -> CompanyOut:
        """Register a company."""
        row = await CompanyService(db_session, _consortium(request)).add(
            name=data.name, corporate_number=data.corporate_number, address=data.address
        )
        return CompanyOut.of(row, [])

    @post("/companies/{company_id:uuid}/contacts", guards=[requires("company", "manage")], status_code=201)
    async def create_contact(
        self,
        request: Request[Any, Any, Any],
        company_id: FromPath[uuid.UUID],
        data: JSONBody[ContactIn],
        db_session: NamedDependency[AsyncSession],
    ) -> ContactOut:
        """Add a person at a company."""
        service = CompanyService(db_session, _consortium(request))
        return ContactOut.of(
            await service.add_contact(await service.find(company_id), name=data.name, email=data.email)
        )


# --------------------------------------------------------------------------- address book


def _address_book(request: Request[Any, Any, Any], db_session: AsyncSession) -> AddressBookService:
    principal, member_id = caller_member(request)
    return AddressBookService(db_session, member_id, principal.consortium_id)


class AddressBookController(Controller):
    """The member's address book of contractor contacts (SAP-6(22))."""

    path = "/address-book"
    include_in_schema = False

    @get("/", guards=[requires("addressbook", "view")])
    async def entries(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """Entries, and a form to add one for those who may."""
        return Template(
            "address_book.html",
            context={
                "entries": await _address_book(request, db_session).entries(),
                "can_manage": current_principal(request).can("addressbook", "manage"),
            },
        )

    @post("/", guards=[requires("addressbook", "manage")], status_code=303)
    async def add(
        self, request: Request[Any, Any, Any], data: Form, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Add a contact (the shared company and contact are reused when already known)."""
        await _address_book(request, db_session).add(
            company_name=field(data, "company_name"),
            corporate_number=field(data, "corporate_number"),
            contact_name=field(data, "contact_name"),
            email=field(data, "email"),
            note=field(data, "note"),
        )
        return Redirect("/address-book", status_code=303)

    @post("/{entry_id:uuid}/delete", guards=[requires("addressbook", "manage")], status_code=303)
    async def remove(
        self,
        request: Request[Any, Any, Any],
        entry_id: FromPath[uuid.UUID],
        data: Form,
        db_session: NamedDependency[AsyncSession],
    ) -> Redirect | Template:
        """Take an entry out of the address book, once the person has confirmed whom."""
        service = _address_book(request, db_session)
        entry = await service.find(entry_id)
        if field(data, "confirmed") != "yes":
            line = next(e for e in await service.entries() if e.entry.id == entry.id)
            who = f"{line.company.name} {line.contact.name} <{line.contact.email}>"
            question = Confirmation(
                heading=_("Delete {name} from the address book?").format(name=line.contact.name),
                what=[
                    _("The entry is removed from your organisation's address book only."),
                    _("Contracts already sent to this person are not changed."),
                ],
                who=[who],
                who_heading=_("Entry"),
                button=_("Delete from the address book"),
                destructive=True,
            )
            return Template(
                "confirm.html",
                context={
                    "c": question,
                    "action": f"/address-book/{entry.id}/delete",
                    "fields": {},
                    "back": "/address-book",
                },
                status_code=200,
            )
        await service.remove(entry)
        return Redirect("/address-book?done=deleted", status_code=303)


class AddressEntryOut(msgspec.Struct):
    id: uuid.UUID
    company_id: uuid.UUID
    company_name: str
    corporate_number: str | None
    contact_id: uuid.UUID
    contact_name: str
    email: str
    note: str

    @classmethod
    def of(cls, e: AddressEntry) -> AddressEntryOut:
        return cls(
            id=e.entry.id,
            company_id=e.company.id,
            company_name=e.company.name,
            corporate_number=e.company.corporate_number,
            contact_id=e.contact.id,
            contact_name=e.contact.name,
            email=e.contact.email,
            note=e.entry.note,
        )


class AddressEntryIn(msgspec.Struct):
    company_name: str
    contact_name: str
    email: str
    corporate_number: str | None = None
    note: str = ""


class AddressBookApiController(Controller):
    """The caller's member's address book."""

    path = "/api/v1/address-book"
    tags = ["address book"]  # noqa: RUF012

    @get("/", guards=[requires("addressbook", "view")])
    async def list_entries(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> list[AddressEntryOut]:
        """Every entry."""
        return [AddressEntryOut.of(e) for e in await _address_book(request, db_session).entries()]

    @post("/", guards=[requires("addressbook", "manage")], status_code=201)
    async def create_entry(
        self, request: Request[Any, Any, Any], data: JSONBody[AddressEntryIn], db_session: NamedDependency[AsyncSession]
    ) -> AddressEntryOut:
        """Add a contact (shared company/contact reused by 法人番号 or e-mail)."""
        entry = await _address_book(request, db_session).add(
            company_name=data.company_name,
            contact_name=data.contact_name,
            email=data.email,
            corporate_number=data.corporate_number,
            note=data.note,
        )
        return AddressEntryOut.of(entry)

    @delete("/{entry_id:uuid}", guards=[requires("addressbook", "manage")], status_code=204)
    async def delete_entry(
        self, request: Request[Any, Any, Any], entry_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> None:
        """Take an entry out."""
        service = _address_book(request, db_session)
        await service.remove(await service.find(entry_id))
