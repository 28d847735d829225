"""Bulk sending (一括送信, NII-36, API-2): one prepared draft, one CSV of counterparties, N contracts sent.

The clerk prepares a draft in the step editor (files, text boxes, parties and
their order) with **exactly one contractor party**: the placeholder that each
row of the CSV replaces (company, person, e-mail). Every other party (member
signers) stays as it is. A row may also set the amount, the contract number,
the transaction date and a suffix of the subject; what it leaves empty comes
from the draft.

Three steps:

* :func:`preview` reads and checks the file and writes nothing: no row of the
  database changes. The checked rows are kept in Redis under a random id for
  :data:`PREVIEW_SECONDS`, so that what is sent is exactly what was shown (the
  browser carries only the id).
* :func:`start` sends a preview. Each row gets its own random access password
  (:func:`~signing.services._drafts.suggested_password`), generated here, in the
  request. Rows are made by :func:`send_row` — the draft copied by
  :func:`~signing.services._editing.copy_contract` (the same copy as "copy as a
  new draft"), its particulars and placeholder party changed by ``edit_draft`` /
  ``edit_party``, then ``send`` — each row **all or nothing** (a savepoint in the
  request, a transaction of its own in the worker). Up to
  :data:`BACKGROUND_ROWS` rows are sent in the request; a larger batch by the
  task ``signing.bulk_send`` (fed through the outbox), whose progress the result
  page polls.
* A batch and its rows are **PostgreSQL's** (:class:`~signing.models.BulkBatch`,
  :class:`~signing.models.BulkBatchRow`): who started it, when, its counts and
  each row's outcome (sent with its contract, or failed with why), kept as long
  as the member's contracts and deleted with the member. A row's contract and
  its outcome are committed together, the row locked meanwhile, so a task
  delivered again sends no row twice.
* The passwords exist in clear only in the request that made them and in the
  one answer that shows them. Meanwhile they are in the batch **encrypted under
  the member's data key** (AES-GCM, the key of the document store), for the
  worker and for the first view of the finished batch (the result page, or
  ``GET /api/v1/bulk/{id}``), which shows them once and drops them; unseen
  they are dropped after :data:`PASSWORDS_KEEP`. PostgreSQL keeps otherwise
  only their Argon2 hashes, as for single contracts.

Every contract made records in its trail that it came from bulk sending of the
draft (``bulk_sending``: draft, batch, line); the draft stays a draft.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from uuid_utils.compat import uuid7

from core.errors import Conflict, Invalid, NotFound, ServiceError, TooLarge
from core.i18n import gettext as _
from core.i18n import parse_date
from core.outbox import enqueue
from core.scope import Permission, Principal, PrincipalKind, ViewScope
from core.settings import Settings
from core.spreadsheet import read_rows
from core.text import has_control_characters
from onboarding.staff_csv import ImportRejected, decode
from signing.audit import Actor, append_event
from signing.blobs import BlobStore
from signing.models import (
    AuditKind,
    BulkBatch,
    BulkBatchRow,
    BulkBatchStatus,
    BulkRowState,
    Contract,
    ContractStatus,
    Party,
    PartyKind,
    TextBox,
)
from signing.repositories.bulk import BulkRepository
from signing.repositories.bulk import drop_expired_passwords as purge_passwords
from signing.services._circulation import send
from signing.services._common import documents_of, get_contract, valid_email
from signing.services._drafts import suggested_password
from signing.services._editing import DraftChanges, PartyChanges, copy_contract, edit_draft, edit_party
from signing.services._metadata import require_particulars
from signing.services._values import value_problem

__all__ = [
    "BACKGROUND_ROWS",
    "BULK_TASK",
    "COLUMNS",
    "MAX_ROWS",
    "PASSWORDS_KEEP",
    "BatchRow",
    "BatchView",
    "BulkPreview",
    "BulkRow",
    "BulkRowInput",
    "BulkRowsInput",
    "BulkSending",
    "batch_view",
    "column_label",
    "drop_expired_passwords",
    "parse_csv",
    "placeholder_of",
    "preview",
    "run_batch",
    "send_row",
    "start",
]

log = logging.getLogger(__name__)

BULK_TASK = "signing.bulk_send"
BACKGROUND_ROWS = 20
"""Batches with more rows than this are sent by a worker, with progress shown."""
MAX_ROWS = 500
"""Most rows one file may have."""
MAX_AMOUNT = 10**15
"""Largest amount accepted (yen)."""
PREVIEW_SECONDS = 3600
"""How long a checked file waits for its "send" button (Redis)."""
PASSWORDS_KEEP = dt.timedelta(days=7)
"""How long the encrypted access passwords of a batch wait for their one view, at most."""
_AAD = b"kyodo-bulk-passwords"
_PREFIX = "kyodo:bulk:"

COLUMNS = ("company", "person", "email", "amount", "contract_number", "subject", "transaction_date")
"""The columns of the file (company, person and e-mail are required)."""
_REQUIRED = ("company", "person", "email")
_HEADERS: dict[str, str] = {
    "company": "company",
    "company name": "company",
    "会社名": "company",
    "事業者名": "company",
    "商号": "company",
    "person": "person",
    "name": "person",
    "contact": "person",
    "担当者名": "person",
    "担当者": "person",
    "氏名": "person",
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "メールアドレス": "email",
    "メール": "email",
    "amount": "amount",
    "金額": "amount",
    "契約金額": "amount",
    "contract number": "contract_number",
    "contract_number": "contract_number",
    "number": "contract_number",
    "契約番号": "contract_number",
    "subject": "subject",
    "subject suffix": "subject",
    "件名": "subject",
    "transaction date": "transaction_date",
    "transaction_date": "transaction_date",
    "date": "transaction_date",
    "取引年月日": "transaction_date",
    "契約日": "transaction_date",
}


@dataclass
class BulkRowInput:
    """One counterparty as the JSON API takes it (the columns of the file; only company, person, e-mail required).

    ``amount`` in yen (a number, or text such as ``"1,200,000"``), ``transaction_date`` as
    ``2026-04-01`` or ``令和8年4月1日``; what is left out comes from the draft.
    """

    company: str = ""
    person: str = ""
    email: str = ""
    amount: int | str | None = None
    contract_number: str = ""
    subject: str = ""
    """Added after the draft's subject."""
    transaction_date: str | None = None


