"""Member administrators' screens and API: bulk staff import (ACC-1).

The member's full export (DAT-1) is :mod:`signing.exit_controllers`: it decrypts and describes contracts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import TooLarge
from core.i18n import gettext as _
from core.scope import Principal, PrincipalKind
from core.settings import get_settings
from onboarding import staff_import
from onboarding.controllers.forms import HTML_ERRORS
from onboarding.members import own_member
from onboarding.models import StaffImport
from policy.guards import current_principal, requires, requires_member_staff

__all__ = ["StaffImportApiController", "StaffImportController"]

MAX_UPLOAD_BYTES = get_settings().contracts.max_import_mb * 1024 * 1024


@dataclass
class UploadForm:
    """A CSV file sent from a form or by another system."""

    file: UploadFile


Upload = Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]


async def _preview(session: AsyncSession, principal: Principal, upload: UploadForm) -> StaffImport:
    """Read the upload and check it: the same for the screen and the API."""
    data = await upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(
            _("The file is larger than {limit} MB. Split it into several files.").format(
                limit=MAX_UPLOAD_BYTES // (1024 * 1024)
            )
        )
    return await staff_import.preview(
        session,
        await own_member(session, principal.member_id),
        filename=upload.file.filename or "staff.csv",
        data=data,
        uploaded_by_id=principal.id if principal.kind is PrincipalKind.STAFF else None,
        grantor=principal.permissions,
    )


async def _commit(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> StaffImport:
    """Register the caller's import (the same for the screen and the API)."""
    job = await staff_import.import_of(session, principal.member_id, job_id)
    await staff_import.commit_import(session, job, await own_member(session, principal.member_id))
    return job


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
        jobs = await staff_import.recent_imports(db_session, current_principal(request).member_id)
        return Template(
            "onboarding/import_index.html", context={"jobs": jobs, "status_label": staff_import.status_label}
        )

    @post("/", status_code=303)
    async def upload(
        self, request: Request[Any, Any, Any], data: Upload, db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Check the file and show the preview (nothing is written yet)."""
        job = await _preview(db_session, current_principal(request), data)
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
        job = await staff_import.import_of(db_session, current_principal(request).member_id, job_id)
        return Template(
            "onboarding/import_show.html",
            context={
                "job": job,
                "progress": await staff_import.import_progress(state.redis, job),
                "column_label": staff_import.column_label,
                "error": None,
            },
        )

    @post("/{job_id:uuid}/commit", status_code=303)
    async def commit(
        self, request: Request[Any, Any, Any], job_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> Redirect:
        """Apply all rows, or none."""
        job = await _commit(db_session, current_principal(request), job_id)
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
        job = await staff_import.import_of(db_session, current_principal(request).member_id, job_id)
        return Template(
            "onboarding/import_progress.html",
            context={"job": job, "progress": await staff_import.import_progress(state.redis, job)},
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
        return _job_json(await _preview(db_session, current_principal(request), data))

    @get("/{job_id:uuid}")
    async def read(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[uuid.UUID],
        db_session: NamedDependency[AsyncSession],
        state: State,
    ) -> dict[str, Any]:
        """An import's state, problems, result and progress."""
        job = await staff_import.import_of(db_session, current_principal(request).member_id, job_id)
        return _job_json(job, await staff_import.import_progress(state.redis, job))

    @post("/{job_id:uuid}/commit", status_code=200)
    async def commit(
        self, request: Request[Any, Any, Any], job_id: FromPath[uuid.UUID], db_session: NamedDependency[AsyncSession]
    ) -> dict[str, Any]:
        """Apply the import (large files in the background: poll the import until ``done``)."""
        return _job_json(await _commit(db_session, current_principal(request), job_id))
