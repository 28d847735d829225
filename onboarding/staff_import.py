"""Bulk staff registration from a CSV file (ACC-1, SAP-6(7)): preview, then apply.

The file's format is in :mod:`onboarding.staff_csv`, the checks of its rows in
:mod:`onboarding.staff_checks`.

Two steps. :func:`preview` reads and checks the whole file, writes nothing but
the :class:`~onboarding.models.StaffImport` record, and reports every problem
with its line number. :func:`apply_import` writes everything in one transaction,
or nothing. The account is found by e-mail: a row for an existing address
updates that account (name, department, roles and titles become exactly those of
the row), so importing the same file twice changes nothing the second time.
:func:`commit_import` is the administrator's "register" button: small files are
applied at once, larger ones (more than :data:`BACKGROUND_ROWS`) by a Celery task
fed through the outbox, whose progress :func:`import_progress` reports.

New accounts get a login ID ``<lgcode>-<local part of the e-mail>`` (``-2``, ``-3``
… when taken) and **no password**: they cannot sign in until an administrator
sets a password or an invitation mail lets the person choose one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from core.errors import NotFound
from core.i18n import gettext as _
from core.outbox import enqueue
from onboarding.models import ImportStatus, StaffImport
from onboarding.repository import OnboardingRepository, StaffDirectoryRepository
from onboarding.staff_checks import Reference, check_grants, check_rows, load_reference
from onboarding.staff_csv import ImportRejected, column_label, decode, login_id_conflict, parse_rows, status_label
from policy.permissions import Permission
from policy.services import policy_changed
from tenants import oplog
from tenants.models import Department, Member, OperationKind, Staff

__all__ = [
    "BACKGROUND_ROWS",
    "PROGRESS_PREFIX",
    "ImportPlan",
    "ImportRejected",
    "apply_import",
    "column_label",
    "commit_import",
    "decode",
    "import_of",
    "import_progress",
    "login_id_conflict",
    "parse_rows",
    "preview",
    "progress_key",
    "recent_imports",
    "status_label",
]

BACKGROUND_ROWS = 500
"""Files with more rows than this are applied by a Celery task, with progress shown."""


@dataclass
class ImportPlan:
    """What applying the rows does (or did)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    login_ids: dict[str, str] = field(default_factory=dict)
    """E-mail → login ID of each new account."""
    updated_emails: list[str] = field(default_factory=list)
    """Addresses of the accounts the rows changed (for the operation log)."""

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


async def _current_titles(directory: StaffDirectoryRepository, ref: Reference) -> dict[uuid.UUID, set[str]]:
    code_of = {t.id: t.code for t in ref.titles.values()}
    result: dict[uuid.UUID, set[str]] = {}
    for staff_id, title_id in await directory.title_grants():
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


def _still_valid(row: dict[str, Any], ref: Reference) -> Department | None:
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
    directory: StaffDirectoryRepository,
    *,
    staff_id: uuid.UUID,
    ref: Reference,
    roles: tuple[set[str], set[str]],
    titles: tuple[set[str], set[str]],
) -> None:
    """Make the account's roles and titles exactly the wanted ones (have, wanted)."""
    subject = f"staff:{staff_id}"
    have_roles, wanted_roles = roles
    have_titles, wanted_titles = titles
    if have_roles - wanted_roles:
        await directory.unassign_roles(subject, have_roles - wanted_roles)
    directory.assign_roles(subject, wanted_roles - have_roles)
    if have_titles - wanted_titles:
        gone = [ref.titles[code].id for code in sorted(have_titles - wanted_titles)]
        await directory.revoke_titles(staff_id, gone)
    directory.grant_titles(staff_id, [ref.titles[code].id for code in sorted(wanted_titles - have_titles)])