@dataclass
class BulkRowsInput:
    """The counterparties of a bulk sending as JSON: each row's ``line`` is its place in the list, from 1."""

    rows: list[BulkRowInput]


def _json_rows(rows: Sequence[BulkRowInput]) -> list[dict[str, Any]]:
    """The rows of a JSON list as the file's rows are read: every value as text, numbered from 1."""
    return [
        {"line": line, "extra": False}
        | {column: "" if getattr(row, column) is None else str(getattr(row, column)).strip() for column in COLUMNS}
        for line, row in enumerate(rows, start=1)
    ]


def column_label(column: str) -> str:
    """A column's name in the user's language."""
    return {
        "company": _("Company"),
        "person": _("Person in charge"),
        "email": _("E-mail"),
        "amount": _("Amount"),
        "contract_number": _("Contract number"),
        "subject": _("Subject (added to the draft's)"),
        "transaction_date": _("Transaction date"),
    }.get(column, column)


@dataclass
class BulkRow:
    """One row of the file as it will be sent, with what is wrong with it."""

    line: int
    company: str = ""
    person: str = ""
    email: str = ""
    amount: int | None = None
    contract_number: str = ""
    subject: str = ""
    """The whole subject of the contract made (the draft's, with the row's suffix)."""
    transaction_date: dt.date | None = None
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["transaction_date"] = self.transaction_date.isoformat() if self.transaction_date else None
        return data

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> BulkRow:
        day = data.get("transaction_date")
        return cls(**{**data, "transaction_date": dt.date.fromisoformat(day) if day else None})


