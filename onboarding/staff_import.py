"""Bulk staff registration from a CSV file (ACC-1, SAP-6(7)).

The file has a header row and one row per person::

    氏名,所属,メールアドレス,ロール,契約名義
    盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,drafter・signer,MAYOR

(English headers ``name, department, email, roles, titles`` work too.) The
department is a code or a name; roles are role names (``admin``, ``drafter`` …),
their Japanese labels or the member's own roles; titles are contract-title codes.
Several roles or titles are separated by ``;`` or ``・``.

Encoding: UTF-8 with or without BOM, or Shift_JIS/CP932 as Excel saves it.

Two steps. :func:`preview` reads and checks the whole file, writes nothing but
the :class:`~onboarding.models.StaffImport` record, and reports every problem
with its line number. :func:`apply_import` writes everything in one transaction,
or nothing. The account is found by e-mail: a row for an existing address
updates that account (name, department, roles and titles become exactly those of
the row), so importing the same file twice changes nothing the second time.

New accounts get a login ID ``<lgcode>-<local part of the e-mail>`` (``-2``, ``-3``
… when taken) and **no password**: they cannot sign in until an administrator
sets a password or an invitation mail lets the person choose one.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from core.i18n import gettext as _
from onboarding.models import ImportStatus, StaffImport
from policy.models import MemberRole, PolicyRule
from policy.permissions import BUILTIN_ROLES, ROLE_LABELS, BuiltinRole, Permission
from tenants.models import ContractTitle, Department, Member, Staff, TitleGrant

__all__ = [
    "BACKGROUND_ROWS",
    "ImportPlan",
    "ImportRejected",
    "apply_import",
    "decode",
    "login_id_conflict",
    "parse_rows",
    "preview",
    "status_label",
]

BACKGROUND_ROWS = 500
"""Files with more rows than this are applied by a Celery task, with progress shown."""

_SEPARATORS = re.compile(r"[;；・]")
_HEADERS: dict[str, str] = {
    "name": "name",
    "氏名": "name",
    "名前": "name",
    "department": "department",
    "所属": "department",
    "部署": "department",
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "メールアドレス": "email",
    "メール": "email",
    "roles": "roles",
    "ロール": "roles",
    "役割": "roles",
    "titles": "titles",
    "契約名義": "titles",
    "名義": "titles",
}
_REQUIRED = ("name", "email")


class ImportRejected(ValueError):
    """The import cannot be applied (it has problems, or the data changed since the preview)."""


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with (``utf-8-sig``, ``utf-8`` or ``cp932``).

    Raises:
        ImportRejected: neither UTF-8 nor CP932.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            _("The file could not be read. Save it as CSV in UTF-8 or Shift_JIS (Excel: “CSV (comma delimited)”).")
        ) from exc


def _split(value: str) -> list[str]:
    return [p.strip() for p in _SEPARATORS.split(value) if p.strip()]


def parse_rows(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Raw rows (with their line numbers) and header problems of a CSV text."""
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[dict[str, Any]] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], [{"line": 1, "column": "", "message": _("The file is empty.")}]
    columns: dict[int, str] = {}
    for index, title in enumerate(header):
        key = _HEADERS.get(title.strip().lower()) or _HEADERS.get(title.strip())
        if key:
            columns[index] = key
    for required in _REQUIRED:
        if required not in columns.values():
            problems.append(
                {
                    "line": 1,
                    "column": required,
                    "message": _("The header row has no “{column}” column.").format(column=column_label(required)),
                }
            )
    rows: list[dict[str, Any]] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                {"line": reader.line_num, "column": "", "message": _("Broken CSV: {error}").format(error=exc)}
            )
            break
        if not any(v.strip() for v in values):
            continue
        row: dict[str, Any] = {"line": reader.line_num}
        for index, key in columns.items():
            row[key] = values[index].strip() if index < len(values) else ""
        rows.append(row)
    return rows, problems


