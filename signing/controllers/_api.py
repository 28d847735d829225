"""The contracts API for other systems of a member (API key), JSON; documented at /schema."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from core.errors import ServiceError
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
from signing.schemas import ContractOut, ContractPage, ContractStatusOut, DocumentOut, PartyOut, TextBoxOut


class ContractApiController(Controller):
    """Contracts for other systems of a member (API key), JSON."""

    path = "/api/v1/contracts"
    dependencies = {"filters": Provide(provide_search_filters), "actions": Provide(provide_actions)}  # noqa: RUF012
    tags = ["contracts"]  # noqa: RUF012
    guards = [requires_member_staff]  # noqa: RUF012
    exception_handlers = {ServiceError: error_response}  # noqa: RUF012

    @post("/", guards=[requires("contract", "draft")], request_max_body_size=UPLOAD_LIMIT, status_code=201)
    async def create(self, *, data: FormData, actions: NamedDependency[svc.ContractActions]) -> ContractOut:
        """Create a draft (multipart: subject, title_id, contract_number, amount, transaction_date, counterparty,
        department_id, and one or more ``files``)."""
        return ContractOut.of(await actions.create(contract_input(data), await uploads(data)))

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
        self, *, contract_id: FromPath[uuid.UUID], data: FormData, actions: NamedDependency[svc.ContractActions]
    ) -> list[DocumentOut]:
        """Add PDFs (multipart ``files``) to a draft."""
        added = await actions.add_documents(contract_id, await uploads(data))
        return [DocumentOut.of(d) for d in added]

    @post("/{contract_id:uuid}/parties", guards=[requires("contract", "draft")], status_code=201)
    async def add_party(
        self,
        *,
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.PartyInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> PartyOut:
        """Add a party; the same ``order_no`` means in parallel; ``address_book_entry_id`` takes a contractor
        from the member's address book."""
        return PartyOut.of(await actions.add_party(contract_id, data))

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
        contract_id: FromPath[uuid.UUID],
        data: JSONBody[svc.TextBoxInput],
        actions: NamedDependency[svc.ContractActions],
    ) -> TextBoxOut:
        """Place a text box (PDF points, origin bottom-left, zero-based page)."""
        return TextBoxOut.of(await actions.add_text_box(contract_id, data))

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
