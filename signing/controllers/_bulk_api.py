"""Bulk sending for other systems (API key), JSON: the twin of the screens of :mod:`signing.controllers._bulk`.

* ``POST /api/v1/contracts/{id}/bulk/preview`` checks a CSV file (multipart
  ``file``, UTF-8 with or without BOM or CP932, read as the screen reads it) or
  a JSON list of rows against the draft: a dry run, nothing is written.
* ``POST /api/v1/contracts/{id}/bulk`` checks the same input again and sends it
  (``202`` with the batch); an ``Idempotency-Key`` makes a retry answer with the
  same batch and send nothing more.
* ``GET /api/v1/bulk/{batch_id}`` gives the progress and every row's outcome;
  its first answer once the batch is done carries the access passwords, once.

Each handler calls the methods of :class:`signing.services.BulkSending` that the
screens call (``draft``, ``preview``, ``start``, ``batch``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid, ServiceError
from core.i18n import gettext as _
from policy.guards import requires, requires_member_staff
from signing import services as svc
from signing.controllers._bulk import provide_bulk
from signing.controllers._common import UPLOAD_LIMIT, error_response
from signing.schemas import BulkBatchOut, BulkPreviewOut
from tenants.idempotent import IdempotencyKeyHeader, idempotent

__all__ = ["BulkSendingApiController"]

_GUARDS = [requires("contract", "draft"), requires("contract", "send")]

_ROWS_EXAMPLE = {
    "rows": [
        {
            "company": "髙橋建設株式会社",
            "person": "髙橋 一郎",
            "email": "takahashi@example.co.jp",
            "amount": 1200000,
            "contract_number": "盛総第101号",
            "subject": "（本庁舎）",
            "transaction_date": "2026-04-01",
        },
        {"company": "山﨑商事株式会社", "person": "山﨑 花子", "email": "yamasaki@example.co.jp"},
    ]
}
_CSV_EXAMPLE = (
    "会社名,担当者名,メールアドレス,金額,契約番号,件名,取引年月日\r\n"
    "髙橋建設株式会社,髙橋 一郎,takahashi@example.co.jp,1200000,盛総第101号,（本庁舎）,令和8年4月1日\r\n"
)
_TEXT = Schema(type=OpenAPIType.STRING)
_ROW_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["company", "person", "email"],
    properties={
        "company": _TEXT,
        "person": _TEXT,
        "email": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.EMAIL),
        "amount": Schema(one_of=[Schema(type=OpenAPIType.INTEGER), _TEXT], description="yen; else the draft's"),
        "contract_number": Schema(type=OpenAPIType.STRING, description="else the draft's"),
        "subject": Schema(type=OpenAPIType.STRING, description="added after the draft's subject"),
        "transaction_date": Schema(
            type=OpenAPIType.STRING, description="2026-04-01, 2026年4月1日 or 令和8年4月1日; else the draft's"
        ),
    },
)


@dataclass
class _FileOrRows(Operation):
    """The request body of the preview and the send: a CSV file (multipart) or JSON rows."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=(
                f"A CSV file (multipart field `file`; UTF-8 with or without BOM, or CP932; at most {svc.BULK_MAX_ROWS} "
                "rows; columns 会社名・担当者名・メールアドレス required, 金額・契約番号・件名・取引年月日 optional, "
                "or company, person, email, amount, contract number, subject, transaction date), or JSON "
                '`{"rows": [...]}` with the same columns. A problem names its `line`: the line of the file (the '
                "header is line 1) or the place in the JSON list (from 1)."
            ),
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["rows"],
                        properties={"rows": Schema(type=OpenAPIType.ARRAY, items=_ROW_SCHEMA)},
                    ),
                    examples={"rows": Example(summary="Two counterparties", value=_ROWS_EXAMPLE)},
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["file"],
                        properties={"file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)},
                    ),
                    examples={"file": Example(summary="A CSV file (shown as text)", value={"file": _CSV_EXAMPLE})},
                ),
            },
        )


async def _file_or_rows(request: Request[Any, Any, Any]) -> tuple[bytes | list[svc.BulkRowInput], object]:
    """The CSV bytes or the JSON rows of the request, and what identifies it for an ``Idempotency-Key``."""
    media_type = request.content_type[0]
    if media_type == MediaType.JSON.value:
        try:
            body = msgspec.convert(await request.json(), svc.BulkRowsInput, strict=False)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            message = _('The body must be JSON {{"rows": [...]}} with the columns of the file: {error}')
            raise Invalid(message.format(error=exc)) from None
        return body.rows, msgspec.to_builtins(body)
    if media_type == "multipart/form-data":
        upload = (await request.form()).get("file")
        if isinstance(upload, UploadFile):
            content = await upload.read()
            await upload.seek(0)  # read again for the request's fingerprint
            return content, {"file": upload}
    raise Invalid(_("Please send a CSV file (multipart field “file”) or the rows as JSON."))


def _refusal(result: svc.BulkPreview) -> Response[Any]:
    """422 with every problem, as the preview lists them (nothing was sent)."""
    return Response(
        {
            "status_code": 422,
            "detail": _("Nothing was sent: {n} problems. Correct them and send again.").format(n=result.problem_count),
            "preview": BulkPreviewOut.of(result),
        },
        status_code=422,
    )