def status_label(status: ImportStatus) -> str:
    """An import's state in the user's language."""
    return {
        ImportStatus.PREVIEWED: _("Checked, not registered yet"),
        ImportStatus.REJECTED: _("Has problems"),
        ImportStatus.QUEUED: _("Waiting to be registered"),
        ImportStatus.RUNNING: _("Registering"),
        ImportStatus.DONE: _("Registered"),
        ImportStatus.FAILED: _("Failed, nothing registered"),
    }[status]


def login_id_conflict() -> str:
    """Why an import failed when a generated login ID was taken by another organisation."""
    return _(
        "A login ID made for a new account is already used by another organisation. "
        "Nothing was registered; ask the operator, or register that person by hand."
    )


def column_label(column: str) -> str:
    """A column's name in the user's language."""
    return {
        "name": _("Name"),
        "department": _("Department"),
        "email": _("E-mail"),
        "roles": _("Roles"),
        "titles": _("Contract titles"),
    }.get(column, column)


@dataclass
class _Reference:
    """The member's departments, titles, roles and staff, to check rows against."""

    departments_by_code: dict[str, Department]
    departments_by_name: dict[str, list[Department]]
    titles: dict[str, ContractTitle]
    roles: dict[str, str]
    """Anything a user may write → the Casbin role (``role:<name>``)."""
    role_permissions: dict[str, frozenset[Permission]]
    """Casbin role → the permissions it carries."""
    staff_by_email: dict[str, Staff]
    login_ids: set[str]


async def _reference(session: AsyncSession, member_id: uuid.UUID) -> _Reference:
    departments = (await session.scalars(select(Department).where(Department.member_id == member_id))).all()
    by_name: dict[str, list[Department]] = {}
    for d in departments:
        by_name.setdefault(d.name, []).append(d)
    titles = (
        await session.scalars(
            select(ContractTitle).where(ContractTitle.member_id == member_id, ContractTitle.active.is_(True))
        )
    ).all()
    roles: dict[str, str] = {}
    for role in BuiltinRole:
        roles[role.value] = f"role:{role.value}"
        roles[ROLE_LABELS[role]] = f"role:{role.value}"
    for custom in (await session.scalars(select(MemberRole).where(MemberRole.member_id == member_id))).all():
        roles[custom.name] = f"role:{custom.name}"
        roles[custom.name.removeprefix("custom:")] = f"role:{custom.name}"
        roles[custom.label] = f"role:{custom.name}"
    role_permissions: dict[str, frozenset[Permission]] = {
        f"role:{name}": perms for name, perms in BUILTIN_ROLES.items()
    }
    custom_rules = (
        await session.execute(
            select(PolicyRule.v0, PolicyRule.v2, PolicyRule.v3).where(
                PolicyRule.member_id == member_id, PolicyRule.ptype == "p"
            )
        )
    ).tuples()
    for custom_role, obj, act in custom_rules:
        role_permissions[custom_role] = role_permissions.get(custom_role, frozenset()) | {Permission(obj, act)}
    staff = (await session.scalars(select(Staff).where(Staff.member_id == member_id))).all()
    return _Reference(
        role_permissions=role_permissions,
        departments_by_code={d.code: d for d in departments},
        departments_by_name=by_name,
        titles={t.code: t for t in titles},
        roles=roles,
        staff_by_email={s.email.lower(): s for s in staff},
        login_ids={s.login_id for s in staff},
    )


Problems = list[dict[str, Any]]


def _problem(problems: Problems, line: int, column: str, message: str) -> None:
    problems.append({"line": line, "column": column, "message": message})


def _check_name(name: str, line: int, problems: Problems) -> bool:
    if not name:
        _problem(problems, line, "name", _("The name is missing."))
        return False
    if len(name) > 200:
        _problem(problems, line, "name", _("The name is longer than 200 characters."))
        return False
    return True


def _check_email(email: str, line: int, seen: dict[str, int], problems: Problems) -> str | None:
    if not email:
        _problem(problems, line, "email", _("The e-mail address is missing."))
        return None
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        _problem(problems, line, "email", _("“{email}” is not a valid e-mail address.").format(email=email))
        return None
    first = seen.get(email.lower())
    if first is not None:
        message = _("The e-mail address {email} already appears on line {first}.")
        _problem(problems, line, "email", message.format(email=email, first=first))
        return None
    seen[email.lower()] = line
    return email


