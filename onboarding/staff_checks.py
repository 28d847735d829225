"""Checks of a staff file against the member's data, before anything is written.

Every row is checked against the member's departments, contract titles and
roles (built-in and its own); every problem is reported with its line and
column. Nobody can give, through a file, more than they hold themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from core.i18n import gettext as _
from onboarding.repository import StaffDirectoryRepository
from onboarding.staff_csv import split_values
from policy.permissions import BUILTIN_ROLES, ROLE_LABELS, BuiltinRole, Permission
from tenants.models import ContractTitle, Department, Staff

__all__ = ["Problems", "Reference", "check_grants", "check_rows", "load_reference"]


@dataclass
class Reference:
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


async def load_reference(directory: StaffDirectoryRepository) -> Reference:
    """What the rows of a file are checked against."""
    departments = await directory.departments()
    by_name: dict[str, list[Department]] = {}
    for d in departments:
        by_name.setdefault(d.name, []).append(d)
    titles = await directory.active_titles()
    roles: dict[str, str] = {}
    for role in BuiltinRole:
        roles[role.value] = f"role:{role.value}"
        roles[ROLE_LABELS[role]] = f"role:{role.value}"
    for custom in await directory.custom_roles():
        roles[custom.name] = f"role:{custom.name}"
        roles[custom.name.removeprefix("custom:")] = f"role:{custom.name}"
        roles[custom.label] = f"role:{custom.name}"
    role_permissions: dict[str, frozenset[Permission]] = {
        f"role:{name}": perms for name, perms in BUILTIN_ROLES.items()
    }
    for custom_role, obj, act in await directory.role_permissions():
        role_permissions[custom_role] = role_permissions.get(custom_role, frozenset()) | {Permission(obj, act)}
    staff = await directory.staff()
    return Reference(
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


def _check_department(text: str, line: int, ref: Reference, problems: Problems) -> str | None:
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


def _check_roles(text: str, line: int, ref: Reference, problems: Problems) -> list[str] | None:
    roles: set[str] = set()
    ok = True
    for role in split_values(text):
        mapped = ref.roles.get(role) or ref.roles.get(role.lower())
        if mapped is None:
            _problem(problems, line, "roles", _("Unknown role “{role}”.").format(role=role))
            ok = False
        else:
            roles.add(mapped)
    return sorted(roles) if ok else None


def _check_titles(text: str, line: int, ref: Reference, problems: Problems) -> list[str] | None:
    titles: set[str] = set()
    ok = True
    for code in split_values(text):
        if code not in ref.titles:
            _problem(problems, line, "titles", _("Unknown contract title code “{code}”.").format(code=code))
            ok = False
        else:
            titles.add(code)
    return sorted(titles) if ok else None


def check_rows(rows: list[dict[str, Any]], ref: Reference) -> tuple[list[dict[str, Any]], Problems]:
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


async def check_grants(
    directory: StaffDirectoryRepository,
    rows: list[dict[str, Any]],
    ref: Reference,
    grantor: frozenset[Permission],
) -> Problems:
    """Roles the uploader may not grant, and accounts whose roles the uploader may not change.

    Nobody can give, through a file, more than they hold themselves: a role is
    grantable when all its permissions are among the uploader's.
    """
    problems: Problems = []

    def grantable(role: str) -> bool:
        return ref.role_permissions.get(role, frozenset()) <= grantor

    current = await directory.staff_roles()
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
