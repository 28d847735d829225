"""The contracts API for other systems of a member (API key), JSON; documented at /schema."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, BodyKwarg, FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid, ServiceError
from core.i18n import gettext as _
from policy.guards import requires, requires_member_staff
from signing import services as svc
from signing.controllers._common import (
    UPLOAD_LIMIT,
    FormData,
    contract_input,
    download_response,
    error_response,
    provide_actions,
    provide_search_filters,
    uploads,
)
from signing.schemas import (
    AuditEventOut,
    AuditTrailOut,
    ContractOut,
    ContractPage,
    ContractStatusOut,
    DocumentOut,
    FinanceImportOut,
    PartyOut,
    TextBoxOut,
)
from tenants.idempotent import IdempotencyKeyHeader, idempotent


def _json(*examples: tuple[str, object]) -> BodyKwarg:
    """A JSON body documented with examples in the OpenAPI schema."""
    body: BodyKwarg = Body(
        media_type=RequestEncodingType.JSON,
        examples=[Example(summary=summary, value=value) for summary, value in examples],
    )
    return body


DraftChangesBody = Annotated[
    svc.DraftChanges,
    _json(
        ("Correct the amount and the transaction date", {"amount": 13200000, "transaction_date": "2026-12-10"}),
        (
            "Rename and empty the contract number",
            {"subject": "市道3号線舗装補修工事（変更）", "clear": ["contract_number"]},
        ),
    ),
]
PartyChangesBody = Annotated[
    svc.PartyChanges,
    _json(
        ("Correct a contractor's e-mail", {"email": "ichiro@iwate-hoso.example.jp"}),
        ("A new access password", {"password": "tel-2026-ok2"}),
    ),
]
PartyOrderBody = Annotated[
    svc.PartyOrder,
    _json(
        (
            "The contractor first, then two signers in parallel",
            {
                "steps": [
                    ["0193a2b4-0000-7000-8000-000000000001"],
                    ["0193a2b4-0000-7000-8000-000000000002", "0193a2b4-0000-7000-8000-000000000003"],
                ]
            },
        ),
    ),
]
TextBoxChangesBody = Annotated[
    svc.TextBoxChanges,
    _json(
        ("Move a box (PDF points from the bottom-left)", {"x": 72.0, "y": 120.5}),
        (
            "Relabel and hand it to another party",
            {"label": "受注者 住所", "party_id": "0193a2b4-0000-7000-8000-000000000002"},
        ),
    ),
]


_FINANCE_EXAMPLE = (
    "\ufeff契約番号,件名,金額,取引年月日,相手方,所属,状態,作成日時,送信日時,締結日時,"
    "締結文書SHA-256,締結証明書SHA-256,契約ID\r\n"
    "盛岡道第12号,市道3号線舗装補修工事,13200000,2026-04-01,髙橋建設株式会社,道路管理課,締結済み,"
    "2026-03-25T09:12:03+09:00,2026-03-26T10:00:41+09:00,2026-03-30T15:20:09+09:00,"
    "9f2c…e01a,4b7d…c3f2,0193a2b4-0000-7000-8000-000000000001\r\n"
)


class ContractApiController(Controller):
    """Contracts for other systems of a member (API key), JSON."""

    path = "/api/v1/contracts"
    dependencies = {"filters": Provide(provide_search_filters), "actions": Provide(provide_actions)}  # noqa: RUF012
    tags = ["contracts"]  # noqa: RUF012
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=UPLOAD_LIMIT, status_code=201)
    async def create(
        self,
        *,
        request: Request[Any, Any, Any],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ContractOut]:
        """Create a draft (multipart: subject, title_id, contract_number, amount, transaction_date, counterparty,
        department_id, and one or more ``files``).

        With an ``Idempotency-Key`` a retry returns the first answer (the same contract) and creates nothing.
        """

        async def work() -> ContractOut:
            return ContractOut.of(await actions.create(contract_input(data), await uploads(data)))

        return await idempotent(request, db_session, idempotency_key, work, body=data)

    @get("/", guards=[requires("contract", "view")])
    async def list_contracts(
        self,
        *,
        actions: NamedDependency[svc.ContractActions],
        filters: NamedDependency[svc.SearchFilters],
        page: FromQuery[int] = 1,
        per_page: FromQuery[int] = 50,
    ) -> ContractPage:
        """List and search (word in the file name or subject, date and amount ranges, counterparty; AND)."""
        result = await actions.search(filters, page=page, per_page=per_page)
        return ContractPage(
            items=[ContractOut.of(c, full=False) for c in result.items],
            page=result.page,
            per_page=result.per_page,
            has_next=result.has_next,
        )

    @get(
        "/export.csv",
        guards=[requires("contract", "view")],
        media_type="text/csv; charset=utf-8",
        responses={
            200: ResponseSpec(
                data_container=str,
                media_type="text/csv",
                description="The finance CSV (UTF-8 with BOM)",
                examples=[Example(summary="One concluded contract", value=_FINANCE_EXAMPLE)],
            )
        },
    )
    async def export_finance(
        self, *, actions: NamedDependency[svc.ContractActions], filters: NamedDependency[svc.SearchFilters]
    ) -> Response[bytes]:
        """The contracts of the list (same search keys) as the finance system's CSV, UTF-8 with BOM.

        Columns (fixed Japanese headers): 契約番号, 件名, 金額 (yen, plain number), 取引年月日 (YYYY-MM-DD),
        相手方, 所属 (department name), 状態, 作成日時, 送信日時, 締結日時 (ISO 8601, Japan time),
        締結文書SHA-256 (each document's newest sealed PDF, space-separated, in the documents' order),
        締結証明書SHA-256 (the newest certificate of conclusion), 契約ID. The hashes are those of the files the
        download routes hand out once the contract is concluded. The export is recorded in the audit trail.
        """
        return download_response(await actions.finance_export(filters))

    @post("/import", guards=[requires("contract", "view"), requires("contract", "draft")], status_code=200)
    async def import_finance(
        self,
        *,
        request: Request[Any, Any, Any],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        dry_run: FromQuery[bool] = False,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[FinanceImportOut]:
        """Import the finance CSV (multipart ``file``; UTF-8, with or without BOM, or CP932): all rows or none.

        The same columns as ``GET /api/v1/contracts/export.csv``. A row names its contract by 契約ID or, when that is
        empty, by 契約番号; a row naming no contract of the caller makes a new draft (under the member's first
        contract title), a draft's row sets its particulars, and a row of a contract past the draft must say what
        the contract holds (``unchanged``). 状態 and the hashes are read-only (a different value is an error), the
        times are ignored. With ``dry_run=true`` nothing is written and the answer says what the import would do.
        Any problem: ``422`` with every problem by line, and nothing is written. With an ``Idempotency-Key`` an
        import that was done answers a retry as the first time and makes nothing again (a check or a refused file
        keeps nothing: its retry checks again).
        """
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid(_("Please choose a CSV file."))
        content = await upload.read()
        # With a key, the file is checked first: a refused file keeps no key, so its retry is checked again.
        result = await actions.finance_import(content, dry_run=dry_run or idempotency_key is not None)
        if dry_run or idempotency_key is None or not result.importable:
            return Response(FinanceImportOut.of(result, dry_run=dry_run), status_code=200 if result.importable else 422)

        async def work() -> FinanceImportOut:
            done = await actions.finance_import(content, dry_run=False)
            if not done.importable:  # the contracts changed between the check and the import
                raise Conflict(_("The contracts changed while the file was being imported. Please send it again."))
            return FinanceImportOut.of(done, dry_run=False)

        file_hash = hashlib.sha256(content).hexdigest()
        return await idempotent(request, db_session, idempotency_key, work, body=file_hash, status_code=200)

    @get("/{contract_id:uuid}", guards=[requires("contract", "view")])
    async def get_one(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractOut:
        """One contract with its documents and parties."""
        return ContractOut.of(await actions.contract(contract_id))

    @get("/{contract_id:uuid}/status", guards=[requires("contract", "view")])
    async def status(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Status of the contract and of every party."""
        return ContractStatusOut.of(await actions.contract(contract_id))

    @post(
        "/{contract_id:uuid}/documents",
        guards=[requires("contract", "draft")],
        request_max_body_size=UPLOAD_LIMIT,
        status_code=201,
    )
    async def upload(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[list[DocumentOut]]:
        """Add PDFs (multipart ``files``) to a draft; an ``Idempotency-Key`` keeps a retry from adding them twice."""

        async def work() -> list[DocumentOut]:
            return [DocumentOut.of(d) for d in await actions.add_documents(contract_id, await uploads(data))]

        return await idempotent(request, db_session, idempotency_key, work, body=data)

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")], status_code=201)
    async def add_party(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.PartyInput],
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[PartyOut]:
        """Add a party; the same ``order_no`` means in parallel; ``address_book_entry_id`` takes a contractor
        from the member's address book. An ``Idempotency-Key`` keeps a retry from adding the party twice."""

        async def work() -> PartyOut:
            return PartyOut.of(await actions.add_party(contract_id, data))

        return await idempotent(request, db_session, idempotency_key, work, body=data)

    @patch("/{contract_id:uuid}", guards=[requires("contract", "draft")])
    async def edit(
        self, *, contract_id: FromPath[uuid.UUID], data: DraftChangesBody, actions: NamedDependency[svc.ContractActions]
    ) -> ContractOut:
        """Change a draft's particulars: fields left out (or null) stay; ``clear`` empties optional ones.

        Refused with 409 once the contract has been sent. Each change is an audit event (before → after).
        """
        return ContractOut.of(await actions.edit(contract_id, data))

    @delete("/{contract_id:uuid}", guards=[requires("contract", "draft")], status_code=204)
    async def delete_draft(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> None:
        """Delete a draft that was never sent: files, parties and boxes go; the audit trail records the deletion."""
        await actions.delete_draft(contract_id)

    @post("/{contract_id:uuid}/copy", guards=[requires("contract", "draft")], status_code=201)
    async def copy(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ContractOut]:
        """A new draft from any contract: particulars, the original files, parties (without access passwords), boxes.

        With an ``Idempotency-Key`` a retry returns the same copy.
        """

        async def work() -> ContractOut:
            return ContractOut.of(await actions.copy(contract_id))

        return await idempotent(request, db_session, idempotency_key, work)

    @post("/{contract_id:uuid}/revise", guards=[requires("contract", "draft")], status_code=201)
    async def revise(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ContractOut]:
        """After a decline: a new version as a draft (``previous_id`` names the declined one), to change and send.

        With an ``Idempotency-Key`` a retry returns the same new version.
        """

        async def work() -> ContractOut:
            return ContractOut.of(await actions.revise(contract_id))

        return await idempotent(request, db_session, idempotency_key, work)

    @get("/{contract_id:uuid}/audit-trail", guards=[requires("audit", "view")])
    async def audit_trail(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
        page: FromQuery[int] = 1,
        per_page: FromQuery[int] = 50,
    ) -> AuditTrailOut:
        """The contract's audit trail, newest first (at most 200 a page), with the hashes of its chain."""
        result = await actions.contract_trail(contract_id, page=page, per_page=per_page)
        return AuditTrailOut(
            contract_id=contract_id,
            items=[AuditEventOut.of(entry.event) for entry in result.items],
            page=result.page,
            per_page=result.per_page,
            has_next=result.has_next,
        )

    @get("/{contract_id:uuid}/parties", guards=[requires("contract", "view")])
    async def parties(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> list[PartyOut]:
        """The parties in their order (the same ``order_no`` agree in parallel)."""
        return [PartyOut.of(p) for p in (await actions.contract(contract_id)).parties]

    @put("/{contract_id:uuid}/parties/order", guards=[requires("contract", "draft")])
    async def reorder_parties(
        self, *, contract_id: FromPath[uuid.UUID], data: PartyOrderBody, actions: NamedDependency[svc.ContractActions]
    ) -> list[PartyOut]:
        """Put every party of a draft in a new order: a list of steps, the parties of one step in parallel.

        Order numbers are given 1, 2, 3 … by the steps.
        """
        return [PartyOut.of(p) for p in await actions.reorder_parties(contract_id, data)]

    @patch("/{contract_id:uuid}/parties/{party_id:uuid}", guards=[requires("contract", "draft")])
    async def edit_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: PartyChangesBody,
        actions: NamedDependency[svc.ContractActions],
    ) -> PartyOut:
        """Correct a party of a draft (a contractor's company, name, e-mail, password; a signer and title)."""
        return PartyOut.of(await actions.edit_party(contract_id, party_id, data))

    @delete("/{contract_id:uuid}/parties/{party_id:uuid}", guards=[requires("contract", "draft")], status_code=204)
    async def remove_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> None:
        """Remove a party of a draft with the boxes it would fill; the others are renumbered without a gap."""
        await actions.remove_party(contract_id, party_id)

    @get("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "view")])
    async def text_boxes(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> list[TextBoxOut]:
        """The text boxes, by page (PDF points, origin bottom-left, zero-based page)."""
        return [TextBoxOut.of(b) for b in await actions.text_boxes(contract_id)]

    @patch("/{contract_id:uuid}/text-boxes/{text_box_id:uuid}", guards=[requires("contract", "draft")])
    async def edit_box(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        data: TextBoxChangesBody,
        actions: NamedDependency[svc.ContractActions],
    ) -> TextBoxOut:
        """Move, resize, relabel or reassign a text box of a draft (checked as a new box is)."""
        return TextBoxOut.of(await actions.edit_text_box(contract_id, text_box_id, data))

    @delete(
        "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}", guards=[requires("contract", "draft")], status_code=204
    )
    async def remove_box(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> None:
        """Delete a text box of a draft."""
        await actions.remove_text_box(contract_id, text_box_id)

    @put(
        "/{contract_id:uuid}/documents/{document_id:uuid}",
        guards=[requires("contract", "draft")],
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def replace_draft_document(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
    ) -> DocumentOut:
        """Replace a file of a draft (multipart ``file``), checked as every upload is; its boxes keep their place."""
        files = await uploads(data, "file")
        return DocumentOut.of(
            await actions.replace_draft_document(contract_id, document_id, files[0] if files else None)
        )

    @delete("/{contract_id:uuid}/documents/{document_id:uuid}", guards=[requires("contract", "draft")], status_code=204)
    async def remove_document(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> None:
        """Remove a file of a draft with the text boxes placed on it."""
        await actions.remove_document(contract_id, document_id)

    @post(
        "/{contract_id:uuid}/parties/{party_id:uuid}/password", guards=[requires("contract", "send")], status_code=200
    )
    async def set_password(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        party_id: FromPath[uuid.UUID],
        data: JSONBody[svc.PasswordInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> PartyOut:
        """Set a new access password for a contractor (e.g. for a forwardee, or after a lock-out)."""
        return PartyOut.of(await actions.set_password(contract_id, party_id, data))

    @post("/{contract_id:uuid}/text-boxes", guards=[requires("contract", "draft")], status_code=201)
    async def add_box(
        self,
        *,
        request: Request[Any, Any, Any],
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.TextBoxInput],
        actions: NamedDependency[svc.ContractActions],
        db_session: NamedDependency[AsyncSession],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[TextBoxOut]:
        """Place a text box (PDF points, origin bottom-left, zero-based page); an ``Idempotency-Key`` keeps a retry
        from placing it twice."""

        async def work() -> TextBoxOut:
            return TextBoxOut.of(await actions.add_text_box(contract_id, data))

        return await idempotent(request, db_session, idempotency_key, work, body=data)

    @post("/{contract_id:uuid}/send", guards=[requires("contract", "send")], status_code=200)
    async def send(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Start circulation: the first party (or parties) get their mail."""
        return ContractStatusOut.of(await actions.send(contract_id))

    @post("/{contract_id:uuid}/cancel", guards=[requires("contract", "cancel")], status_code=200)
    async def cancel(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> ContractStatusOut:
        """Cancel until completion; every link stops working."""
        return ContractStatusOut.of(await actions.cancel(contract_id))

    @post(
        "/{contract_id:uuid}/documents/{document_id:uuid}/replace",
        guards=[requires("contract", "send")],
        request_max_body_size=UPLOAD_LIMIT,
        status_code=200,
    )
    async def replace_document(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        data: FormData,
        actions: NamedDependency[svc.ContractActions],
    ) -> ContractStatusOut:
        """Replace a file of a contract that could not be sealed (status ``seal_failed``; multipart ``file``).

        Every party is asked to agree again, from the first.
        """
        files = await uploads(data, "file")
        contract = await actions.replace_document(contract_id, document_id, files[0] if files else None)
        return ContractStatusOut.of(contract)

    @post(
        "/{contract_id:uuid}/text-boxes/{text_box_id:uuid}/correction",
        guards=[requires("contract", "send")],
        status_code=200,
    )
    async def request_correction(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        text_box_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> ContractStatusOut:
        """Ask the party who entered a value that cannot be sealed to correct it (status ``seal_failed``)."""
        return ContractStatusOut.of(await actions.request_correction(contract_id, text_box_id))

    @get(
        "/{contract_id:uuid}/documents/{document_id:uuid}",
        guards=[requires("contract", "download")],
        media_type="application/pdf",
    )
    async def download(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        actions: NamedDependency[svc.ContractActions],
    ) -> Response[bytes]:
        """The document (sealed when sealing has finished)."""
        return download_response(await actions.download(contract_id, document_id))

    @get("/{contract_id:uuid}/certificate", guards=[requires("contract", "download")], media_type="application/pdf")
    async def certificate(
        self, *, contract_id: FromPath[uuid.UUID], actions: NamedDependency[svc.ContractActions]
    ) -> Response[bytes]:
        """The sealed certificate of conclusion (締結証明書)."""
        return download_response(await actions.certificate(contract_id))