@dataclass
class BulkPreview:
    """What sending the file would create, or why it cannot be sent."""

    draft: Contract
    placeholder: Party
    rows: list[BulkRow]
    problems: list[tuple[int, str]]
    """Problems of the file as a whole: (line, message)."""
    encoding: str = ""
    preview_id: str = ""
    """Set when the file can be sent: the id of the checked rows kept for the send button."""

    @property
    def sendable(self) -> bool:
        return bool(self.rows) and not self.problems and not any(r.problems for r in self.rows)

    @property
    def problem_count(self) -> int:
        return len(self.problems) + sum(len(r.problems) for r in self.rows)


def placeholder_of(draft: Contract) -> Party:
    """The contractor party of ``draft`` that each row replaces.

    :raises core.errors.Conflict: the contract is not a draft.
    :raises core.errors.Invalid: the draft has no file, or not exactly one contractor party.
    """
    if draft.status is not ContractStatus.DRAFT or draft.deleted_at is not None:
        raise Conflict(_("Only a draft can be sent in bulk; this contract has already been sent."))
    if not draft.documents:
        raise Invalid(_("Please upload at least one PDF before sending."))
    contractors = [p for p in draft.parties if p.kind is PartyKind.CONTRACTOR]
    if len(contractors) != 1:
        raise Invalid(
            _(
                "For bulk sending the draft must have exactly one contractor party (it has {n}): "
                "each row of the file takes its place."
            ).format(n=len(contractors))
        )
    return contractors[0]


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _columns(header: list[str]) -> tuple[dict[int, str], list[tuple[int, str]]]:
    """Column index → known column, and the header's problems (unknown, twice, required missing)."""
    columns: dict[int, str] = {}
    problems: list[tuple[int, str]] = []
    for index, title in enumerate(header):
        name = _fold(title)
        key = _HEADERS.get(name.lower()) or _HEADERS.get(name)
        if key is None:
            if name:
                message = _("Unknown column “{column}”. Use: {known}.")
                problems.append((1, message.format(column=title.strip(), known=_known())))
        elif key in columns.values():
            problems.append((1, _("The column “{column}” appears twice.").format(column=title.strip())))
        else:
            columns[index] = key
    for required in _REQUIRED:
        if required not in columns.values():
            message = _("The header row has no “{column}” column.")
            problems.append((1, message.format(column=column_label(required))))
    return columns, problems


