"""Demo data: the 盛岡広域連携 consortium with its eight members, staff of every role and contractors.

:func:`seed_demo` is idempotent: it adds what is missing and never changes what
exists, so ``kyodo demo`` runs it at every start. Every demo account uses
:data:`DEMO_PASSWORD` (documented in the README); never run this on a production
database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from consortium.repository import ConsortiumRepository
from core.scope import elevated
from core.settings import to_psycopg_url
from policy.models import PolicyRule
from tenants.models import (
    AddressBookEntry,
    Consortium,
    ContractorCompany,
    ContractorContact,
    ContractTitle,
    Department,
    Member,
    MemberKind,
    MemberStatus,
    OperatorAccount,
    SecretariatAccount,
    Staff,
    StaffStatus,
    TitleGrant,
    ViewScope,
)
from tenants.passwords import hash_password

__all__ = ["DEMO_OPERATOR", "DEMO_PASSWORD", "DEMO_SECRETARIAT", "MEMBERS", "SeedReport", "seed_database", "seed_demo"]

DEMO_PASSWORD = "kyodo-demo-2026"  # noqa: S105 - documented demo password
DEMO_SECRETARIAT = "morioka-jimukyoku"
DEMO_OPERATOR = "kyodo-operator"
CONSORTIUM = ("盛岡広域連携", "morioka-kouiki")


@dataclass(frozen=True)
class DemoMember:
    """One member of the demo consortium."""

    lg_code: str
    name: str
    slug: str
    status: MemberStatus
    head: str
    """市長 or 町長."""
    extra_titles: tuple[tuple[str, str, str], ...] = ()
    """(code, name, formal name) besides the head and the education superintendent."""


MEMBERS: tuple[DemoMember, ...] = (
    DemoMember(
        "032018",
        "盛岡市",
        "morioka",
        MemberStatus.LIVE,
        "市長",
        (
            ("suido", "上下水道事業管理者", "盛岡市上下水道事業管理者"),
            ("byoin", "病院事業管理者", "盛岡市病院事業管理者"),
        ),
    ),
    DemoMember(
        "032140",
        "八幡平市",
        "hachimantai",
        MemberStatus.TRIAL,
        "市長",
        (("suido", "上下水道事業管理者", "八幡平市上下水道事業管理者"),),
    ),
    DemoMember(
        "032166",
        "滝沢市",
        "takizawa",
        MemberStatus.TRIAL,
        "市長",
        (("suido", "上下水道事業管理者", "滝沢市上下水道事業管理者"),),
    ),
    DemoMember("033022", "岩手町", "iwate", MemberStatus.SANDBOX, "町長"),
    DemoMember("033031", "葛巻町", "kuzumaki", MemberStatus.SANDBOX, "町長"),
    DemoMember("033014", "雫石町", "shizukuishi", MemberStatus.SANDBOX, "町長"),
    DemoMember("033219", "紫波町", "shiwa", MemberStatus.TRIAL, "町長"),
    DemoMember("033227", "矢巾町", "yahaba", MemberStatus.SANDBOX, "町長"),
)

# (code, name, parent code)
DEPARTMENTS: tuple[tuple[str, str, str | None], ...] = (
    ("100", "総務部", None),
    ("110", "総務課", "100"),
    ("120", "契約課", "100"),
    ("130", "財政課", "100"),
    ("200", "建設部", None),
    ("210", "道路課", "200"),
    ("300", "教育委員会事務局", None),
)

# (login suffix, name, role, department code, view scope)
STAFF: tuple[tuple[str, str, str, str, ViewScope], ...] = (
    ("admin", "団体管理者", "admin", "110", ViewScope.MEMBER),
    ("keiyaku", "契約担当", "drafter", "120", ViewScope.MEMBER),
    ("doro", "道路担当", "drafter", "210", ViewScope.DEPARTMENT),
    ("shocho", "締結権限者", "signer", "110", ViewScope.MEMBER),
    ("etsuran", "閲覧担当", "viewer", "130", ViewScope.DEPARTMENT),
    ("kansa", "監査担当", "auditor", "110", ViewScope.MEMBER),
)

COMPANIES: tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("盛岡建設株式会社", "8400001000001", (("営業 一郎", "eigyo@morioka-kensetsu.example.co.jp"),)),
    ("岩手設備工業株式会社", None, (("工務 花子", "komu@iwate-setsubi.example.co.jp"),)),
    ("北上測量設計有限会社", None, (("設計 次郎", "sekkei@kitakami-sokuryo.example.co.jp"),)),
)


@dataclass
class SeedReport:
    """What one run added (all zero on a second run)."""

    added: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.added[kind] = self.added.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.added.values())


T = TypeVar("T")


class _LazyHash:
    """The demo password's hash, computed only when an account is actually created."""

    def __init__(self) -> None:
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = hash_password(DEMO_PASSWORD)
        return self._value


