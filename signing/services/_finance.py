"""The CSV of contract data for the finance system (財務会計システム, API-2 / NII-24): export and import.

One file, the same columns both ways (headers in Japanese, fixed; the English
names in :data:`ENGLISH` are read too)::

    契約番号,件名,金額,取引年月日,相手方,所属,状態,作成日時,送信日時,締結日時,締結文書SHA-256,締結証明書SHA-256,契約ID

* **Export** (:func:`finance_csv`): the contracts the caller may see that match
  the list's search keys, UTF-8 with BOM (Excel), amounts as plain numbers,
  dates ISO 8601 (``2026-04-01``), times ISO 8601 in Japan time
  (``2026-04-01T10:15:00+09:00``). The hashes are the SHA-256 of the files a
  download of a concluded contract hands out: each document's newest sealed PDF
  (several separated by spaces, in the documents' order) and the newest
  certificate of conclusion, so that a clerk can check a downloaded file.
* **Import** (:func:`finance_import`): the same file, UTF-8 (with or without
  BOM) or CP932 as Excel saves it. A row names its contract by ``契約ID`` or,
  when that is empty, by ``契約番号``; a row naming no contract of the caller
  makes a new draft. A draft's particulars (subject, number, amount,
  transaction date, counterparty, department) become what the row says; a
  contract past the draft is accepted only when the row says what it already
  holds (変更なし). 状態, the times and the hashes are read-only: the times are
  ignored (Excel rewrites them), a status or hash that differs from the
  contract's is a line error. **All or nothing**: every row is done in a
  savepoint; when any row has a problem, or for a dry run, the savepoint is
  rolled back and nothing is written. A dry run therefore checks exactly what
  the import would do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import spreadsheet
from core.dates import JST
from core.errors import Invalid, ServiceError
from core.i18n import current_locale, parse_date
from core.i18n import gettext as _
from core.scope import Principal
from core.text import has_control_characters
from onboarding.staff_csv import ImportRejected, decode
from signing.audit import Actor
from signing.labels import contract_status_label, contract_status_labels
from signing.models import Contract, ContractStatus
from signing.repositories import ContractRepository, SearchFilters
from signing.services._common import get_contract
from signing.services._drafts import ContractInput, create_contract
from signing.services._editing import DraftChanges, edit_draft
from tenants.models import Department

__all__ = [
    "COLUMNS",
    "ENGLISH",
    "HEADERS",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "FinanceImport",
    "FinanceRow",
    "RowAction",
    "finance_csv",
    "finance_import",
]

COLUMNS = (
    "contract_number",
    "subject",
    "amount",
    "transaction_date",
    "counterparty",
    "department",
    "status",
    "created_at",
    "sent_at",
    "concluded_at",
    "sealed_sha256",
    "certificate_sha256",
    "id",
)
"""The columns of the file, in their order."""
HEADERS: dict[str, str] = {
    "contract_number": "契約番号",
    "subject": "件名",
    "amount": "金額",
    "transaction_date": "取引年月日",
    "counterparty": "相手方",
    "department": "所属",
    "status": "状態",
    "created_at": "作成日時",
    "sent_at": "送信日時",
    "concluded_at": "締結日時",
    "sealed_sha256": "締結文書SHA-256",
    "certificate_sha256": "締結証明書SHA-256",
    "id": "契約ID",
}
"""The header of each column: fixed, in Japanese, whatever the language of the screen (other systems read it)."""
ENGLISH: dict[str, str] = {
    "contract_number": "contract number",
    "subject": "subject",
    "amount": "amount",
    "transaction_date": "transaction date",
    "counterparty": "counterparty",
    "department": "department",
    "status": "status",
    "created_at": "created at",
    "sent_at": "sent at",
    "concluded_at": "concluded at",
    "sealed_sha256": "sealed document sha-256",
    "certificate_sha256": "certificate sha-256",
    "id": "contract id",
}
"""English headers the import reads as well (case does not matter)."""
_READ_ONLY_TIMES = ("created_at", "sent_at", "concluded_at")
MAX_IMPORT_ROWS = 2000
"""Most rows one imported file may have."""
MAX_IMPORT_BYTES = 4 * 1024 * 1024
"""Largest file the import reads."""
EXPORT_LIMIT = 100_000
"""Most contracts one export holds (as the list's CSV)."""
_MAX_AMOUNT = 10**15
_CHUNK = 500


def _iso(moment: dt.datetime | None) -> str:
    return moment.astimezone(JST).isoformat(timespec="seconds") if moment else ""


def _japanese_status_labels() -> dict[ContractStatus, str]:
    token = current_locale.set("ja")
    try:
        return contract_status_labels()
    finally:
        current_locale.reset(token)


def _department_names(departments: Sequence[Department]) -> dict[uuid.UUID, str]:
    """What the 所属 column says of each department: its name, or its code where two share the name."""
    counts: dict[str, int] = {}
    for d in departments:
        counts[d.name] = counts.get(d.name, 0) + 1
    return {d.id: d.name if counts[d.name] == 1 else d.code for d in departments}


async def finance_csv(
    session: AsyncSession, principal: Principal, filters: SearchFilters, *, limit: int = EXPORT_LIMIT
) -> bytes:
    """Every matching contract the caller may see, in the finance system's columns (UTF-8 with BOM)."""
    assert principal.member_id is not None
    repo = ContractRepository(session, principal.member_id)
    departments = _department_names(await repo.departments())
    statuses = _japanese_status_labels()
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow([HEADERS[c] for c in COLUMNS])

    async def flush(chunk: list[Contract]) -> None:
        sealed, certificates = await repo.delivered_hashes([c.id for c in chunk])
        for c in chunk:
            done = c.status is ContractStatus.CONCLUDED
            writer.writerow(
                [
                    c.contract_number,
                    c.subject,
                    "" if c.amount is None else c.amount,
                    c.transaction_date.isoformat() if c.transaction_date else "",
                    c.counterparty,
                    departments.get(c.department_id, "") if c.department_id else "",
                    statuses[c.status],
                    _iso(c.created_at),
                    _iso(c.sent_at),
                    _iso(c.concluded_at),
                    " ".join(sealed.get(c.id, [])) if done else "",
                    certificates.get(c.id, "") if done else "",
                    str(c.id),
                ]
            )

    chunk: list[Contract] = []
    async for contract in repo.stream_search(principal, filters, limit=limit):
        chunk.append(contract)
        if len(chunk) >= _CHUNK:
            await flush(chunk)
            chunk = []
    if chunk:
        await flush(chunk)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# ----------------------------------------------------------------------------------------- import


class RowAction:
    """What the import does with a row."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass
class FinanceRow:
    """One row of the file as checked: what it says, what it does, and why it cannot be imported."""

    line: int
    contract_number: str = ""
    subject: str = ""
    amount: int | None = None
    transaction_date: dt.date | None = None
    counterparty: str = ""
    department: str = ""
    """The department as written (name or code)."""
    contract_id: uuid.UUID | None = None
    """The existing contract the row names (None: a new draft)."""
    action: str = ""
    changed: list[str] = field(default_factory=list)
    """Labels of the particulars the row changes (a draft's)."""
    problems: list[str] = field(default_factory=list)
    department_id: uuid.UUID | None = None
    status_label: str = ""
    """The contract's status (a new row: draft)."""

    def as_json(self) -> dict[str, Any]:
        """The row for the API (and for the fingerprint of a check)."""
        return {
            "line": self.line,
            "action": self.action if not self.problems else "error",
            "contract_id": str(self.contract_id) if self.contract_id else None,
            "contract_number": self.contract_number,
            "subject": self.subject,
            "amount": self.amount,
            "transaction_date": self.transaction_date.isoformat() if self.transaction_date else None,
            "counterparty": self.counterparty,
            "department": self.department,
            "changed": self.changed,
            "problems": self.problems,
        }


@dataclass
class FinanceImport:
    """The checked file: its rows, the problems of the file itself, and whether it was written."""

    encoding: str = ""
    rows: list[FinanceRow] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(line, message) of the file as a whole (line 0: the file, 1: the header row)."""
    applied: bool = False
    """True only when the rows were written (not a dry run, no problem anywhere)."""
    fingerprint: str = ""
    """What was checked, against the contracts as they were: an import of a check must find the same."""

    @property
    def problem_count(self) -> int:
        """Every problem of the file and of its rows."""
        return len(self.problems) + sum(len(r.problems) for r in self.rows)

    @property
    def importable(self) -> bool:
        """The file has rows and no problem."""
        return bool(self.rows) and self.problem_count == 0

    def count(self, action: str) -> int:
        """Rows without problems that ``action`` (create, update, unchanged)."""
        return sum(1 for r in self.rows if r.action == action and not r.problems)


def _fold_header(title: str) -> str:
    return unicodedata.normalize("NFKC", title).strip().lower()


_BY_HEADER: dict[str, str] = {
    **{_fold_header(h): c for c, h in HEADERS.items()},
    **{_fold_header(h): c for c, h in ENGLISH.items()},
}


def _columns(header: list[str]) -> tuple[dict[int, str], list[tuple[int, str]]]:
    """Column index → key, and the problems of the header row."""
    columns: dict[int, str] = {}
    problems: list[tuple[int, str]] = []
    for index, title in enumerate(header):
        key = _BY_HEADER.get(_fold_header(title))
        if key is None:
            if title.strip():
                message = _("Unknown column “{column}”. Use: {known}.")
                problems.append((1, message.format(column=title.strip(), known="、".join(HEADERS.values()))))
        elif key in columns.values():
            problems.append((1, _("The column “{column}” appears twice.").format(column=title.strip())))
        else:
            columns[index] = key
    for required in ("contract_number", "subject"):
        if required not in columns.values():
            message = _("The header row has no “{column}” column.")
            problems.append((1, message.format(column=HEADERS[required])))
    return columns, problems


def _read(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Raw rows (``line`` and the known columns) and the problems of the header row."""
    return spreadsheet.read_rows(text, _columns, cell=spreadsheet_text)


def spreadsheet_text(cell: str) -> str:
    """A cell as the export meant it: spaces around dropped, the apostrophe that kept a formula from running gone."""
    value = cell.strip()
    if value.startswith("'") and value[1:].startswith(spreadsheet.FORMULA_START):
        return value[1:]
    return value


def _labels() -> dict[str, str]:
    return {
        "contract_number": _("Contract number"),
        "subject": _("Subject"),
        "amount": _("Amount"),
        "transaction_date": _("Transaction date"),
        "counterparty": _("Counterparty"),
        "department": _("Department"),
    }


def _amount(row: FinanceRow, typed: str) -> int | None:
    # Excel writes 1,234,000 (or ¥1,234,000); full-width digits are folded too.
    text = unicodedata.normalize("NFKC", typed).replace(",", "").removeprefix("¥").removesuffix("円").strip()
    if not text:
        return None
    try:
        amount = int(text)
    except ValueError:
        row.problems.append(_("The amount “{value}” is not a number of yen.").format(value=typed))
        return None
    if not 0 <= amount <= _MAX_AMOUNT:
        row.problems.append(_("The amount must be between 0 and {max:,} yen.").format(max=_MAX_AMOUNT))
    return amount


def _date(row: FinanceRow, typed: str) -> dt.date | None:
    if not typed:
        return None
    try:
        return parse_date(typed)
    except ValueError:
        message = _("The transaction date “{value}” is not a date (2026-04-01, 2026年4月1日 or 令和8年4月1日).")
        row.problems.append(message.format(value=typed))
        return None


def _texts(row: FinanceRow) -> None:
    for name, value, limit in (
        ("subject", row.subject, 400),
        ("contract_number", row.contract_number, 100),
        ("counterparty", row.counterparty, 400),
    ):
        if has_control_characters(value):
            message = _("The {column} cannot contain line breaks or control characters.")
            row.problems.append(message.format(column=_labels()[name]))
        elif len(value) > limit:
            message = _("The {column} has {n} characters; at most {max} fit.")
            row.problems.append(message.format(column=_labels()[name], n=len(value), max=limit))
    if not row.subject:
        row.problems.append(_("The subject is empty."))


def _department(
    row: FinanceRow, by_name: dict[str, list[Department]], by_code: dict[str, Department]
) -> uuid.UUID | None:
    if not row.department:
        return None
    key = unicodedata.normalize("NFKC", row.department).strip()
    named = by_name.get(key, [])
    if len(named) == 1:
        return named[0].id
    if len(named) > 1:
        message = _("Several departments are called “{name}”. Write its code instead.")
        row.problems.append(message.format(name=row.department))
        return None
    if key in by_code:
        return by_code[key].id
    message = _("“{name}” is not a department of your organisation.")
    row.problems.append(message.format(name=row.department))
    return None


def _status_of(typed: str) -> ContractStatus | None:
    """The status a cell names (its Japanese or English label, or its code); None when it names none."""
    folded = unicodedata.normalize("NFKC", typed).strip().lower()
    for status in ContractStatus:
        names = {status.value, _japanese_status_labels()[status].lower(), contract_status_label(status).lower()}
        token = current_locale.set("en")
        try:
            names.add(contract_status_label(status).lower())
        finally:
            current_locale.reset(token)
        if folded in names:
            return status
    return None


def _hashes(typed: str) -> list[str]:
    return [h.lower() for h in typed.replace(",", " ").split()]


@dataclass
class _Known:
    """What the import knows of the caller's contracts and departments."""

    by_id: dict[uuid.UUID, Contract]
    by_number: dict[str, list[Contract]]
    sealed: dict[uuid.UUID, list[str]]
    certificates: dict[uuid.UUID, str]
    by_name: dict[str, list[Department]]
    by_code: dict[str, Department]


async def _known(repo: ContractRepository, principal: Principal, raw: list[dict[str, Any]]) -> _Known:
    ids: list[uuid.UUID] = []
    for r in raw:
        with contextlib.suppress(ValueError):
            ids.append(uuid.UUID(str(r.get("id") or "")))
    numbers = sorted({str(r.get("contract_number") or "") for r in raw} - {""})
    contracts = {c.id: c for c in await repo.visible_by_ids(principal, ids)}
    by_number: dict[str, list[Contract]] = {}
    for c in await repo.visible_by_numbers(principal, numbers):
        contracts.setdefault(c.id, c)
        by_number.setdefault(c.contract_number, []).append(contracts[c.id])
    sealed, certificates = await repo.delivered_hashes(list(contracts))
    by_name: dict[str, list[Department]] = {}
    by_code: dict[str, Department] = {}
    for d in await repo.departments():
        by_name.setdefault(unicodedata.normalize("NFKC", d.name).strip(), []).append(d)
        by_code[unicodedata.normalize("NFKC", d.code).strip()] = d
    by_id = {c.id: c for c in contracts.values() if c.id in set(ids)}
    return _Known(by_id, by_number, sealed, certificates, by_name, by_code)


def _contract_of(row: FinanceRow, raw: dict[str, Any], known: _Known) -> Contract | None:
    typed_id = str(raw.get("id") or "")
    if typed_id:
        try:
            contract = known.by_id.get(uuid.UUID(typed_id))
        except ValueError:
            contract = None
        if contract is None:
            message = _("No contract of your organisation has the contract ID “{id}”. Leave it empty for a new draft.")
            row.problems.append(message.format(id=typed_id))
        return contract
    same = known.by_number.get(row.contract_number, []) if row.contract_number else []
    if len(same) > 1:
        message = _("{n} contracts have the contract number “{number}”. Write the contract ID of the one meant.")
        row.problems.append(message.format(n=len(same), number=row.contract_number))
        return None
    return same[0] if same else None


def _read_only(row: FinanceRow, raw: dict[str, Any], contract: Contract | None, known: _Known) -> None:
    """状態 and the hashes must say what the contract holds (empty cells are not compared)."""
    typed_status = str(raw.get("status") or "")
    if typed_status:
        status = _status_of(typed_status)
        expected = contract.status if contract is not None else ContractStatus.DRAFT
        if status is not expected:
            message = _(
                "The status cannot be changed by the file (the file says “{typed}”, the contract is “{actual}”)."
            )
            row.problems.append(message.format(typed=typed_status, actual=contract_status_label(expected)))
    sealed = known.sealed.get(contract.id, []) if contract is not None else []
    certificate = known.certificates.get(contract.id, "") if contract is not None else ""
    for column, actual in (("sealed_sha256", sealed), ("certificate_sha256", [certificate] if certificate else [])):
        typed = _hashes(str(raw.get(column) or ""))
        if not typed:
            continue
        if contract is None:
            message = _("The row makes a new draft, which has no sealed file: leave “{column}” empty.")
            row.problems.append(message.format(column=HEADERS[column]))
        elif contract.status is not ContractStatus.CONCLUDED or typed != actual:
            message = _("“{column}” does not match the sealed file of this contract; it cannot be changed by the file.")
            row.problems.append(message.format(column=HEADERS[column]))


def _changes(row: FinanceRow, contract: Contract) -> list[str]:
    """Names of the particulars the row says differently from the contract."""
    labels = _labels()
    pairs = (
        ("contract_number", row.contract_number, contract.contract_number),
        ("subject", row.subject, contract.subject),
        ("amount", row.amount, contract.amount),
        ("transaction_date", row.transaction_date, contract.transaction_date),
        ("counterparty", row.counterparty, contract.counterparty),
        ("department", row.department_id, contract.department_id),
    )
    return [labels[name] for name, new, old in pairs if new != old]


async def _check(session: AsyncSession, principal: Principal, data: bytes) -> FinanceImport:
    result = FinanceImport()
    if len(data) > MAX_IMPORT_BYTES:
        result.problems.append((0, _("The file is larger than {mb} MB.").format(mb=MAX_IMPORT_BYTES // 1024 // 1024)))
        return result
    try:
        text, result.encoding = decode(data)
    except ImportRejected as exc:
        result.problems.append((0, exc.message))
        return result
    raw, result.problems = _read(text)
    if len(raw) > MAX_IMPORT_ROWS:
        message = _("The file has {n} rows; at most {max} can be imported at once.")
        result.problems.append((0, message.format(n=len(raw), max=MAX_IMPORT_ROWS)))
        return result
    if not raw and not result.problems:
        result.problems.append((2, _("The file has no rows of contracts.")))
    assert principal.member_id is not None
    known = await _known(ContractRepository(session, principal.member_id), principal, raw)
    statuses = contract_status_labels()
    seen_contracts: dict[uuid.UUID, int] = {}
    seen_numbers: dict[str, int] = {}
    for r in raw:
        result.rows.append(_check_row(r, known, statuses, seen_contracts, seen_numbers))
    return result


def _check_row(
    r: dict[str, Any],
    known: _Known,
    statuses: dict[ContractStatus, str],
    seen_contracts: dict[uuid.UUID, int],
    seen_numbers: dict[str, int],
) -> FinanceRow:
    """One row checked against the contracts it names, and against the rows before it."""
    row = FinanceRow(
        line=int(r["line"]),
        contract_number=str(r.get("contract_number") or ""),
        subject=str(r.get("subject") or ""),
        counterparty=str(r.get("counterparty") or ""),
        department=str(r.get("department") or ""),
    )
    if r.get("extra"):
        row.problems.append(_("This line has more values than the header row has columns."))
    _texts(row)
    row.amount = _amount(row, str(r.get("amount") or ""))
    row.transaction_date = _date(row, str(r.get("transaction_date") or ""))
    row.department_id = _department(row, known.by_name, known.by_code)
    contract = _contract_of(row, r, known)
    _read_only(row, r, contract, known)
    if contract is None:
        row.action = RowAction.CREATE
        row.status_label = statuses[ContractStatus.DRAFT]
        if row.contract_number:
            first = seen_numbers.setdefault(row.contract_number, row.line)
            if first != row.line:
                message = _("The contract number “{number}” is also on line {line}.")
                row.problems.append(message.format(number=row.contract_number, line=first))
        return row
    row.contract_id = contract.id
    row.status_label = statuses[contract.status]
    first = seen_contracts.setdefault(contract.id, row.line)
    if first != row.line:
        row.problems.append(_("The same contract is also on line {line}.").format(line=first))
    row.changed = _changes(row, contract)
    if not row.changed:
        row.action = RowAction.UNCHANGED
    elif contract.status is ContractStatus.DRAFT:
        row.action = RowAction.UPDATE
    else:
        message = _(
            "The contract is “{status}”: a contract that has been sent or concluded cannot be changed "
            "by the file ({fields}). Correct a concluded contract's particulars on its page, with a reason."
        )
        row.problems.append(message.format(status=row.status_label, fields="、".join(row.changed)))
    return row


def _draft_changes(row: FinanceRow) -> DraftChanges:
    changes = DraftChanges(subject=row.subject, department_id=row.department_id)
    clear = []
    for name in ("contract_number", "counterparty"):
        if getattr(row, name):
            setattr(changes, name, getattr(row, name))
        else:
            clear.append(name)
    for name in ("amount", "transaction_date"):
        if getattr(row, name) is not None:
            setattr(changes, name, getattr(row, name))
        else:
            clear.append(name)
    if row.department_id is None:
        clear.append("department_id")
    changes.clear = clear
    return changes


async def _write(session: AsyncSession, principal: Principal, who: Actor, row: FinanceRow) -> None:
    """Make or change the row's draft (in the caller's savepoint)."""
    if row.action == RowAction.CREATE:
        titles = await ContractRepository(session, principal.member_id).active_titles()
        if not titles:
            raise Invalid(_("Your organisation has no contract title for new contracts. Ask your administrator."))
        await create_contract(
            session,
            principal,
            ContractInput(
                subject=row.subject,
                title_id=titles[0].id,
                contract_number=row.contract_number,
                amount=row.amount,
                transaction_date=row.transaction_date,
                counterparty=row.counterparty,
                department_id=row.department_id,
            ),
            who,
        )
    elif row.action == RowAction.UPDATE and row.contract_id is not None:
        contract = await get_contract(session, row.contract_id, principal)
        await edit_draft(session, principal, contract, _draft_changes(row), who)


def _fingerprint(result: FinanceImport, marker: str) -> str:
    payload = json.dumps([marker, [r.as_json() for r in result.rows]], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


async def finance_import(
    session: AsyncSession,
    principal: Principal,
    who: Actor,
    data: bytes,
    *,
    dry_run: bool,
    fingerprint: str = "",
) -> FinanceImport:
    """Check the file and, unless ``dry_run``, write it: all rows or none.

    ``fingerprint`` (from a dry run shown to the caller) must match what the
    file does now against the contracts as they are; otherwise nothing is
    written and the problem says so.
    """
    assert principal.member_id is not None
    result = await _check(session, principal, data)
    checked = _fingerprint(result, await ContractRepository(session, principal.member_id).change_marker(principal))
    if not dry_run and fingerprint and fingerprint != checked:
        message = _("The contracts have changed since the file was checked. Nothing was imported; check it again.")
        result.problems.append((0, message))
    if result.importable:
        # Every row is done for real, each in a savepoint of its own, the whole in one more:
        # the checks of the services themselves run in a dry run too, and any failure undoes all.
        savepoint = await session.begin_nested()
        try:
            for row in result.rows:
                try:
                    async with session.begin_nested():
                        await _write(session, principal, who, row)
                except ServiceError as exc:
                    row.problems.append(exc.message)
        except BaseException:
            await savepoint.rollback()
            raise
        if dry_run or result.problem_count:
            await savepoint.rollback()
        else:
            await savepoint.commit()
            result.applied = True
    result.fingerprint = checked
    return result
