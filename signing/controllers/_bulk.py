"""Bulk sending on the staff screens (一括送信): one prepared draft, a CSV of counterparties, N contracts.

``/contracts/{id}/bulk`` explains the rule and takes the file; the preview lists
every row with its problems and writes nothing; "send" makes and sends the
contracts (a large batch in a worker) and leads to ``/contracts/bulk/{batch}``,
which shows the rows sent and failed and, on its first view once the batch is
finished, each contract's access password (printable, then gone). The batch and
its rows are read from PostgreSQL. Each handler calls one method of
:class:`signing.services.BulkSending`, as its JSON twin (:mod:`signing.controllers._bulk_api`) does.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from core.web import status_of
from policy.guards import current_principal, requires, requires_member_staff
from signing import services as svc
from signing.audit import Actor
from signing.controllers._common import FormData, UrlForm, error_response, origin_of, settings_of

__all__ = ["BulkSendingController"]


async def provide_bulk(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], state: State
) -> svc.BulkSending:
    """Bulk sending of the signed-in staff member."""
    principal = current_principal(request)
    who = Actor.of_principal(principal, origin_of(request))
    return svc.BulkSending(db_session, state.redis, settings_of(state), principal, who)


_GUARDS = [requires("contract", "draft"), requires("contract", "send")]


class BulkSendingController(Controller):
    """Bulk sending of a prepared draft to the counterparties of a CSV file."""

    path = "/contracts"
    dependencies = {"bulk": Provide(provide_bulk)}  # noqa: RUF012
    include_in_schema = False
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    async def _start_page(
        self, bulk: svc.BulkSending, contract_id: uuid.UUID, *, error: str = "", status: int = 200
    ) -> Template:
        contract = await svc.get_contract(bulk.session, contract_id, bulk.principal)
        try:
            placeholder = svc.placeholder_of(contract)
            refusal = ""
        except ServiceError as exc:
            placeholder, refusal = None, exc.message
        return Template(
            "signing/bulk/start.html",
            context={
                "contract": contract,
                "placeholder": placeholder,
                "refusal": refusal,
                "error": error,
                "columns": svc.BULK_COLUMNS,
                "column_label": svc.bulk_column_label,
                "background_rows": svc.BULK_BACKGROUND_ROWS,
                "max_rows": svc.BULK_MAX_ROWS,
            },
            status_code=status,
        )

    @get("/{contract_id:uuid}/bulk", guards=_GUARDS)
    async def start(self, *, contract_id: FromPath[uuid.UUID], bulk: NamedDependency[svc.BulkSending]) -> Template:
        """What bulk sending does with this draft, and the file upload."""
        return await self._start_page(bulk, contract_id)

    @post("/{contract_id:uuid}/bulk/preview", guards=_GUARDS)
    async def preview(
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, bulk: NamedDependency[svc.BulkSending]
    ) -> Template:
        """Every row of the file with its problems; nothing is written."""
        await bulk.draft(contract_id)  # 404 before anything else for a contract not the caller's
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            return await self._start_page(bulk, contract_id, error=_("Please choose a CSV file."), status=400)
        try:
            result = await bulk.preview(contract_id, await upload.read())
        except ServiceError as exc:
            return await self._start_page(bulk, contract_id, error=exc.message, status=status_of(exc))
        return self._preview_page(result, upload.filename or "")

    def _preview_page(self, result: svc.BulkPreview, file_name: str, *, confirm_error: str = "") -> Template:
        return Template(
            "signing/bulk/preview.html",
            context={
                "result": result,
                "contract": result.draft,
                "file_name": file_name,
                "background_rows": svc.BULK_BACKGROUND_ROWS,
                "confirm_error": confirm_error,
            },
            status_code=400 if confirm_error else 200 if result.sendable else 422,
        )

    @post("/{contract_id:uuid}/bulk/send", guards=_GUARDS)
    async def send(
        self, *, contract_id: FromPath[uuid.UUID], data: UrlForm, bulk: NamedDependency[svc.BulkSending]
    ) -> Redirect | Template:
        """Create and send one contract per row; then the result page."""
        await bulk.draft(contract_id)
        preview_id = str(data.get("preview_id") or "")
        if data.get("confirm") != "on":
            checked = await bulk.checked(contract_id, preview_id)
            if checked is not None:  # the same rows again, the reason beside the box to tick
                return self._preview_page(
                    checked, "", confirm_error=_("Please confirm that you have checked what will be sent.")
                )
        try:
            if data.get("confirm") != "on":
                raise Invalid(_("Please confirm that you have checked what will be sent."))
            batch_id = await bulk.start(contract_id, preview_id)
        except ServiceError as exc:
            return await self._start_page(bulk, contract_id, error=exc.message, status=status_of(exc))
        return Redirect(path=f"/contracts/bulk/{batch_id}", status_code=303)

    @get("/bulk/{batch_id:uuid}", guards=_GUARDS)
    async def result(self, *, batch_id: FromPath[uuid.UUID], bulk: NamedDependency[svc.BulkSending]) -> Response[Any]:
        """Rows sent and failed; on the first view of a finished batch, the access passwords (once)."""
        batch = await bulk.batch(batch_id, reveal=True)
        return Template(
            "signing/bulk/result.html",
            context={"batch": batch},
            # The passwords must not stay in a cache or in the browser's history.
            headers={"Cache-Control": "no-store"},
        )

    @get("/bulk/{batch_id:uuid}/progress", guards=_GUARDS)
    async def progress(self, *, batch_id: FromPath[uuid.UUID], bulk: NamedDependency[svc.BulkSending]) -> Response[Any]:
        """The progress box, polled while a worker sends the rows; when done the page reloads to show the result."""
        batch = await bulk.batch(batch_id, reveal=False)
        headers = {"Cache-Control": "no-store"}
        if not batch.running:
            headers["HX-Refresh"] = "true"
        return Template("signing/bulk/_progress.html", context={"batch": batch}, headers=headers)