def _check_department(text: str, line: int, ref: _Reference, problems: Problems) -> str | None:
    """The department's code ("" for none), or None when it cannot be told."""
    if not text:
        return ""
    dept = ref.departments_by_code.get(text)
    if dept is not None:
        return dept.code
    named = ref.departments_by_name.get(text, [])
    if len(named) == 1:
        return named[0].code
    if named:
        message = _("Several departments are called “{department}”; use the department code.")
    else:
        message = _("Unknown department “{department}” (give a department code or name).")
    _problem(problems, line, "department", message.format(department=text))
    return None


def _check_roles(text: str, line: int, ref: _Reference, problems: Problems) -> list[str] | None:
    roles: set[str] = set()
    ok = True
    for role in _split(text):
        mapped = ref.roles.get(role) or ref.roles.get(role.lower())
        if mapped is None:
            _problem(problems, line, "roles", _("Unknown role “{role}”.").format(role=role))
            ok = False
        else:
            roles.add(mapped)
    return sorted(roles) if ok else None


def _check_titles(text: str, line: int, ref: _Reference, problems: Problems) -> list[str] | None:
    titles: set[str] = set()
    ok = True
    for code in _split(text):
        if code not in ref.titles:
            _problem(problems, line, "titles", _("Unknown contract title code “{code}”.").format(code=code))
            ok = False
        else:
            titles.add(code)
    return sorted(titles) if ok else None


def _check(rows: list[dict[str, Any]], ref: _Reference) -> tuple[list[dict[str, Any]], Problems]:
    """Checked rows (normalised) and every problem, each with its line number."""
    problems: Problems = []
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in rows:
        line = int(row["line"])
        name = str(row.get("name", ""))
        name_ok = _check_name(name, line, problems)
        email = _check_email(str(row.get("email", "")), line, seen, problems)
        department = _check_department(str(row.get("department", "")), line, ref, problems)
        roles = _check_roles(str(row.get("roles", "")), line, ref, problems)
        titles = _check_titles(str(row.get("titles", "")), line, ref, problems)
        if name_ok and email is not None and department is not None and roles is not None and titles is not None:
            checked.append(
                {"line": line, "name": name, "email": email, "department": department, "roles": roles, "titles": titles}
            )
    return checked, problems


