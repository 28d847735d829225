"""What a member's staff and other systems do with contracts: one method per action, for the screens and the API."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, Invalid, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from core.settings import Settings
from signing.audit import Actor, Origin, append_event, verify_member_trail
from signing.models import (
    AuditKind,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyKind,
    PartyStatus,
    TextBox,
)
from signing.repositories import ContractRepository, SearchFilters, TrailFilters
from signing.services._circulation import cancel, send, staff_agree
from signing.services._common import get_contract
from signing.services._corrections import correctable_box, replace_document, request_correction
from signing.services._downloads import Download, certificate_download, document_download, page_preview_png
from signing.services._drafts import (
    ContractInput,
    PartyInput,
    TextBoxInput,
    add_documents,
    add_party,
    add_text_box,
    create_contract,
    set_party_password,
)
from signing.services._editing import (
    DraftChanges,
    PartyChanges,
    PartyMove,
    PartyOrder,
    TextBoxChanges,
    copy_contract,
    delete_draft,
    edit_draft,
    edit_party,
    edit_text_box,
    move_party,
    remove_document,
    remove_party,
    remove_text_box,
    reorder_parties,
    replace_draft_document,
    revise_declined,
)
from signing.services._exports import to_csv, trail_csv
from signing.services._finance import FinanceImport, finance_csv, finance_import
from signing.services._search import SearchPage, TrailPage, search, trail
from signing.services._values import answer_problems, value_problems
from tenants.models import AddressBookEntry, ContractTitle, Staff


@dataclass(frozen=True)
class UploadedFile:
    """A file as it arrived: its name as the sender gave it, and its bytes (checked by the services)."""

    name: str
    data: bytes


@dataclass
class PasswordInput:
    """A new access password for a contractor (pass it on by phone or paper); spaces around it are dropped."""

    password: str


@dataclass
class ContractView:
    """What the contract page shows besides the contract itself."""

    contract: Contract
    boxes: list[TextBox]
    signers: list[tuple[Staff, ContractTitle]]
    """Staff and the titles they may sign under (while the contract is a draft)."""
    address_book: list[tuple[AddressBookEntry, str, str, str]]
    my_turn: bool
    """The caller is a member signer whose turn it is."""
    my_boxes: list[TextBox]
    correctable_box: TextBox | None
    """The text box whose value stopped the seal, when a corrected value can fix it."""
    undelivered: list[str]
    """Addresses a mail about this contract could not be delivered to."""


def _contractor_of(contract: Contract, party_id: uuid.UUID) -> Party:
    party = next((p for p in contract.parties if p.id == party_id), None)
    if party is None:
        raise NotFound(_("The party was not found."))
    if party.kind is not PartyKind.CONTRACTOR:
        raise Invalid(_("Only contractors have an access password."))
    return party


def _files(files: Sequence[UploadedFile]) -> list[tuple[str, bytes]]:
    if not files:
        raise Invalid(_("Please choose at least one PDF file."))
    return [(f.name, f.data) for f in files]


class ContractActions:
    """What a member's staff (on the screens) and its other systems (through the API) do with its contracts.

    One method per action. The HTML handler and its JSON twin call the same
    method with the same input, so an action's checks, its audit event and its
    mail cannot drift apart between the two. Every method reads the contract
    as the caller may see it (another member's or another department's is not
    found) and works in the request's transaction; the request commits.
    """

    def __init__(self, session: AsyncSession, settings: Settings, principal: Principal, origin: Origin) -> None:
        if principal.member_id is None:
            raise Forbidden(_("Only staff of a member organisation can work with contracts."))
        self.session = session
        self.settings = settings
        self.principal = principal
        self.member_id: uuid.UUID = principal.member_id
        self.who = Actor.of_principal(principal, origin)
        self.repo = ContractRepository(session, principal.member_id)

    async def contract(self, contract_id: uuid.UUID) -> Contract:
        """The contract with its documents and parties (404 when the caller may not see it)."""
        return await get_contract(self.session, contract_id, self.principal)

    # ---------------------------------------------------------------- drafting

    async def titles(self) -> Sequence[ContractTitle]:
        """The titles a new contract may be concluded under."""
        return await self.repo.active_titles()

    async def create(self, data: ContractInput, files: Sequence[UploadedFile] = ()) -> Contract:
        """A new draft with its files (every file is checked before any is stored)."""
        contract = await create_contract(self.session, self.principal, data, self.who)
        if files:
            await add_documents(self.session, self.settings, contract, [(f.name, f.data) for f in files], self.who)
        return contract

    async def add_documents(self, contract_id: uuid.UUID, files: Sequence[UploadedFile]) -> list[ContractDocument]:
        """Add PDFs to a draft."""
        contract = await self.contract(contract_id)
        return await add_documents(self.session, self.settings, contract, _files(files), self.who)

    async def add_party(self, contract_id: uuid.UUID, data: PartyInput) -> Party:
        """Add a party (a contractor, one from the address book, or a member signer) to a draft."""
        return await add_party(self.session, await self.contract(contract_id), data, self.who)

    async def add_text_box(self, contract_id: uuid.UUID, data: TextBoxInput) -> TextBox:
        """Place a text box on a page of a draft's document."""
        return await add_text_box(self.session, await self.contract(contract_id), data, self.who)

    async def contractor(self, contract_id: uuid.UUID, party_id: uuid.UUID) -> tuple[Contract, Party]:
        """A contractor party of the contract (for the password form)."""
        contract = await self.contract(contract_id)
        return contract, _contractor_of(contract, party_id)

    async def set_password(self, contract_id: uuid.UUID, party_id: uuid.UUID, data: PasswordInput) -> Party:
        """Set a contractor's new access password; it also unlocks the link."""
        contract, party = await self.contractor(contract_id, party_id)
        await set_party_password(self.session, contract, party, data.password.strip(), self.who)
        return party

    # ---------------------------------------------------------------- editing a draft (signing.services._editing)

    async def discard(self) -> None:
        """Undo whatever a refused action may have written, so its form can be shown again as it was."""
        await self.session.rollback()

    async def edit(self, contract_id: uuid.UUID, data: DraftChanges) -> Contract:
        """Change a draft's particulars (subject, number, amount, date, counterparty, department, title)."""
        return await edit_draft(self.session, self.principal, await self.contract(contract_id), data, self.who)

    async def edit_party(self, contract_id: uuid.UUID, party_id: uuid.UUID, data: PartyChanges) -> Party:
        """Correct a party of a draft."""
        return await edit_party(self.session, await self.contract(contract_id), party_id, data, self.who)

    async def remove_party(self, contract_id: uuid.UUID, party_id: uuid.UUID) -> None:
        """Remove a party of a draft, with the boxes it would fill."""
        await remove_party(self.session, await self.contract(contract_id), party_id, self.who)

    async def reorder_parties(self, contract_id: uuid.UUID, data: PartyOrder) -> list[Party]:
        """Put the parties of a draft in a new order of steps (parallel parties share a step)."""
        return await reorder_parties(self.session, await self.contract(contract_id), data, self.who)

    async def move_party(self, contract_id: uuid.UUID, party_id: uuid.UUID, how: PartyMove) -> list[Party]:
        """Move one party a step up or down, or in parallel with the step before, or apart."""
        return await move_party(self.session, await self.contract(contract_id), party_id, how, self.who)

    async def text_boxes(self, contract_id: uuid.UUID) -> list[TextBox]:
        """The text boxes of a contract the caller may see."""
        contract = await self.contract(contract_id)
        return await self.repo.text_boxes(contract.id)

    async def edit_text_box(self, contract_id: uuid.UUID, box_id: uuid.UUID, data: TextBoxChanges) -> TextBox:
        """Move, resize, relabel or reassign a text box of a draft."""
        return await edit_text_box(self.session, await self.contract(contract_id), box_id, data, self.who)

    async def remove_text_box(self, contract_id: uuid.UUID, box_id: uuid.UUID) -> None:
        """Delete a text box of a draft."""
        await remove_text_box(self.session, await self.contract(contract_id), box_id, self.who)

    async def replace_draft_document(
        self, contract_id: uuid.UUID, document_id: uuid.UUID, file: UploadedFile | None
    ) -> ContractDocument:
        """Replace a file of a draft (checked as every upload is)."""
        if file is None:
            raise Invalid(_("Please choose at least one PDF file."))
        return await replace_draft_document(
            self.session,
            self.settings,
            await self.contract(contract_id),
            document_id=document_id,
            file_name=file.name,
            data=file.data,
            who=self.who,
        )

    async def remove_document(self, contract_id: uuid.UUID, document_id: uuid.UUID) -> None:
        """Remove a file of a draft, with the boxes placed on it."""
        await remove_document(self.session, await self.contract(contract_id), document_id, self.who)

    async def delete_draft(self, contract_id: uuid.UUID) -> None:
        """Delete a draft that was never sent (recorded in its trail)."""
        await delete_draft(self.session, await self.contract(contract_id), self.who)

    async def copy(self, contract_id: uuid.UUID) -> Contract:
        """A new draft from any contract the caller may see: files, parties (no passwords), boxes."""
        return await copy_contract(self.session, self.principal, await self.contract(contract_id), self.who)

    async def revise(self, contract_id: uuid.UUID) -> Contract:
        """A new version of a declined contract, as a draft to revise and send again."""
        return await revise_declined(self.session, self.principal, await self.contract(contract_id), self.who)

    async def contract_trail(self, contract_id: uuid.UUID, *, page: int = 1, per_page: int = 50) -> TrailPage:
        """The audit trail of one contract the caller may see, newest first."""
        contract = await self.contract(contract_id)
        return await trail(
            self.session, self.member_id, TrailFilters(contract=str(contract.id)), page=page, per_page=per_page
        )

    # ---------------------------------------------------------------- circulation

    async def send(self, contract_id: uuid.UUID) -> Contract:
        """Start circulation: the first party (or parties) get their mail.

        A contractor without an access password (a copied contract's) is refused first: nobody could open the link.
        """
        contract = await self.contract(contract_id)
        if contract.status is ContractStatus.DRAFT:
            unlocked = next(
                (p for p in contract.parties if p.kind is PartyKind.CONTRACTOR and not p.password_hash), None
            )
            if unlocked is not None:
                raise Invalid(_("Please set an access password for {name} before sending.").format(name=unlocked.label))
        return await send(self.session, self.settings, contract, self.who)

    async def cancel(self, contract_id: uuid.UUID) -> Contract:
        """Cancel until completion; every link stops working."""
        return await cancel(self.session, self.settings, await self.contract(contract_id), self.who)

    async def sign(self, contract_id: uuid.UUID, values: dict[str, str]) -> Contract:
        """Agree as a member signer under the title granted, filling the signer's boxes."""
        contract = await self.contract(contract_id)
        await staff_agree(
            self.session, self.settings, contract=contract, principal=self.principal, values=values, who=self.who
        )
        return contract

    async def sign_problems(
        self, contract_id: uuid.UUID, values: dict[str, str], *, live: bool = False
    ) -> dict[str, str]:
        """Box id → why a value the signer typed cannot be agreed; ``live``: only what the seal cannot print.

        ``live`` is the check while typing (an empty box is not yet a problem).
        """
        view = await self.view(contract_id)
        if live:
            return await value_problems(view.my_boxes, values)
        return await answer_problems(view.my_boxes, values)

    async def replace_document(
        self, contract_id: uuid.UUID, document_id: uuid.UUID, file: UploadedFile | None
    ) -> Contract:
        """Replace a file of a contract that could not be sealed; it circulates again from the first party."""
        contract = await self.contract(contract_id)
        if file is None:
            raise Invalid(_("Please choose at least one PDF file."))
        await replace_document(
            self.session,
            self.settings,
            contract,
            document_id=document_id,
            file_name=file.name,
            data=file.data,
            who=self.who,
        )
        return contract

    async def request_correction(self, contract_id: uuid.UUID, text_box_id: uuid.UUID) -> Contract:
        """Ask the party who typed a value that cannot be sealed to correct it."""
        contract = await self.contract(contract_id)
        await request_correction(self.session, self.settings, contract, text_box_id, self.who)
        return contract

    # ---------------------------------------------------------------- reading

    async def view(self, contract_id: uuid.UUID) -> ContractView:
        """The contract page: boxes, who may sign, the address book, the caller's turn and boxes."""
        contract = await self.contract(contract_id)
        boxes = await self.repo.text_boxes(contract.id)
        signers = await self.repo.signers() if contract.status is ContractStatus.DRAFT else []
        book = await self.repo.address_book() if self.principal.can("addressbook", "view") else []
        me = self.principal.id
        mine = {p.id for p in contract.parties if p.kind is PartyKind.STAFF and p.staff_id == me}
        return ContractView(
            contract=contract,
            boxes=boxes,
            signers=signers,
            address_book=book,
            my_turn=any(p.id in mine and p.status is PartyStatus.NOTIFIED for p in contract.parties),
            my_boxes=[b for b in boxes if b.party_id in mine],
            correctable_box=correctable_box(contract, boxes),
            undelivered=await self.repo.undelivered_mail(contract.id),
        )

    async def download(self, contract_id: uuid.UUID, document_id: uuid.UUID) -> Download:
        """A document (the sealed file once the contract is concluded), recorded in the trail."""
        contract = await self.contract(contract_id)
        return await document_download(self.session, self.settings, contract, document_id, self.who)

    async def certificate(self, contract_id: uuid.UUID) -> Download:
        """The sealed certificate of conclusion (締結証明書), recorded in the trail."""
        contract = await self.contract(contract_id)
        return await certificate_download(self.session, self.settings, contract, self.who)

    async def preview(self, contract_id: uuid.UUID, document_id: uuid.UUID, page: int) -> bytes:
        """A page preview (PNG)."""
        contract = await self.contract(contract_id)
        return await page_preview_png(self.session, self.settings, contract, document_id, page)

    async def search(self, filters: SearchFilters, *, page: int = 1, per_page: int = 50) -> SearchPage:
        """A page of the contracts the caller may see that match the search keys.

        A search (any key given) is a staff operation and is kept in the
        member's trail (DAT-6) as ``searched`` with the keys as typed and the
        page asked for; nothing of the contracts found is written. Browsing the
        list without keys is not a search and is not logged.
        """
        result = await search(self.session, self.principal, filters, page=page, per_page=per_page)
        terms = filters.terms()
        if terms:
            await append_event(
                self.session,
                member_id=self.member_id,
                contract_id=None,
                kind=AuditKind.SEARCHED,
                who=self.who,
                detail={"terms": terms, "page": result.page},
            )
        return result

    async def export(self, filters: SearchFilters) -> Download:
        """The search result as CSV (UTF-8 with BOM, for Excel); the export is recorded in the trail."""
        body = await to_csv(self.session, self.principal, filters)
        await append_event(
            self.session,
            member_id=self.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=self.who,
            detail={"terms": filters.terms()},
        )
        return Download(body, "contracts.csv", media_type="text/csv; charset=utf-8")

    async def finance_export(self, filters: SearchFilters) -> Download:
        """The search result in the finance system's columns, hashes included (UTF-8, BOM); recorded in the trail."""
        body = await finance_csv(self.session, self.principal, filters)
        await append_event(
            self.session,
            member_id=self.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=self.who,
            detail={"finance": True, "terms": filters.terms()},
        )
        return Download(body, "contracts-finance.csv", media_type="text/csv; charset=utf-8")

    async def finance_import(self, data: bytes, *, dry_run: bool, fingerprint: str = "") -> FinanceImport:
        """Check a finance CSV and, unless ``dry_run``, make and change the drafts it says: every row or none."""
        return await finance_import(
            self.session, self.principal, self.who, data, dry_run=dry_run, fingerprint=fingerprint
        )

    # ---------------------------------------------------------------- the audit trail

    async def trail(self, filters: TrailFilters, *, page: int = 1, per_page: int = 50) -> TrailPage:
        """A page of the member's audit trail, newest first."""
        return await trail(self.session, self.member_id, filters, page=page, per_page=per_page)

    async def verify_trail(self, cache: Redis | None) -> tuple[list[int], int]:
        """Ids of the member's events that break their chains, and how many were checked (the whole trail)."""
        return await verify_member_trail(self.session, cache, self.member_id)

    async def export_trail(self, filters: TrailFilters) -> Download:
        """The filtered audit trail as CSV (UTF-8 with BOM); the export itself is recorded in the trail."""
        body = await trail_csv(self.session, self.member_id, filters)
        await append_event(
            self.session,
            member_id=self.member_id,
            contract_id=None,
            kind=AuditKind.EXPORTED,
            who=self.who,
            detail={"audit_trail": True, "terms": {k: str(v) for k, v in dataclasses.asdict(filters).items() if v}},
        )
        return Download(body, "audit-trail.csv", media_type="text/csv; charset=utf-8")
