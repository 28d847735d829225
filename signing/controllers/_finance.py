"""The finance system's CSV on the staff screens (財務会計システム連携): export, and import with a check first.

``/contracts/finance/export.csv`` downloads the list's contracts (same search
keys) in the finance columns; ``/contracts/finance/import`` takes the same file
back: the check (``…/import/preview``) lists every row with what it would do and
writes nothing; "import" writes every row or none. Both call
:meth:`signing.services.ContractActions.finance_import`, as the API does.
"""

from __future__ import annotations

import base64
import binascii

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from core.web import status_of
from policy.guards import requires, requires_member_staff
from signing import services as svc
from signing.controllers._common import (
    MB,
    FormData,
    UrlForm,
    download_response,
    error_response,
    provide_actions,
    provide_search_filters,
)

__all__ = ["FinanceCsvController"]

_IMPORT = [requires("contract", "view"), requires("contract", "draft")]
_BODY_LIMIT = svc.FINANCE_MAX_BYTES * 2 + MB
"""The check's upload, or the import's form carrying the checked file (base64)."""


def _start_page(*, error: str = "", status: int = 200) -> Template:
    return Template(
        "signing/finance/import.html",
        context={
            "error": error,
            "columns": svc.FINANCE_COLUMNS,
            "headers": svc.FINANCE_HEADERS,
            "max_rows": svc.FINANCE_MAX_ROWS,
        },
        status_code=status,
    )


def _preview_page(result: svc.FinanceImport, data: bytes, file_name: str) -> Template:
    return Template(
        "signing/finance/preview.html",
        context={
            "result": result,
            "file_name": file_name,
            "payload": base64.b64encode(data).decode() if result.importable else "",
        },
        status_code=200 if result.importable else 422,
    )


class FinanceCsvController(Controller):
    """Export and import of the finance system's CSV, from the contract list."""

    path = "/contracts/finance"
    dependencies = {"filters": Provide(provide_search_filters), "actions": Provide(provide_actions)}  # noqa: RUF012
    include_in_schema = False
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    @get("/export.csv", guards=[requires("contract", "view")])
    async def export(
        self, *, actions: NamedDependency[svc.ContractActions], filters: NamedDependency[svc.SearchFilters]
    ) -> Response[bytes]:
        """The list's contracts (same search keys) in the finance columns, hashes included (UTF-8 with BOM)."""
        return download_response(await actions.finance_export(filters))

    @get("/import", guards=_IMPORT)
    async def start(self) -> Template:
        """The columns of the file and the upload."""
        return _start_page()

    @post("/import/preview", guards=_IMPORT, request_max_body_size=_BODY_LIMIT)
    async def preview(self, *, data: FormData, actions: NamedDependency[svc.ContractActions]) -> Template:
        """Every row of the file with what it would do and its problems; nothing is written."""
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            return _start_page(error=_("Please choose a CSV file."), status=400)
        content = await upload.read()
        try:
            result = await actions.finance_import(content, dry_run=True)
        except ServiceError as exc:
            return _start_page(error=exc.message, status=status_of(exc))
        return _preview_page(result, content, upload.filename or "")

    @post("/import", guards=_IMPORT, request_max_body_size=_BODY_LIMIT)
    async def apply(self, *, data: UrlForm, actions: NamedDependency[svc.ContractActions]) -> Template:
        """Import the checked file: every row, or (any problem, or contracts changed since the check) none."""
        try:
            content = base64.b64decode(data.get("payload", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Invalid(_("The checked file did not arrive. Please check the file again.")) from exc
        file_name = data.get("file_name", "")
        result = await actions.finance_import(content, dry_run=False, fingerprint=data.get("fingerprint", "") or "-")
        if not result.applied:
            return _preview_page(result, content, file_name)
        return Template("signing/finance/done.html", context={"result": result, "file_name": file_name})