def parse_csv(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Raw rows (``line`` and the known columns) and the problems of the header, of a CSV text."""
    return read_rows(text, _columns)


def _known() -> str:
    return "、".join(("会社名", "担当者名", "メールアドレス", "金額", "契約番号", "件名", "取引年月日"))


async def _name_problem(label: str, value: str) -> str | None:
    """Why ``value`` cannot be printed by the seal's font (the same check as a text box's value)."""
    probe = TextBox(page=0, x=0.0, y=0.0, width=2000.0, height=2000.0, label=label)
    return await value_problem(probe, value)


async def _check_names(row: BulkRow, raw: dict[str, Any]) -> None:
    if not row.company:
        row.problems.append(_("The company is empty."))
    if not row.person:
        row.problems.append(_("The person in charge is empty."))
    if has_control_characters(row.company + row.person + row.contract_number + str(raw.get("subject", ""))):
        row.problems.append(_("Names cannot contain line breaks or control characters."))
    for label, value in ((column_label("company"), row.company), (column_label("person"), row.person)):
        problem = await _name_problem(label, value)
        if problem:
            row.problems.append(problem)


def _check_email(row: BulkRow, seen: dict[str, int]) -> None:
    if not row.email:
        row.problems.append(_("The e-mail address is empty."))
    elif not valid_email(row.email):
        row.problems.append(_("“{email}” is not a valid e-mail address.").format(email=row.email))
    else:
        first = seen.setdefault(row.email.lower(), row.line)
        if first != row.line:
            row.problems.append(_("The e-mail address is also on line {line}.").format(line=first))


def _amount(row: BulkRow, typed: str, default: int | None) -> int | None:
    text = _fold(typed).replace(",", "").removesuffix("円").strip()
    if not text:
        return default
    try:
        amount = int(text)
    except ValueError:
        row.problems.append(_("The amount “{value}” is not a number of yen.").format(value=typed.strip()))
        return None
    if not 0 <= amount <= MAX_AMOUNT:
        row.problems.append(_("The amount must be between 0 and {max:,} yen.").format(max=MAX_AMOUNT))
    return amount


def _date(row: BulkRow, typed: str, default: dt.date | None) -> dt.date | None:
    if not typed.strip():
        return default
    try:
        return parse_date(typed.strip())
    except ValueError:
        message = _("The transaction date “{value}” is not a date (2026-04-01, 2026年4月1日 or 令和8年4月1日).")
        row.problems.append(message.format(value=typed.strip()))
        return None


async def _check_row(raw: dict[str, Any], draft: Contract, seen: dict[str, int]) -> BulkRow:
    row = BulkRow(
        line=int(raw["line"]),
        company=str(raw.get("company", ""))[:200],
        person=str(raw.get("person", ""))[:200],
        email=_fold(str(raw.get("email", ""))),
        contract_number=str(raw.get("contract_number", "")).strip()[:100] or draft.contract_number,
    )
    if raw.get("extra"):
        row.problems.append(_("This line has more values than the header row has columns."))
    await _check_names(row, raw)
    _check_email(row, seen)
    row.amount = _amount(row, str(raw.get("amount", "")), draft.amount)
    row.transaction_date = _date(row, str(raw.get("transaction_date", "")), draft.transaction_date)
    suffix = str(raw.get("subject", "")).strip()
    row.subject = f"{draft.subject}　{suffix}"[:400] if suffix else draft.subject
    if not row.problems:
        probe = Contract(amount=row.amount, transaction_date=row.transaction_date, counterparty=row.company)
        try:
            require_particulars(probe)
        except Invalid as exc:
            row.problems.append(exc.message)
    return row


def _key(kind: str, member_id: uuid.UUID | str, ident: str) -> str:
    return f"{_PREFIX}{kind}:{member_id}:{ident}"


async def preview(
    session: AsyncSession,
    redis: Redis,
    principal: Principal,
    draft_id: uuid.UUID,
    data: bytes | Sequence[BulkRowInput],
) -> BulkPreview:
    """Check a file (or the JSON API's list of rows) against the draft: every row with its problems.

    Writes nothing to the database.

    When the file can be sent, its checked rows are kept in Redis (for the send
    button, :data:`PREVIEW_SECONDS`) and ``preview_id`` names them.

    :raises advanced_alchemy / core.errors.NotFound: the draft is not the caller's.
    """
    draft = await get_contract(session, draft_id, principal)
    placeholder = placeholder_of(draft)
    result = BulkPreview(draft=draft, placeholder=placeholder, rows=[], problems=[])
    if isinstance(data, bytes):
        try:
            text, result.encoding = decode(data)
        except ImportRejected as exc:
            result.problems.append((0, exc.message))
            return result
        raw, result.problems = parse_csv(text)
    else:
        raw = _json_rows(data)
    if len(raw) > MAX_ROWS:
        result.problems.append(
            (0, _("The file has {n} rows; at most {max} can be sent at once.").format(n=len(raw), max=MAX_ROWS))
        )
        return result
    if not raw and not result.problems:
        result.problems.append((2 if isinstance(data, bytes) else 0, _("The file has no rows of counterparties.")))
    seen: dict[str, int] = {}
    for row in raw:
        result.rows.append(await _check_row(row, draft, seen))
    if result.sendable:
        result.preview_id = uuid.uuid4().hex
        payload = {
            "draft_id": str(draft.id),
            "staff_id": str(principal.id),
            "rows": [r.as_json() for r in result.rows],
        }
        assert principal.member_id is not None
        await redis.set(
            _key("preview", principal.member_id, result.preview_id), json.dumps(payload), ex=PREVIEW_SECONDS
        )
    return result


# ----------------------------------------------------------------------------------------- sending


def _principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind.value,
        "id": str(principal.id),
        "name": principal.name,
        "consortium_id": str(principal.consortium_id),
        "member_id": str(principal.member_id),
        "member_name": principal.member_name,
        "department_id": str(principal.department_id) if principal.department_id else None,
        "view_scope": principal.view_scope.value,
        "permissions": sorted(str(p) for p in principal.permissions),
        "roles": list(principal.roles),
    }


def _principal_of(data: dict[str, Any]) -> Principal:
    return Principal(
        kind=PrincipalKind(data["kind"]),
        id=uuid.UUID(data["id"]),
        name=data["name"],
        consortium_id=uuid.UUID(data["consortium_id"]),
        member_id=uuid.UUID(data["member_id"]),
        member_name=data["member_name"],
        department_id=uuid.UUID(data["department_id"]) if data["department_id"] else None,
        view_scope=ViewScope(data["view_scope"]),
        permissions=frozenset(Permission.parse(p) for p in data["permissions"]),
        roles=tuple(data["roles"]),
    )


async def send_row(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    who: Actor,
    *,
    draft_id: uuid.UUID,
    row: BulkRow,
    password: str,
    batch_id: str,
) -> Contract:
    """Make and send the contract of one row, in the caller's transaction (roll it back on any error)."""
    draft = await get_contract(session, draft_id, principal)
    placeholder_of(draft)
    contract = await copy_contract(session, principal, draft, who)
    await edit_draft(
        session,
        principal,
        contract,
        DraftChanges(
            subject=row.subject,
            contract_number=row.contract_number or None,
            amount=row.amount,
            transaction_date=row.transaction_date,
            counterparty=row.company,
        ),
        who,
    )
    (party,) = [p for p in contract.parties if p.kind is PartyKind.CONTRACTOR]
    await edit_party(
        session,
        contract,
        party.id,
        PartyChanges(company=row.company, name=row.person, email=row.email, password=password),
        who,
    )
    await append_event(
        session,
        member_id=contract.member_id,
        contract_id=contract.id,
        kind=AuditKind.UPDATED,
        who=who,
        documents=documents_of(contract),
        detail={"bulk_sending": {"draft": str(draft.id), "batch": batch_id, "line": row.line}},
    )
    return await send(session, settings, contract, who)


def _failure(exc: Exception) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    log.exception("bulk sending: a row could not be sent", exc_info=exc)
    return _("The contract could not be saved (a database error). Nothing of this row was kept; try it again.")


def _seal_aad(batch_id: uuid.UUID) -> bytes:
    return _AAD + b":" + str(batch_id).encode()


async def _seal_passwords(
    session: AsyncSession, settings: Settings, batch: BulkBatch, passwords: dict[int, str]
) -> bytes:
    plain = json.dumps(passwords).encode()
    return await BlobStore(settings).seal_for_member(session, batch.member_id, plain, _seal_aad(batch.id))


async def _open_passwords(session: AsyncSession, settings: Settings, batch: BulkBatch) -> dict[int, str]:
    """The batch's passwords by line ({} when they are gone or their time is over)."""
    if batch.sealed_passwords is None or batch.passwords_until <= dt.datetime.now(dt.UTC):
        return {}
    plain = await BlobStore(settings).open_for_member(
        session, batch.member_id, batch.sealed_passwords, _seal_aad(batch.id)
    )
    return {int(k): str(v) for k, v in json.loads(plain).items()}


def _drop_passwords(batch: BulkBatch, now: dt.datetime) -> None:
    batch.sealed_passwords = None
    batch.passwords_dropped_at = now


def _mark_sent(item: BulkBatchRow, contract: Contract) -> None:
    item.state = BulkRowState.SENT
    item.contract_id = contract.id
    item.contract_number = contract.contract_number
    item.error = ""
    item.finished_at = dt.datetime.now(dt.UTC)


def _mark_failed(item: BulkBatchRow, error: str) -> None:
    item.state = BulkRowState.FAILED
    item.error = error
    item.finished_at = dt.datetime.now(dt.UTC)


async def start(
    session: AsyncSession,
    redis: Redis,
    settings: Settings,
    principal: Principal,
    who: Actor,
    *,
    draft_id: uuid.UUID,
    preview_id: str,
) -> uuid.UUID:
    """Send a checked file (the preview ``preview_id`` of the draft); the id of the batch.

    The batch and its rows are written first (the passwords sealed under the
    member's data key). Small batches are sent now, each row in a savepoint of
    the request's transaction; larger ones are handed to the task
    :data:`BULK_TASK` in the same transaction.

    :raises core.errors.Invalid: the preview is not (or no longer) there, or was of another draft or caller.
    """
    assert principal.member_id is not None
    draft = await get_contract(session, draft_id, principal)
    placeholder_of(draft)
    raw = await redis.getdel(_key("preview", principal.member_id, preview_id)) if preview_id.isalnum() else None
    checked = json.loads(raw) if raw else None
    if not checked or checked["draft_id"] != str(draft.id) or checked["staff_id"] != str(principal.id):
        raise Invalid(
            _("The checked file is no longer available (it was sent already or waited too long). Upload it again.")
        )
    rows = [BulkRow.of_json(r) for r in checked["rows"]]
    now = dt.datetime.now(dt.UTC)
    repository = BulkRepository(session, principal.member_id)
    batch = BulkBatch(
        id=uuid7(),
        member_id=principal.member_id,
        draft_id=draft.id,
        draft_subject=draft.subject,
        environment=draft.environment,
        started_by=principal.subject,
        started_by_name=principal.name,
        started_as={
            "principal": _principal_json(principal),
            "actor": {"actor": who.actor, "ip": who.ip, "user_agent": who.user_agent},
        },
        status=BulkBatchStatus.QUEUED,
        row_count=len(rows),
        sent_count=0,
        failed_count=0,
        passwords_until=now + PASSWORDS_KEEP,
    )
    passwords = {r.line: suggested_password(12) for r in rows}
    batch.sealed_passwords = await _seal_passwords(session, settings, batch, passwords)
    repository.add(batch)
    items = []
    for row in rows:
        item = BulkBatchRow(
            batch_id=batch.id,
            line=row.line,
            environment=draft.environment,
            data=row.as_json(),
            state=BulkRowState.PENDING,
            contract_number="",
            error="",
        )
        repository.add(item)
        items.append((row, item))
    await session.flush()
    if len(rows) > BACKGROUND_ROWS:
        enqueue(session, BULK_TASK, member_id=str(principal.member_id), batch_id=str(batch.id))
        return batch.id
    batch.status = BulkBatchStatus.RUNNING
    for row, item in items:
        try:
            async with session.begin_nested():
                contract = await send_row(
                    session,
                    settings,
                    principal,
                    who,
                    draft_id=draft.id,
                    row=row,
                    password=passwords[row.line],
                    batch_id=str(batch.id),
                )
        except Exception as exc:  # noqa: BLE001 - any failure of a row is that row's, recorded with why
            _mark_failed(item, _failure(exc))
            batch.failed_count += 1
        else:
            _mark_sent(item, contract)
            batch.sent_count += 1
    batch.status = BulkBatchStatus.DONE
    batch.finished_at = dt.datetime.now(dt.UTC)
    await session.flush()
    return batch.id


async def run_batch(
    settings: Settings,
    *,
    member_id: uuid.UUID,
    batch_id: str,
    open_session: Callable[[uuid.UUID], Any],
) -> str:
    """The worker's part: send every row still pending, each in a transaction of its own.

    ``open_session(member_id)`` is an async context manager giving a session scoped
    to the member that commits when the block ends without error. A row's
    contract and its outcome are committed together, the row locked meanwhile:
    a task delivered again (a worker killed mid-batch) or run twice at once
    sends no row twice and leaves no row half sent.
    """
    try:
        ident = uuid.UUID(batch_id)
    except ValueError:
        return "missing"
    async with open_session(member_id) as session:
        repository = BulkRepository(session, member_id)
        batch = await repository.batch(ident, for_update=True)
        if batch is None:
            return "missing"
        if batch.status is BulkBatchStatus.DONE:
            return "done"
        batch.status = BulkBatchStatus.RUNNING
        started_as = dict(batch.started_as)
        draft_id = batch.draft_id
        passwords = await _open_passwords(session, settings, batch)
        lines = await repository.pending_lines(ident)
    principal = _principal_of(started_as["principal"])  # type: ignore[arg-type]
    who = Actor(**started_as["actor"])  # type: ignore[arg-type]
    for line in lines:
        try:
            async with open_session(member_id) as session:
                repository = BulkRepository(session, member_id)
                item = await repository.row_for_update(ident, line)
                if item is None or item.state is not BulkRowState.PENDING:
                    continue  # done by another run of the task
                if line not in passwords or draft_id is None:
                    _mark_failed(item, _expired())
                else:
                    contract = await send_row(
                        session,
                        settings,
                        principal,
                        who,
                        draft_id=draft_id,
                        row=BulkRow.of_json(dict(item.data)),
                        password=passwords[line],
                        batch_id=str(ident),
                    )
                    _mark_sent(item, contract)
                await repository.count_row(ident, item.state)
        except Exception as exc:  # noqa: BLE001 - any failure of a row is that row's, recorded with why
            error = _failure(exc)
            async with open_session(member_id) as session:  # the row's transaction was rolled back: only why
                repository = BulkRepository(session, member_id)
                item = await repository.row_for_update(ident, line)
                if item is not None and item.state is BulkRowState.PENDING:
                    _mark_failed(item, error)
                    await repository.count_row(ident, BulkRowState.FAILED)
    async with open_session(member_id) as session:
        repository = BulkRepository(session, member_id)
        batch = await repository.batch(ident, for_update=True)
        if batch is not None and batch.status is not BulkBatchStatus.DONE and not await repository.count_pending(ident):
            batch.status = BulkBatchStatus.DONE
            batch.finished_at = dt.datetime.now(dt.UTC)
    return "done"


def _expired() -> str:
    return _("The access password of this row was no longer available to the worker; nothing was sent.")


# ----------------------------------------------------------------------------------------- the result page


@dataclass
class BatchRow:
    """A row of a batch as the result page and the API show it."""

    row: BulkRow
    state: BulkRowState
    contract_id: str = ""
    contract_number: str = ""
    error: str = ""
    password: str = ""
    """Only on the first view of a finished batch."""

    @property
    def ok(self) -> bool | None:
        """True sent, False failed, None not yet processed."""
        return None if self.state is BulkRowState.PENDING else self.state is BulkRowState.SENT


@dataclass
class BatchView:
    """A batch: its rows, how far it got, and (once) the passwords."""

    id: str
    draft_id: str
    draft_subject: str
    status: str
    rows: list[BatchRow]
    passwords_shown: bool
    """The passwords are on this page (its first view since the batch finished)."""
    passwords_gone: bool
    """The batch is finished and its passwords are no longer there (shown before, or they waited too long)."""
    passwords_shown_before: bool = False
    """They were shown on an earlier view (else they waited longer than :data:`PASSWORDS_KEEP`)."""
    started_by: str = ""
    created_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    passwords_until: dt.datetime | None = None

    @property
    def processed(self) -> int:
        return sum(1 for r in self.rows if r.ok is not None)

    @property
    def sent(self) -> list[BatchRow]:
        return [r for r in self.rows if r.ok]

    @property
    def failed(self) -> list[BatchRow]:
        return [r for r in self.rows if r.ok is False]

    @property
    def running(self) -> bool:
        return self.status != BulkBatchStatus.DONE.value


def _batch_id(batch_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(batch_id, uuid.UUID):
        return batch_id
    try:
        return uuid.UUID(batch_id)
    except ValueError:
        raise NotFound(_("No such bulk sending.")) from None


async def batch_view(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    batch_id: uuid.UUID | str,
    *,
    reveal: bool,
) -> BatchView:
    """The batch ``batch_id`` of the caller (another staff member's, API key's or member's is not found).

    With ``reveal`` and the batch finished, the passwords are decrypted,
    returned in the rows and dropped from the database: this happens once;
    later views say they are gone. Passwords older than :data:`PASSWORDS_KEEP`
    are dropped unseen.
    """
    if principal.member_id is None:
        raise NotFound(_("No such bulk sending."))
    repository = BulkRepository(session, principal.member_id)
    batch = await repository.batch(_batch_id(batch_id), for_update=reveal)
    if batch is None or batch.started_by != principal.subject:
        raise NotFound(_("No such bulk sending."))
    items = await repository.rows(batch.id)
    now = dt.datetime.now(dt.UTC)
    shown_before = batch.passwords_shown_at is not None
    done = batch.status is BulkBatchStatus.DONE
    passwords: dict[int, str] = {}
    if batch.sealed_passwords is not None and batch.passwords_until <= now:
        _drop_passwords(batch, now)
    elif done and reveal and batch.sealed_passwords is not None:
        passwords = await _open_passwords(session, settings, batch)
        _drop_passwords(batch, now)
        if passwords:
            batch.passwords_shown_at = now
    rows = [
        BatchRow(
            row=BulkRow.of_json(dict(item.data)),
            state=item.state,
            contract_id=str(item.contract_id or ""),
            contract_number=item.contract_number,
            error=item.error,
            password=passwords.get(item.line, "") if item.state is BulkRowState.SENT else "",
        )
        for item in items
    ]
    shown = any(r.password for r in rows)
    await session.flush()
    return BatchView(
        id=str(batch.id),
        draft_id=str(batch.draft_id or ""),
        draft_subject=batch.draft_subject,
        status=batch.status.value,
        rows=rows,
        passwords_shown=shown,
        passwords_gone=done and not shown and batch.sealed_passwords is None and any(r.ok for r in rows),
        passwords_shown_before=shown_before,
        started_by=batch.started_by_name,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        passwords_until=batch.passwords_until,
    )


def drop_expired_passwords(settings: Settings, now: dt.datetime | None = None) -> int:
    """Drop every batch's passwords older than :data:`PASSWORDS_KEEP`, seen or not (the daily purge)."""
    return purge_passwords(settings, now or dt.datetime.now(dt.UTC))


class BulkSending:
    """Bulk sending as the staff screens and the JSON API use it: one method per step, for the caller."""

    def __init__(self, session: AsyncSession, redis: Redis, settings: Settings, principal: Principal, who: Actor):
        if principal.member_id is None:
            raise NotFound(_("No such bulk sending."))
        self.session = session
        self.redis = redis
        self.settings = settings
        self.principal = principal
        self.who = who

    async def draft(self, draft_id: uuid.UUID) -> tuple[Contract, Party]:
        """The draft and its placeholder party (404 for a contract the caller may not see)."""
        draft = await get_contract(self.session, draft_id, self.principal)
        return draft, placeholder_of(draft)

    async def preview(self, draft_id: uuid.UUID, data: bytes | Sequence[BulkRowInput]) -> BulkPreview:
        """Check a file (CSV bytes) or a list of rows against the draft; nothing is written to the database."""
        limit = self.settings.contracts.max_import_mb * 1024 * 1024
        if isinstance(data, bytes) and len(data) > limit:
            raise TooLarge(_("The file is larger than {limit} MB.").format(limit=self.settings.contracts.max_import_mb))
        return await preview(self.session, self.redis, self.principal, draft_id, data)

    async def checked(self, draft_id: uuid.UUID, preview_id: str) -> BulkPreview | None:
        """The checked file ``preview_id`` again (to show it once more), or None when it is gone."""
        draft, placeholder = await self.draft(draft_id)
        assert self.principal.member_id is not None
        key = _key("preview", self.principal.member_id, preview_id)
        raw = await self.redis.get(key) if preview_id.isalnum() else None
        checked = json.loads(raw) if raw else None
        if not checked or checked["draft_id"] != str(draft.id) or checked["staff_id"] != str(self.principal.id):
            return None
        rows = [BulkRow.of_json(r) for r in checked["rows"]]
        return BulkPreview(draft=draft, placeholder=placeholder, rows=rows, problems=[], preview_id=preview_id)

    async def start(self, draft_id: uuid.UUID, preview_id: str) -> uuid.UUID:
        """Send the checked file; the batch's id."""
        return await start(
            self.session, self.redis, self.settings, self.principal, self.who, draft_id=draft_id, preview_id=preview_id
        )

    async def batch(self, batch_id: uuid.UUID | str, *, reveal: bool) -> BatchView:
        """The caller's batch; with ``reveal``, the passwords once it is finished (once only)."""
        return await batch_view(self.session, self.settings, self.principal, batch_id, reveal=reveal)
