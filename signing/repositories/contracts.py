"""Every query of the contracts workflow, its screens and its audit trail, in one member's scope.

Services build a :class:`ContractRepository` for the member they act for
(``ContractRepository(session, principal.member_id)`` or the contract's
``member_id``) and ask it; nothing else in the signing domain writes
``select(Contract)`` or ``Contract.member_id == …``. Reading what a caller may
see is one method, :meth:`ContractRepository.visible`: the member by the
repository's scope (and by row-level security underneath), the department by
the caller's view scope.

A repository with ``member_id=None`` reads every member's rows and is made only
inside :func:`core.scope.elevated`: to find the party behind a contractor's
link, the parties due for a reminder, and the sealed file an uploaded PDF
matches.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, func, literal_column, or_, select, text, true, update
from sqlalchemy.orm import InstrumentedAttribute, aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from core.dates import JST
from core.repository import MemberScopedRepository
from core.scope import Principal
from signing.models import (
    AuditEvent,
    AuditKind,
    ConclusionCertificate,
    Contract,
    ContractDocument,
    ContractStatus,
    Party,
    PartyStatus,
    SealedDocument,
    TextBox,
)
from tenants.models import (
    AddressBookEntry,
    ContractorCompany,
    ContractorContact,
    ContractTitle,
    Department,
    Member,
    OperatorAccount,
    Staff,
    TitleGrant,
    ViewScope,
)

__all__ = ["ContractRepository", "SearchFilters", "TrailFilters", "TrailRow"]


TrailRow = tuple[AuditEvent, str | None, str | None]
"""An audit event with the subject and number of its contract (None for operations such as searches)."""


@dataclass
class SearchFilters:
    """Search keys, combined with AND (SAP-6(23), 電子帳簿保存法)."""

    word: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    counterparty: str = ""
    status: ContractStatus | None = None
    todo: str = ""
    """A section of the start page's to-do list (:class:`signing.repositories.todo.ToDo`), e.g. ``sign``."""

    def terms(self) -> dict[str, str]:
        """The keys that were given, as text (what the audit trail records of a search)."""
        return {key: str(value) for key, value in asdict(self).items() if value not in (None, "")}


@dataclass
class TrailFilters:
    """Keys of the audit-log screen: one contract (its ID or contract number) and days in Japan time."""

    contract: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _fold(value: str) -> str:
    """Full-width and half-width forms alike (ＡＢＣ１２３ → ABC123, ｶﾅ → カナ): Unicode NFKC."""
    return unicodedata.normalize("NFKC", value).strip()