_BATCH_EXAMPLE = {
    "id": "0193a2b4-0000-7000-8000-00000000b001",
    "draft_id": "0193a2b4-0000-7000-8000-000000000010",
    "draft_subject": "令和8年度 複写機保守 単価契約",
    "status": "done",
    "total": 2,
    "processed": 2,
    "sent": 1,
    "failed": 1,
    "created_at": "2026-12-03T01:00:00Z",
    "finished_at": "2026-12-03T01:00:04Z",
    "passwords_included": True,
    "passwords_note": "アクセスパスワードはこの応答にだけ含まれ、二度と表示されません。",
    "rows": [
        {
            "line": 2,
            "state": "sent",
            "company": "髙橋建設株式会社",
            "person": "髙橋 一郎",
            "email": "takahashi@example.co.jp",
            "contract_id": "0193a2b4-0000-7000-8000-000000000101",
            "contract_number": "盛総第101号",
            "error": "",
            "password": "K7mP-3xRq-9TnW",
        },
        {
            "line": 3,
            "state": "failed",
            "company": "山﨑商事株式会社",
            "person": "山﨑 花子",
            "email": "yamasaki@example.co.jp",
            "contract_id": None,
            "contract_number": "",
            "error": "契約を保存できませんでした（データベースのエラー）。この行は何も残っていません。",
            "password": None,
        },
    ],
}


class BulkSendingApiController(Controller):
    """Bulk sending of a prepared draft to many counterparties, for other systems (JSON)."""

    path = "/api/v1"
    dependencies = {"bulk": Provide(provide_bulk)}  # noqa: RUF012
    tags = ["bulk sending"]  # noqa: RUF012
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    @post(
        "/contracts/{contract_id:uuid}/bulk/preview",
        guards=_GUARDS,
        status_code=200,
        request_max_body_size=UPLOAD_LIMIT,
        operation_class=_FileOrRows,
    )
    async def preview(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        bulk: NamedDependency[svc.BulkSending],
    ) -> BulkPreviewOut:
        """Check the counterparties against the draft (a dry run): every row as it would be sent, with its problems.

        Nothing is written. ``sendable`` is true when no problem remains; the problems name their line.
        The draft must have exactly one contractor party, the placeholder each row replaces (else ``400``/``409``).
        """
        await bulk.draft(contract_id)  # 404 before anything else for a contract not the caller's
        data, _identity = await _file_or_rows(request)
        return BulkPreviewOut.of(await bulk.preview(contract_id, data))

    @post(
        "/contracts/{contract_id:uuid}/bulk",
        guards=_GUARDS,
        status_code=202,
        request_max_body_size=UPLOAD_LIMIT,
        operation_class=_FileOrRows,
        responses={
            422: ResponseSpec(
                data_container=dict[str, Any],
                description="A row has a problem: nothing was sent (`preview` lists them as the dry run does)",
            )
        },
    )
    async def send(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        bulk: NamedDependency[svc.BulkSending],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        """Check the counterparties again and send one contract per row, each all or nothing (``202``).

        The answer is the batch (``id``, ``status``; no password). Up to 20 rows are sent before the answer
        (``status`` ``done``); a larger batch is sent by a worker (``queued``/``running``): follow it with
        ``GET /api/v1/bulk/{id}``, whose first answer once it is ``done`` carries each row's access password,
        **once**. With an ``Idempotency-Key`` a retry answers with the same batch and sends nothing more.
        A row with a problem refuses the whole request with ``422`` and the problems; nothing is sent.
        """
        await bulk.draft(contract_id)
        data, identity = await _file_or_rows(request)

        async def work() -> BulkBatchOut:
            result = await bulk.preview(contract_id, data)
            if not result.sendable:
                raise _NotSendable(result)
            batch_id = await bulk.start(contract_id, result.preview_id)
            return BulkBatchOut.of(await bulk.batch(batch_id, reveal=False))

        try:
            return await idempotent(request, db_session, idempotency_key, work, body=identity, status_code=202)
        except _NotSendable as refused:
            return _refusal(refused.result)

    @get(
        "/bulk/{batch_id:uuid}",
        guards=_GUARDS,
        responses={
            200: ResponseSpec(
                data_container=BulkBatchOut,
                description="The batch; `password` only in the first answer after it is done",
                examples=[Example(summary="The first answer after the batch is done", value=_BATCH_EXAMPLE)],
            )
        },
    )
    async def batch(self, *, batch_id: FromPath[uuid.UUID], bulk: NamedDependency[svc.BulkSending]) -> Response[Any]:
        """Progress and every row's outcome (line, contract, state, why it failed) of a batch the caller started.

        **The access passwords are shown once**: the first answer after ``status`` is ``done`` carries each sent
        row's ``password`` (``passwords_included`` true) and they are then deleted; later answers have ``null``
        and ``passwords_note`` says so. Unseen passwords are deleted after 7 days. A lost one is replaced with
        ``POST /api/v1/contracts/{id}/parties/{party_id}/password``. Another caller's batch is ``404``.
        """
        view = BulkBatchOut.of(await bulk.batch(batch_id, reveal=True))
        # The passwords must not stay in a cache.
        return Response(view, headers={"Cache-Control": "no-store"})


class _NotSendable(Exception):
    """The rows have problems: the idempotency key is not kept, nothing is sent."""

    def __init__(self, result: svc.BulkPreview) -> None:
        super().__init__("not sendable")
        self.result = result