async def _ensure(session: AsyncSession, report: SeedReport, model: type[T], values: dict[str, Any], **key: Any) -> T:
    """The row of ``model`` matching ``key``, created with ``values`` if missing."""
    row = await ConsortiumRepository(session, None).find_by(model, **key)
    if row is None:
        values = {k: str(v) if isinstance(v, _LazyHash) else v for k, v in values.items()}
        row = model(**key, **values)
        session.add(row)
        await session.flush()
        report.count(model.__name__)
    return row


async def _ensure_rule(
    session: AsyncSession, report: SeedReport, member_id: uuid.UUID, subject: str, role: str
) -> None:
    await _ensure(
        session, report, PolicyRule, {}, member_id=member_id, ptype="g", v0=subject, v1=f"role:{role}", v2="", v3=""
    )


async def seed_demo(session: AsyncSession) -> SeedReport:
    """Add whatever of the demo data is missing (the caller commits).

    Demo rows belong to every member, so the seeding runs inside
    :func:`core.scope.elevated`; the session's scope is the same afterwards.
    """
    async with elevated(session):
        return await _seed(session)


async def _seed(session: AsyncSession) -> SeedReport:
    report = SeedReport()
    password_hash = _LazyHash()
    consortium = await _ensure(
        session, report, Consortium, {"slug": CONSORTIUM[1], "maintenance_notice_days": 15}, name=CONSORTIUM[0]
    )
    await _ensure(
        session,
        report,
        SecretariatAccount,
        {
            "consortium_id": consortium.id,
            "name": "盛岡広域連携 事務局",
            "email": "jimukyoku@example.lg.jp",
            "password_hash": password_hash,
            "failed_logins": 0,
            "active": True,
        },
        login_id=DEMO_SECRETARIAT,
    )
    await _ensure(
        session,
        report,
        OperatorAccount,
        {
            "name": "共同 運用担当",
            "email": "operator@kyodo.example.jp",
            "password_hash": password_hash,
            "failed_logins": 0,
            "active": True,
        },
        login_id=DEMO_OPERATOR,
    )
    companies: list[tuple[ContractorCompany, list[ContractorContact]]] = []
    for company_name, number, contacts in COMPANIES:
        company = await _ensure(
            session,
            report,
            ContractorCompany,
            {"corporate_number": number, "address": "岩手県"},
            consortium_id=consortium.id,
            name=company_name,
        )
        people = [
            await _ensure(session, report, ContractorContact, {"name": name}, company_id=company.id, email=email)
            for name, email in contacts
        ]
        companies.append((company, people))

    for spec in MEMBERS:
        member = await _ensure(
            session,
            report,
            Member,
            {
                "consortium_id": consortium.id,
                "name": spec.name,
                "kind": MemberKind.MUNICIPALITY,
                "status": spec.status,
                "joined_on": dt.date(2026, 4, 1),
            },
            lg_code=spec.lg_code,
        )
        departments: dict[str, Department] = {}
        for code, name, parent in DEPARTMENTS:
            departments[code] = await _ensure(
                session,
                report,
                Department,
                {"name": name, "parent_id": departments[parent].id if parent else None},
                member_id=member.id,
                code=code,
            )
        titles = [
            ("head", spec.head, f"{spec.name}長"),
            ("kyoikucho", "教育長", f"{spec.name}教育委員会教育長"),
            *spec.extra_titles,
        ]
        title_rows: dict[str, ContractTitle] = {}
        for order, (code, name, formal) in enumerate(titles, start=1):
            title_rows[code] = await _ensure(
                session,
                report,
                ContractTitle,
                {"name": name, "formal_name": formal, "sort_order": order, "active": True},
                member_id=member.id,
                code=code,
            )
        for suffix, role_name, role, department, scope in STAFF:
            login_id = f"{spec.slug}-{suffix}"
            staff = await _ensure(
                session,
                report,
                Staff,
                {
                    "member_id": member.id,
                    "name": f"{spec.name} {role_name}",
                    "email": f"{login_id}@example.lg.jp",
                    "department_id": departments[department].id,
                    "status": StaffStatus.ACTIVE,
                    "view_scope": scope,
                    "password_hash": password_hash,
                    "failed_logins": 0,
                },
                login_id=login_id,
            )
            await _ensure_rule(session, report, member.id, f"staff:{staff.id}", role)
            if role == "signer":
                for title in title_rows.values():
                    await _ensure(
                        session, report, TitleGrant, {}, member_id=member.id, staff_id=staff.id, title_id=title.id
                    )
        # Every member knows the first company; the larger cities know them all.
        known = companies if spec.status is not MemberStatus.SANDBOX else companies[:1]
        for company, people in known:
            for person in people:
                await _ensure(
                    session,
                    report,
                    AddressBookEntry,
                    {"company_id": company.id, "note": ""},
                    member_id=member.id,
                    contact_id=person.id,
                )
    return report


async def seed_database(database_url: str) -> SeedReport:
    """Seed the database at ``database_url`` in one transaction (for ``kyodo demo``)."""
    engine = create_async_engine(to_psycopg_url(database_url), pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            report = await seed_demo(session)
            await session.commit()
            return report
    finally:
        await engine.dispose()