def _folded(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """The column folded by PostgreSQL the way :func:`_fold` folds the search word."""
    return func.normalize(column, literal_column("NFKC"))


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ContractRepository(MemberScopedRepository):
    """Contracts, their parts and their trail, within one member (or, elevated, across members)."""

    # ------------------------------------------------------------------ contracts

    def visible(self, principal: Principal) -> Select[tuple[Contract]]:
        """Contracts the caller may read: their member's, and only their department's under a department scope."""
        # The caller's member even when this repository is unscoped: a principal
        # without a member (secretariat, operator) reads no contract at all.
        statement = self.scoped(Contract).where(Contract.member_id == principal.member_id)
        # A deleted draft keeps its row only for its audit trail.
        statement = statement.where(Contract.deleted_at.is_(None))
        if principal.view_scope is ViewScope.DEPARTMENT and not principal.can("contract", "view_all"):
            statement = statement.where(Contract.department_id == principal.department_id)
        return statement

    async def contract(self, contract_id: uuid.UUID, principal: Principal | None = None) -> Contract | None:
        """The contract with its documents, parties and sealed files, read afresh; None when not visible."""
        statement = self.visible(principal) if principal is not None else self.scoped(Contract)
        # One SELECT of the row and one per collection (a refresh would first select the row's id again).
        return await self.first(
            statement.where(Contract.id == contract_id)
            .options(
                selectinload(Contract.documents),
                selectinload(Contract.parties),
                selectinload(Contract.sealed_documents),
            )
            .execution_options(populate_existing=True)
        )

    async def lock(self, contract: Contract) -> None:
        """Lock the contract's row for this transaction and re-read its status and parties."""
        # Two statements: the row's status, locked, and its parties read afresh (the collection set
        # from them as the relationship orders it), the rest of the loaded contract left as it is.
        status = await self.session.scalar(
            self.scoped(Contract).with_only_columns(Contract.status).where(Contract.id == contract.id).with_for_update()
        )
        parties = await self.all(
            self.scoped(Party)
            .where(Party.contract_id == contract.id)
            .order_by(Party.order_no, Party.created_at)
            .execution_options(populate_existing=True)
        )
        set_committed_value(contract, "status", status)
        set_committed_value(contract, "parties", list(parties))

    async def text_boxes(self, contract_id: uuid.UUID) -> list[TextBox]:
        """The contract's text boxes, by page and creation."""
        rows = await self.all(
            self.scoped(TextBox).where(TextBox.contract_id == contract_id).order_by(TextBox.page, TextBox.created_at)
        )
        return list(rows)

    async def revision_of(self, contract_id: uuid.UUID) -> Contract | None:
        """The contract that revises this (declined) one, if any, deleted drafts left out."""
        return await self.first(
            self.scoped(Contract).where(Contract.previous_id == contract_id, Contract.deleted_at.is_(None)).limit(1)
        )

    async def latest_certificate(self, contract_id: uuid.UUID) -> ConclusionCertificate | None:
        """The newest sealed certificate of conclusion of the contract."""
        return await self.first(
            self.scoped(ConclusionCertificate)
            .where(ConclusionCertificate.contract_id == contract_id)
            .order_by(ConclusionCertificate.version.desc())
            .limit(1)
        )

    # ------------------------------------------------------------------ what drafting needs of the member

    async def member(self) -> Member | None:
        """The member this repository works for."""
        if self.member_id is None:
            return None
        return await self.session.get(Member, self.member_id)

    async def title(self, title_id: uuid.UUID) -> ContractTitle | None:
        """A contract title of the member."""
        return await self.get(ContractTitle, title_id)

    async def active_titles(self) -> Sequence[ContractTitle]:
        """The member's titles that new contracts may use, in their order."""
        return await self.all(
            self.scoped(ContractTitle)
            .where(ContractTitle.active.is_(True))
            .order_by(ContractTitle.sort_order, ContractTitle.name)
        )

    async def department(self, department_id: uuid.UUID) -> Department | None:
        """A department of the member."""
        return await self.get(Department, department_id)

    async def departments(self) -> Sequence[Department]:
        """The member's departments, by code."""
        return await self.all(self.scoped(Department).order_by(Department.code))

    async def of_department(self, department_id: uuid.UUID) -> Sequence[Contract]:
        """Every contract of a department (deleted drafts included: their row still names it), locked."""
        return await self.all(
            self.scoped(Contract)
            .where(Contract.department_id == department_id)
            .options(selectinload(Contract.documents))
            .order_by(Contract.created_at)
            .with_for_update(of=Contract)
        )

    async def staff(self, staff_id: uuid.UUID) -> Staff | None:
        """A staff member of the member."""
        return await self.get(Staff, staff_id)

    async def holds_title(self, staff_id: uuid.UUID, title_id: uuid.UUID | None) -> bool:
        """True when the staff member may conclude contracts under the title."""
        grant = await self.first(
            self.scoped(TitleGrant).where(TitleGrant.staff_id == staff_id, TitleGrant.title_id == title_id)
        )
        return grant is not None

    async def signers(self) -> list[tuple[Staff, ContractTitle]]:
        """Every staff member with a title they may sign under, by name."""
        rows = await self.session.execute(
            self.scoped(Staff)
            .add_columns(ContractTitle)
            .join(TitleGrant, TitleGrant.staff_id == Staff.id)
            .join(ContractTitle, ContractTitle.id == TitleGrant.title_id)
            .order_by(Staff.name)
        )
        return [(staff, title) for staff, title in rows.tuples().all()]

    async def address_book(self) -> list[tuple[AddressBookEntry, str, str, str]]:
        """The member's address book: entry, company, person, e-mail."""
        rows = await self.session.execute(
            self.scoped(AddressBookEntry)
            .add_columns(ContractorCompany.name, ContractorContact.name, ContractorContact.email)
            .join(ContractorContact, ContractorContact.id == AddressBookEntry.contact_id)
            .join(ContractorCompany, ContractorCompany.id == AddressBookEntry.company_id)
            .order_by(ContractorCompany.name, ContractorContact.name)
        )
        return [(entry, company, name, email) for entry, company, name, email in rows.tuples().all()]

    async def address_book_entry(self, entry_id: uuid.UUID) -> tuple[ContractorCompany, ContractorContact] | None:
        """The company and person of one entry of the member's address book."""
        entry = await self.get(AddressBookEntry, entry_id)
        if entry is None:
            return None
        company = await self.session.get(ContractorCompany, entry.company_id)
        contact = await self.session.get(ContractorContact, entry.contact_id)
        if company is None or contact is None:
            return None
        return company, contact

    async def operator_emails(self) -> list[str]:
        """Addresses of the provider's active operators (alerts name a contract, never its contents)."""
        rows = await self.session.scalars(select(OperatorAccount.email).where(OperatorAccount.active))
        return sorted(set(rows.all()))

    # ------------------------------------------------------------------ parties

    def _parties(self, party_id: uuid.UUID) -> Update:
        statement = update(Party).where(Party.id == party_id)
        if self.member_id is not None:
            statement = statement.where(Party.member_id == self.member_id)
        return statement.execution_options(synchronize_session=False)

    async def party_by_token_hash(self, token_hash: str) -> Party | None:
        """The party whose personal link has this hash."""
        return await self.first(self.scoped(Party).where(Party.token_hash == token_hash))

    async def due_for_reminder(self, due: dt.datetime, *, limit: int = 500) -> Sequence[Party]:
        """Parties asked before ``due`` (or last reminded before it) who have not answered, locked for this run.

        Rows another run holds are skipped, so two runs never remind the same party twice.
        """
        return await self.all(
            self.scoped(Party)
            .join(Contract, Contract.id == Party.contract_id)
            .where(
                Contract.status == ContractStatus.CIRCULATING,
                Party.status == PartyStatus.NOTIFIED,
                Party.locked.is_(False),
                func.coalesce(Party.reminded_at, Party.notified_at) < due,
            )
            .with_for_update(of=Party, skip_locked=True)
            .limit(limit)
        )

    async def set_party_password(self, party_id: uuid.UUID, password_hash: str) -> None:
        """Write a new access password and clear the failed attempts and the lock, whatever was read earlier."""
        await self.session.execute(
            self._parties(party_id).values(password_hash=password_hash, failed_attempts=0, locked=False)
        )

    async def claim_password_attempt(
        self, party_id: uuid.UUID, max_attempts: int
    ) -> tuple[int, bool, str | None] | None:
        """Count one attempt before its password is checked; None when the link is locked already.

        One ``UPDATE … WHERE NOT locked … RETURNING``: PostgreSQL serialises
        parallel updates of the row and re-evaluates the condition on its newest
        version, so parallel guesses each get their own count and the one
        reaching ``max_attempts`` sets the lock. Returns the attempt's number,
        whether it locked the link, and the password hash current at the claim.
        """
        row = (
            await self.session.execute(
                self._parties(party_id)
                .where(Party.locked.is_(False))
                .values(failed_attempts=Party.failed_attempts + 1, locked=Party.failed_attempts + 1 >= max_attempts)
                .returning(Party.failed_attempts, Party.locked, Party.password_hash)
            )
        ).one_or_none()
        if row is None:
            return None
        attempt, locks, password_hash = row
        return int(attempt), bool(locks), password_hash

    async def clear_password_attempts(
        self, party_id: uuid.UUID, password_hash: str | None, rehash: str | None = None
    ) -> None:
        """Clear the count and the lock, only while ``password_hash`` is still the link's password.

        ``rehash``: the same password hashed at the current cost, stored in place of the old hash.
        """
        values: dict[str, Any] = {"failed_attempts": 0, "locked": False}
        if rehash is not None:
            values["password_hash"] = rehash
        await self.session.execute(self._parties(party_id).where(Party.password_hash == password_hash).values(values))

    # ------------------------------------------------------------------ search

    def search_statement(self, principal: Principal, filters: SearchFilters) -> Select[tuple[Contract]]:
        """The filtered, visible, newest-first statement behind search, pages and CSV."""
        statement = self.visible(principal)
        if filters.todo:
            # The same condition as the start page's count, so both always agree.
            from signing.repositories.todo import ToDo, ToDoRepository  # noqa: PLC0415 - todo builds on this module

            statement = statement.where(
                ToDoRepository(self.session, self.member_id).condition(principal, ToDo(filters.todo))
            )
        if filters.word.strip():
            word = _like(_fold(filters.word))
            statement = statement.where(
                or_(
                    *(
                        _folded(column).ilike(word, escape="\\")
                        for column in (Contract.file_names, Contract.subject, Contract.contract_number)
                    )
                )
            )
        if filters.counterparty.strip():
            statement = statement.where(
                _folded(Contract.counterparty).ilike(_like(_fold(filters.counterparty)), escape="\\")
            )
        if filters.date_from:
            statement = statement.where(Contract.transaction_date >= filters.date_from)
        if filters.date_to:
            statement = statement.where(Contract.transaction_date <= filters.date_to)
        if filters.amount_min is not None:
            statement = statement.where(Contract.amount >= filters.amount_min)
        if filters.amount_max is not None:
            statement = statement.where(Contract.amount <= filters.amount_max)
        if filters.status is not None:
            statement = statement.where(Contract.status == filters.status)
        return statement.order_by(Contract.created_at.desc(), Contract.id.desc())

    async def search(
        self, principal: Principal, filters: SearchFilters, *, offset: int, limit: int
    ) -> Sequence[Contract]:
        """One slice of the search result."""
        return await self.all(self.search_statement(principal, filters).offset(offset).limit(limit))

    async def stream_search(
        self, principal: Principal, filters: SearchFilters, *, limit: int
    ) -> AsyncIterator[Contract]:
        """The search result row by row (for the CSV export), at most ``limit`` contracts."""
        result = await self.session.stream_scalars(self.search_statement(principal, filters).limit(limit))
        async for contract in result:
            yield contract

    # ------------------------------------------------------------------ the finance system's CSV

    async def visible_by_ids(self, principal: Principal, ids: Sequence[uuid.UUID]) -> Sequence[Contract]:
        """The contracts of ``ids`` the caller may see (others are simply missing)."""
        if not ids:
            return []
        return await self.all(self.visible(principal).where(Contract.id.in_(ids)))

    async def visible_by_numbers(self, principal: Principal, numbers: Sequence[str]) -> Sequence[Contract]:
        """The contracts the caller may see whose contract number is one of ``numbers``, oldest first."""
        if not numbers:
            return []
        return await self.all(
            self.visible(principal).where(Contract.contract_number.in_(numbers)).order_by(Contract.created_at)
        )

    async def delivered_hashes(
        self, contract_ids: Sequence[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[str]], dict[uuid.UUID, str]]:
        """SHA-256 of what a download hands out once concluded: each document's newest sealed file (in the
        documents' order) and the newest certificate of conclusion, by contract."""
        if not contract_ids:
            return {}, {}
        rows = await self.session.execute(
            self.scoped(SealedDocument)
            .with_only_columns(
                SealedDocument.contract_id, SealedDocument.document_id, SealedDocument.version, SealedDocument.sha256
            )
            .join(ContractDocument, ContractDocument.id == SealedDocument.document_id)
            .where(SealedDocument.contract_id.in_(contract_ids))
            .order_by(SealedDocument.contract_id, ContractDocument.position, SealedDocument.version)
        )
        newest: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
        for contract_id, document_id, _version, sha256 in rows:
            newest.setdefault(contract_id, {})[document_id] = sha256  # ordered by version: the last one wins
        certificates: dict[uuid.UUID, str] = {}
        for row in await self.all(
            self.scoped(ConclusionCertificate)
            .where(ConclusionCertificate.contract_id.in_(contract_ids))
            .order_by(ConclusionCertificate.contract_id, ConclusionCertificate.version)
        ):
            certificates[row.contract_id] = row.sha256
        return {k: list(v.values()) for k, v in newest.items()}, certificates

    async def change_marker(self, principal: Principal) -> str:
        """Changes whenever a contract the caller may see is made or changed (how many, and the newest change)."""
        visible = self.visible(principal).subquery()
        row = (
            await self.session.execute(select(func.count(), func.max(visible.c.updated_at)).select_from(visible))
        ).one()
        return f"{row[0]}:{row[1].isoformat() if row[1] else ''}"

    # ------------------------------------------------------------------ audit trail

    async def lock_chain(self, chain: str) -> None:
        """Serialise appends to one chain of the trail until the transaction ends."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:chain))"), {"chain": chain})

    async def last_hash(self, contract_id: uuid.UUID | None) -> str | None:
        """The newest hash of a contract's chain, or of the member's chain of operations (``contract_id`` None)."""
        statement = select(AuditEvent.hash).where(AuditEvent.member_id == self.member_id)
        statement = (
            statement.where(AuditEvent.contract_id == contract_id)
            if contract_id
            else statement.where(AuditEvent.contract_id.is_(None))
        )
        found: str | None = await self.session.scalar(statement.order_by(AuditEvent.id.desc()).limit(1))
        return found

    async def undelivered_mail(self, contract_id: uuid.UUID) -> list[str]:
        """Addresses a mail about the contract could not be delivered to, oldest first."""
        rows = await self.all(
            self.scoped(AuditEvent)
            .where(AuditEvent.contract_id == contract_id, AuditEvent.kind == AuditKind.MAIL_FAILED.value)
            .order_by(AuditEvent.id)
        )
        return list(dict.fromkeys(str((e.detail or {}).get("to", "")) for e in rows if (e.detail or {}).get("to")))

    async def stream_events(self) -> AsyncIterator[AuditEvent]:
        """Every event of the scope in the order it was written (to recompute the chains)."""
        result = await self.session.stream_scalars(
            self.scoped(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
        )
        async for event in result:
            yield event

    async def count_events(self) -> int:
        """How many events the scope holds."""
        condition = AuditEvent.member_id == self.member_id if self.member_id is not None else true()
        return int(await self.session.scalar(select(func.count()).select_from(AuditEvent).where(condition)) or 0)

    async def trail_fingerprint(self) -> tuple[int, str]:
        """How many events the member's trail has, and a sum of their rows' hashes (one aggregate)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT count(*), coalesce(sum(hashtextextended(e::text, 0)::numeric), 0) "
                    "FROM contract_audit_event e WHERE e.member_id = :member"
                ),
                {"member": self.member_id},
            )
        ).one()
        return int(row[0]), str(row[1])

    def _trail_statement(self, filters: TrailFilters) -> Select[tuple[AuditEvent, str | None, str | None]]:
        # The repository's member is the filter; row-level security would hide other members' rows anyway.
        statement = (
            self.scoped(AuditEvent)
            .add_columns(Contract.subject, Contract.contract_number)
            .outerjoin(Contract, Contract.id == AuditEvent.contract_id)
            .where(AuditEvent.member_id == self.member_id)
        )
        wanted = filters.contract.strip()
        if wanted:
            try:
                statement = statement.where(AuditEvent.contract_id == uuid.UUID(wanted))
            except ValueError:
                numbered = aliased(Contract)
                by_number = (
                    select(numbered.id)
                    .where(numbered.member_id == self.member_id, numbered.contract_number == wanted)
                    .scalar_subquery()
                )
                statement = statement.where(AuditEvent.contract_id.in_(by_number))
        if filters.date_from:
            since = dt.datetime.combine(filters.date_from, dt.time(), JST)
            statement = statement.where(AuditEvent.occurred_at >= since)
        if filters.date_to and filters.date_to < dt.date.max:
            day_after = filters.date_to + dt.timedelta(days=1)
            statement = statement.where(AuditEvent.occurred_at < dt.datetime.combine(day_after, dt.time(), JST))
        return statement.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())

    async def trail(self, filters: TrailFilters, *, offset: int, limit: int) -> list[TrailRow]:
        """One slice of the member's trail, newest first."""
        rows = await self.session.execute(self._trail_statement(filters).offset(offset).limit(limit))
        return [(event, subject, number) for event, subject, number in rows.tuples().all()]

    async def trail_count(self, filters: TrailFilters) -> int:
        """How many events of the member's trail match."""
        counted = select(func.count()).select_from(self._trail_statement(filters).order_by(None).subquery())
        return int(await self.session.scalar(counted) or 0)

    async def stream_trail(self, filters: TrailFilters) -> AsyncIterator[TrailRow]:
        """The matching events row by row (for the CSV export)."""
        result = await self.session.stream(self._trail_statement(filters).execution_options(yield_per=2000))
        async for event, subject, number in result:
            yield event, subject, number

    # ------------------------------------------------------------------ records (elevated: any member)

    async def sealed_file_record(self, sha256: str) -> tuple[SealedDocument, Contract, Member, str] | None:
        """The sealed file (any version) with this SHA-256, its contract, member and file name."""
        row = await self.session.execute(
            self.scoped(SealedDocument)
            .add_columns(Contract, Member, ContractDocument.file_name)
            .join(Contract, Contract.id == SealedDocument.contract_id)
            .join(Member, Member.id == Contract.member_id)
            .join(ContractDocument, ContractDocument.id == SealedDocument.document_id)
            .where(SealedDocument.sha256 == sha256)
            .limit(1)
        )
        found = row.tuples().first()
        return None if found is None else (found[0], found[1], found[2], found[3])

    async def certificate_record(self, sha256: str) -> tuple[ConclusionCertificate, Contract, Member] | None:
        """The certificate of conclusion with this SHA-256, its contract and member."""
        row = await self.session.execute(
            self.scoped(ConclusionCertificate)
            .add_columns(Contract, Member)
            .join(Contract, Contract.id == ConclusionCertificate.contract_id)
            .join(Member, Member.id == Contract.member_id)
            .where(ConclusionCertificate.sha256 == sha256)
            .limit(1)
        )
        found = row.tuples().first()
        return None if found is None else (found[0], found[1], found[2])

    async def member_by_code(self, lg_code: str) -> Member | None:
        """The member with this 全国地方公共団体コード."""
        return (await self.session.scalars(select(Member).where(Member.lg_code == lg_code))).first()
