"""Builders of consortium, members, staff and secretariat rows for tests.

They write through a session with system access (as an operator would) and
flush, so the rows are visible to the app under test in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from policy.models import PolicyRule
from tenants.models import (
    AddressBookEntry,
    ApiKey,
    Consortium,
    ContractorCompany,
    ContractorContact,
    ContractTitle,
    Department,
    IpRange,
    Member,
    MemberKind,
    MemberStatus,
    OperatorAccount,
    SecretariatAccount,
    Staff,
    TitleGrant,
    ViewScope,
)
from tenants.passwords import api_key_digest, hash_password, new_api_key
from tests.scope import system_access

PASSWORD = "kyodo-Test-2026"

# Password hashing dominates test set-up; hash once.
_HASH = hash_password(PASSWORD)


async def consortium(session: AsyncSession, name: str = "盛岡広域連携", slug: str | None = None) -> Consortium:
    await system_access(session)
    row = Consortium(name=name, slug=slug or f"c-{uuid.uuid4().hex[:8]}", maintenance_notice_days=15)
    session.add(row)
    await session.flush()
    return row


async def member(
    session: AsyncSession,
    of: Consortium,
    lg_code: str,
    name: str,
    *,
    kind: MemberKind = MemberKind.MUNICIPALITY,
    status: MemberStatus = MemberStatus.LIVE,
) -> Member:
    await system_access(session)
    row = Member(
        consortium_id=of.id, lg_code=lg_code, name=name, kind=kind, status=status, joined_on=dt.date(2026, 4, 1)
    )
    session.add(row)
    await session.flush()
    return row


async def department(
    session: AsyncSession, of: Member, code: str, name: str, parent: Department | None = None
) -> Department:
    await system_access(session)
    row = Department(member_id=of.id, code=code, name=name, parent_id=parent.id if parent else None)
    session.add(row)
    await session.flush()
    return row


async def staff(
    session: AsyncSession,
    of: Member,
    login_id: str,
    *,
    roles: Iterable[str] = ("admin",),
    name: str | None = None,
    department: Department | None = None,
    view_scope: ViewScope = ViewScope.MEMBER,
    password_hash: str | None = _HASH,
) -> Staff:
    await system_access(session)
    row = Staff(
        member_id=of.id,
        login_id=login_id,
        name=name or login_id,
        email=f"{login_id}@example.lg.jp",
        department_id=department.id if department else None,
        view_scope=view_scope,
        password_hash=password_hash,
    )
    session.add(row)
    await session.flush()
    for role in roles:
        session.add(PolicyRule(member_id=of.id, ptype="g", v0=f"staff:{row.id}", v1=f"role:{role}"))
    await session.flush()
    return row


async def title(session: AsyncSession, of: Member, code: str, name: str, formal_name: str) -> ContractTitle:
    await system_access(session)
    row = ContractTitle(member_id=of.id, code=code, name=name, formal_name=formal_name)
    session.add(row)
    await session.flush()
    return row


async def grant(session: AsyncSession, who: Staff, what: ContractTitle) -> TitleGrant:
    await system_access(session)
    row = TitleGrant(member_id=who.member_id, staff_id=who.id, title_id=what.id)
    session.add(row)
    await session.flush()
    return row


async def ip_range(session: AsyncSession, of: Member, cidr: str) -> IpRange:
    await system_access(session)
    row = IpRange(member_id=of.id, cidr=cidr, label="test")
    session.add(row)
    await session.flush()
    return row


async def secretariat(session: AsyncSession, of: Consortium, login_id: str) -> SecretariatAccount:
    await system_access(session)
    row = SecretariatAccount(
        consortium_id=of.id, login_id=login_id, name=login_id, email=f"{login_id}@example.lg.jp", password_hash=_HASH
    )
    session.add(row)
    await session.flush()
    return row


async def operator(session: AsyncSession, login_id: str = "kyodo-unyo", name: str = "運用 太郎") -> OperatorAccount:
    """An operator of the provider (not bound to any consortium)."""
    await system_access(session)
    row = OperatorAccount(login_id=login_id, name=name, email=f"{login_id}@kyodo.example.jp", password_hash=_HASH)
    session.add(row)
    await session.flush()
    return row


async def api_key(
    session: AsyncSession, of: Member, *, roles: Iterable[str] = ("drafter",), label: str = "基幹系"
) -> str:
    """A usable API key of ``of`` holding ``roles``; returns the key itself."""
    await system_access(session)
    key, prefix = new_api_key()
    row = ApiKey(member_id=of.id, prefix=prefix, key_hash=api_key_digest(key), label=label)
    session.add(row)
    await session.flush()
    for role in roles:
        session.add(PolicyRule(member_id=of.id, ptype="g", v0=f"apikey:{row.id}", v1=f"role:{role}"))
    await session.flush()
    return key


async def address_book_entry(
    session: AsyncSession, of: Member, company_name: str, person: str, email: str
) -> AddressBookEntry:
    """A contractor company and contact of the consortium, in ``of``'s address book."""
    await system_access(session)
    company = ContractorCompany(consortium_id=of.consortium_id, name=company_name)
    session.add(company)
    await session.flush()
    contact = ContractorContact(company_id=company.id, name=person, email=email)
    session.add(contact)
    await session.flush()
    row = AddressBookEntry(member_id=of.id, company_id=company.id, contact_id=contact.id)
    session.add(row)
    await session.flush()
    return row


def pdf(pages: int = 1, *, javascript: bool = False, password: str | None = None, attachment: bool = False) -> bytes:
    """A small A4 PDF made with pypdf."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595.28, height=841.89)
    if javascript:
        action = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Action"),
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('hello');"),
            }
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if attachment:
        writer.add_attachment("run.exe", b"MZ\x90\x00")
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