async def _plan_or_apply(
    session: AsyncSession,
    member: Member,
    rows: list[dict[str, Any]],
    *,
    write: bool,
    progress: Callable[[int], None] | None = None,
    batch: int = 1000,
) -> ImportPlan:
    directory = StaffDirectoryRepository(session, member.id)
    ref = await load_reference(directory)
    roles_of = await directory.staff_roles()
    titles_of = await _current_titles(directory, ref)
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
                directory.add(staff)
                ref.staff_by_email[row["email"].lower()] = staff
                directory.assign_roles(f"staff:{staff.id}", wanted_roles)
                directory.grant_titles(staff.id, [ref.titles[code].id for code in sorted(wanted_titles)])
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
                plan.updated_emails.append(row["email"])
                if write:
                    staff.name = row["name"]
                    staff.department_id = department_id
                    await _replace_grants(
                        directory,
                        staff_id=staff.id,
                        ref=ref,
                        roles=(have_roles, wanted_roles),
                        titles=(have_titles, wanted_titles),
                    )
        if write and index % batch == 0:
            await directory.flush()
            if progress is not None:
                progress(index)
    if write:
        await directory.flush()
        if progress is not None:
            progress(len(rows))
    return plan


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
        job.problems = [{"line": 0, "column": "", "message": exc.message}]
        OnboardingRepository(session, member.id).add(job)
        await session.flush()
        return job
    raw, problems = parse_rows(text)
    directory = StaffDirectoryRepository(session, member.id)
    ref = await load_reference(directory)
    checked, row_problems = check_rows(raw, ref)
    problems.extend(row_problems)
    if grantor is not None:
        problems.extend(await check_grants(directory, checked, ref, grantor))
    if not raw and not problems:
        problems.append({"line": 2, "column": "", "message": _("The file has no staff rows.")})
    job.total_rows = len(raw)
    job.problems = sorted(problems, key=lambda p: (p["line"], p["column"]))
    if not job.problems:
        job.rows = checked
        job.status = ImportStatus.PREVIEWED
        job.result = (await _plan_or_apply(session, member, checked, write=False)).as_dict()
    OnboardingRepository(session, member.id).add(job)
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
    policy_changed(session, member.id)  # every process reloads the member's roles once this commits
    job.status = ImportStatus.DONE
    job.processed_rows = len(job.rows)
    job.result = {**plan.as_dict(), "login_ids": plan.login_ids}
    await session.flush()
    await oplog.record(
        session,
        member_id=member.id,
        kind=OperationKind.IMPORTED,
        target=oplog.target("staff_import", job.id, job.filename),
        detail={
            **plan.as_dict(),
            "uploaded_by": str(job.uploaded_by_id or ""),
            "created_login_ids": plan.login_ids,
            "updated_emails": plan.updated_emails,
        },
    )
    return plan


# --------------------------------------------------------------------------- the administrator's screens


async def import_of(session: AsyncSession, member_id: uuid.UUID | None, job_id: uuid.UUID) -> StaffImport:
    """The member's import ``job_id``; another member's answers like one that never existed."""
    job = await OnboardingRepository(session, member_id).staff_import(job_id) if member_id is not None else None
    if job is None:
        raise NotFound(_("No such import."))
    return job


async def recent_imports(session: AsyncSession, member_id: uuid.UUID | None, limit: int = 20) -> list[StaffImport]:
    """The member's latest imports, newest first."""
    if member_id is None:
        return []
    return list(await OnboardingRepository(session, member_id).recent_staff_imports(limit))


async def commit_import(session: AsyncSession, job: StaffImport, member: Member) -> bool:
    """Register a previewed import: True when applied now (small files), False when handed to a worker.

    The new role assignments are announced to every process once the caller's
    transaction commits.

    A file of more than :data:`BACKGROUND_ROWS` rows is queued for the task
    ``onboarding.apply_staff_import`` through the outbox, in this transaction. A
    second click on an import queued, running or done changes nothing.

    Raises:
        ImportRejected: the import has problems, or a new login ID is taken by
            another organisation (then nothing is registered).
    """
    if job.status is not ImportStatus.PREVIEWED:
        if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.DONE):
            return False
        raise ImportRejected(_("This import has problems and cannot be applied. Correct the file and upload it again."))
    if len(job.rows) > BACKGROUND_ROWS:
        job.status = ImportStatus.QUEUED
        enqueue(session, "onboarding.apply_staff_import", job_id=str(job.id))
        await session.flush()
        return False
    try:
        async with session.begin_nested():
            await apply_import(session, job, member)
    except IntegrityError as exc:
        # Login IDs are unique across members, and other members' IDs are not visible here.
        raise ImportRejected(login_id_conflict()) from exc
    job.finished_at = dt.datetime.now(dt.UTC)
    return True


PROGRESS_PREFIX = "kyodo:staff-import:"


def progress_key(job_id: uuid.UUID | str) -> str:
    """Redis key holding a running import's progress (``{"processed": n, "total": m}``)."""
    return f"{PROGRESS_PREFIX}{job_id}"


async def import_progress(redis: Redis, job: StaffImport) -> dict[str, int]:
    """Rows processed and in all: from the worker's figures in Redis while it runs, else from the record."""
    if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        raw = await redis.get(progress_key(job.id))
        if raw:
            data = json.loads(raw)
            return {"processed": int(data["processed"]), "total": int(data["total"])}
        return {"processed": 0, "total": len(job.rows)}
    return {"processed": job.processed_rows, "total": job.total_rows}