@dataclass
class ImportPlan:
    """What applying the rows does (or did)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    login_ids: dict[str, str] = field(default_factory=dict)
    """E-mail → login ID of each new account."""

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


async def _current_roles(session: AsyncSession, member_id: uuid.UUID) -> dict[str, set[str]]:
    rules = (
        await session.execute(
            select(PolicyRule.v0, PolicyRule.v1).where(
                PolicyRule.member_id == member_id, PolicyRule.ptype == "g", PolicyRule.v0.like("staff:%")
            )
        )
    ).tuples()
    result: dict[str, set[str]] = {}
    for subject, role in rules:
        result.setdefault(subject, set()).add(role)
    return result


async def _current_titles(session: AsyncSession, member_id: uuid.UUID, ref: _Reference) -> dict[uuid.UUID, set[str]]:
    code_of = {t.id: t.code for t in ref.titles.values()}
    grants = (
        await session.execute(select(TitleGrant.staff_id, TitleGrant.title_id).where(TitleGrant.member_id == member_id))
    ).tuples()
    result: dict[uuid.UUID, set[str]] = {}
    for staff_id, title_id in grants:
        if title_id in code_of:
            result.setdefault(staff_id, set()).add(code_of[title_id])
    return result


def _login_id(lg_code: str, email: str, taken: set[str]) -> str:
    local = re.sub(r"[^a-z0-9._-]", "", email.split("@", 1)[0].lower())[:60] or "staff"
    base = f"{lg_code}-{local}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def _still_valid(row: dict[str, Any], ref: _Reference) -> Department | None:
    """The row's department; raises when the preview's references vanished since."""
    department = ref.departments_by_code.get(row["department"]) if row["department"] else None
    if row["department"] and department is None:
        message = _("Line {line}: the department “{department}” no longer exists. Check the file again.")
        raise ImportRejected(message.format(line=row["line"], department=row["department"]))
    missing = [c for c in row["titles"] if c not in ref.titles]
    if missing:
        message = _("Line {line}: the contract title “{code}” no longer exists. Check the file again.")
        raise ImportRejected(message.format(line=row["line"], code=missing[0]))
    return department


async def _replace_grants(
    session: AsyncSession,
    member_id: uuid.UUID,
    *,
    staff_id: uuid.UUID,
    ref: _Reference,
    roles: tuple[set[str], set[str]],
    titles: tuple[set[str], set[str]],
) -> None:
    """Make the account's roles and titles exactly the wanted ones (have, wanted)."""
    subject = f"staff:{staff_id}"
    have_roles, wanted_roles = roles
    have_titles, wanted_titles = titles
    if have_roles - wanted_roles:
        await session.execute(
            delete(PolicyRule).where(
                PolicyRule.member_id == member_id,
                PolicyRule.ptype == "g",
                PolicyRule.v0 == subject,
                PolicyRule.v1.in_(sorted(have_roles - wanted_roles)),
            )
        )
    session.add_all(
        PolicyRule(member_id=member_id, ptype="g", v0=subject, v1=role) for role in sorted(wanted_roles - have_roles)
    )
    if have_titles - wanted_titles:
        gone = [ref.titles[code].id for code in sorted(have_titles - wanted_titles)]
        await session.execute(delete(TitleGrant).where(TitleGrant.staff_id == staff_id, TitleGrant.title_id.in_(gone)))
    session.add_all(
        TitleGrant(member_id=member_id, staff_id=staff_id, title_id=ref.titles[code].id)
        for code in sorted(wanted_titles - have_titles)
    )


async def _plan_or_apply(
    session: AsyncSession,
    member: Member,
    rows: list[dict[str, Any]],
    *,
    write: bool,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
) -> ImportPlan:
    ref = await _reference(session, member.id)
    roles_of = await _current_roles(session, member.id)
    titles_of = await _current_titles(session, member.id, ref)
    plan = ImportPlan()
    for index, row in enumerate(rows, start=1):
        department = _still_valid(row, ref)
        wanted_roles = set(row["roles"])
        wanted_titles = set(row["titles"])
        staff = ref.staff_by_email.get(row["email"].lower())
        if staff is None:
            plan.created += 1
            login_id = _login_id(member.lg_code, row["email"], ref.login_ids)
            plan.login_ids[row["email"]] = login_id
            if write:
                staff = Staff(
                    id=uuid7(),
                    member_id=member.id,
                    login_id=login_id,
                    name=row["name"],
                    email=row["email"],
                    department_id=department.id if department else None,
                    password_hash=None,
                )
                session.add(staff)
                ref.staff_by_email[row["email"].lower()] = staff
                session.add_all(
                    PolicyRule(member_id=member.id, ptype="g", v0=f"staff:{staff.id}", v1=role)
                    for role in sorted(wanted_roles)
                )
                session.add_all(
                    TitleGrant(member_id=member.id, staff_id=staff.id, title_id=ref.titles[code].id)
                    for code in sorted(wanted_titles)
                )
        else:
            subject = f"staff:{staff.id}"
            have_roles = roles_of.get(subject, set())
            have_titles = titles_of.get(staff.id, set())
            department_id = department.id if department else None
            if (
                staff.name == row["name"]
                and staff.department_id == department_id
                and have_roles == wanted_roles
                and have_titles == wanted_titles
            ):
                plan.unchanged += 1
            else:
                plan.updated += 1
                if write:
                    staff.name = row["name"]
                    staff.department_id = department_id
                    await _replace_grants(
                        session,
                        member.id,
                        staff_id=staff.id,
                        ref=ref,
                        roles=(have_roles, wanted_roles),
                        titles=(have_titles, wanted_titles),
                    )
        if write and index % batch == 0:
            await session.flush()
            if progress is not None:
                progress(index)
    if write:
        await session.flush()
        if progress is not None:
            progress(len(rows))
    return plan


