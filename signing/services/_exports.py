"""CSV exports of the search result and of the audit trail (UTF-8 with BOM, safe for spreadsheets)."""

from __future__ import annotations

import io
import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core import spreadsheet
from core.dates import JST
from core.errors import Invalid
from core.i18n import gettext as _
from core.scope import Principal
from signing.labels import audit_kind_labels, contract_status_label
from signing.repositories import ContractRepository, SearchFilters, TrailFilters


async def to_csv(session: AsyncSession, principal: Principal, filters: SearchFilters, *, limit: int = 100_000) -> bytes:
    """Every matching contract as CSV, UTF-8 with BOM so that Excel opens it correctly."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(
        [
            _("Contract ID"),
            _("Subject"),
            _("Contract number"),
            _("Transaction date"),
            _("Amount"),
            _("Counterparty"),
            _("Status"),
            _("File names"),
            _("Created at"),
            _("Corrections"),
        ]
    )
    repo = ContractRepository(session, principal.member_id)
    async for c in repo.stream_search(principal, filters, limit=limit):
        writer.writerow(
            [
                str(c.id),
                c.subject,
                c.contract_number,
                c.transaction_date.isoformat() if c.transaction_date else "",
                "" if c.amount is None else str(c.amount),
                c.counterparty,
                contract_status_label(c.status),
                " / ".join(c.file_names.splitlines()),
                c.created_at.astimezone(JST).isoformat(timespec="seconds"),
                _corrections_text(c.corrections),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _corrections_text(corrections: list[dict[str, object]]) -> str:
    """Each correction of the particulars on one line: when, who, field: before → after, and why."""
    names = {
        "transaction_date": _("Transaction date"),
        "amount": _("Amount"),
        "counterparty": _("Counterparty"),
        "contract_number": _("Contract number"),
    }
    lines = []
    for record in corrections:
        changes = record.get("changes")
        parts = [
            f"{names.get(name, name)}: {change.get('before') or '—'} → {change.get('after') or '—'}"
            for name, change in (changes.items() if isinstance(changes, dict) else [])
            if isinstance(change, dict)
        ]
        lines.append(f"{record.get('at', '')} {record.get('by', '')} {'; '.join(parts)} ({record.get('reason', '')})")
    return "\n".join(lines)


TRAIL_EXPORT_LIMIT = 100_000
"""Most events one CSV export of the audit trail holds; a wider range must be narrowed, never cut silently."""


async def trail_csv(session: AsyncSession, member_id: uuid.UUID, filters: TrailFilters) -> bytes:
    """The filtered trail as CSV (UTF-8 with BOM for Excel), every column including both hashes."""
    repo = ContractRepository(session, member_id)
    total = await repo.trail_count(filters)
    if total > TRAIL_EXPORT_LIMIT:
        raise Invalid(
            _("The export holds at most {limit} events; {total} match. Please narrow the date range.").format(
                limit=f"{TRAIL_EXPORT_LIMIT:,}", total=f"{total:,}"
            )
        )
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(
        [
            _("Time (Japan)"),
            _("Event"),
            _("Contract ID"),
            _("Contract number"),
            _("Subject"),
            _("Who"),
            _("E-mail"),
            _("IP address"),
            _("User agent"),
            _("Document SHA-256"),
            _("Details"),
            _("Previous hash"),
            _("Hash"),
        ]
    )
    kinds = audit_kind_labels()
    async for event, subject, number in repo.stream_trail(filters):
        writer.writerow(
            [
                event.occurred_at.astimezone(JST).isoformat(timespec="seconds"),
                kinds.get(event.kind, event.kind),
                str(event.contract_id or ""),
                number or "",
                subject or "",
                event.actor,
                event.email,
                event.ip or "",
                event.user_agent,
                " ".join(event.documents),
                json.dumps(event.detail, ensure_ascii=False, sort_keys=True) if event.detail else "",
                event.prev_hash,
                event.hash,
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