async def _check_grants(
    session: AsyncSession,
    member: Member,
    rows: list[dict[str, Any]],
    ref: _Reference,
    grantor: frozenset[Permission],
) -> Problems:
    """Roles the uploader may not grant, and accounts whose roles the uploader may not change.

    Nobody can give, through a file, more than they hold themselves: a role is
    grantable when all its permissions are among the uploader's.
    """
    problems: Problems = []

    def grantable(role: str) -> bool:
        return ref.role_permissions.get(role, frozenset()) <= grantor

    current = await _current_roles(session, member.id)
    for row in rows:
        for role in row["roles"]:
            if not grantable(role):
                message = _("You cannot grant the role “{role}”: it has permissions you do not hold.")
                _problem(problems, row["line"], "roles", message.format(role=role.removeprefix("role:")))
        staff = ref.staff_by_email.get(row["email"].lower())
        if staff is not None:
            have = current.get(f"staff:{staff.id}", set())
            if have != set(row["roles"]) and not all(grantable(r) for r in have):
                message = _("The account {email} has roles you cannot change.")
                _problem(problems, row["line"], "roles", message.format(email=row["email"]))
    return problems


async def preview(
    session: AsyncSession,
    member: Member,
    *,
    filename: str,
    data: bytes,
    uploaded_by_id: uuid.UUID | None,
    grantor: frozenset[Permission] | None = None,
) -> StaffImport:
    """Read and check a file; record the result; write no staff.

    The returned record's ``problems`` lists every problem with its line; when
    there is none, ``result`` holds what applying it would do. ``grantor`` is the
    uploader's permissions: roles carrying more are refused.
    """
    job = StaffImport(
        member_id=member.id,
        filename=filename[:255] or "staff.csv",
        encoding="",
        uploaded_by_id=uploaded_by_id,
        status=ImportStatus.REJECTED,
    )
    try:
        text, job.encoding = decode(data)
    except ImportRejected as exc:
        job.problems = [{"line": 0, "column": "", "message": str(exc)}]
        session.add(job)
        await session.flush()
        return job
    raw, problems = parse_rows(text)
    ref = await _reference(session, member.id)
    checked, row_problems = _check(raw, ref)
    problems.extend(row_problems)
    if grantor is not None:
        problems.extend(await _check_grants(session, member, checked, ref, grantor))
    if not raw and not problems:
        problems.append({"line": 2, "column": "", "message": _("The file has no staff rows.")})
    job.total_rows = len(raw)
    job.problems = sorted(problems, key=lambda p: (p["line"], p["column"]))
    if not job.problems:
        job.rows = checked
        job.status = ImportStatus.PREVIEWED
        job.result = (await _plan_or_apply(session, member, checked, write=False)).as_dict()
    session.add(job)
    await session.flush()
    return job


async def apply_import(
    session: AsyncSession,
    job: StaffImport,
    member: Member,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Write the previewed rows: all of them, in the caller's transaction, or none.

    Safe to run twice: a job already done is left alone.

    Raises:
        ImportRejected: the job had problems, or the member's data changed so
            that a row no longer fits (nothing is written then).
    """
    if job.status is ImportStatus.DONE:
        done = job.result
        return ImportPlan(created=int(done["created"]), updated=int(done["updated"]), unchanged=int(done["unchanged"]))
    if job.status not in (ImportStatus.PREVIEWED, ImportStatus.QUEUED, ImportStatus.RUNNING):
        raise ImportRejected(_("This import has problems and cannot be applied. Correct the file and upload it again."))
    plan = await _plan_or_apply(session, member, job.rows, write=True, progress=progress)
    job.status = ImportStatus.DONE
    job.processed_rows = len(job.rows)
    job.result = {**plan.as_dict(), "login_ids": plan.login_ids}
    await session.flush()
    return plan
