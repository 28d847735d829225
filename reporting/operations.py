"""Operator commands of reporting (``kyodo report …``, ``kyodo maintenance …``, ``kyodo incident …``).

Each opens a session of its own (:func:`reporting.repository.system_session`
where it works across members), calls the services and returns plain text
lines for the terminal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from core.dates import JST
from core.db import session_scope, system_session
from core.i18n import gettext as _
from reporting.figures import compute_month
from reporting.render import render_incident_report, report_language
from reporting.repository import ReportingRepository
from reporting.services import (
    IssueRefusedError,
    add_progress,
    issue_report,
    open_incident,
    record_recovery,
    render,
    schedule_maintenance,
    set_notice_days,
    set_targets,
    weekly_review,
    write_plan,
)

__all__ = [
    "add_incident",
    "add_maintenance",
    "add_plan",
    "add_progress_entry",
    "change_targets",
    "close_incident",
    "generate",
    "incident_report",
    "review",
]


def _write_draft(base: Path, pdf: bytes, csv: bytes) -> None:
    base.parent.mkdir(parents=True, exist_ok=True)
    base.with_suffix(".pdf").write_bytes(pdf)
    base.with_suffix(".csv").write_bytes(csv)


async def generate(
    month: dt.date, *, lg_code: str | None = None, draft_dir: Path | None = None, issued_by: str = "operator"
) -> list[str]:
    """Issue (or with ``draft_dir``, only write drafts of) the reports of ``month``."""
    lines: list[str] = []
    async with system_session() as session:
        repo = ReportingRepository(session, None)
        member_ids = None
        if lg_code:
            member = await repo.member_by_code(lg_code)
            if member is None:
                return [f"no member with local government code {lg_code}"]
            member_ids = [member.id]
        for consortium_id in await repo.consortium_ids():
            for figures in await compute_month(session, consortium_id, month, member_ids=member_ids):
                label = f"{figures.lg_code} {figures.member_name}"
                if draft_dir is not None:
                    rendered = render(figures)
                    base = draft_dir / f"{figures.lg_code}-{month:%Y-%m}"
                    await asyncio.to_thread(_write_draft, base, rendered.pdf, rendered.csv)
                    lines.append(f"{label}: draft written to {base}.pdf / .csv")
                    continue
                try:
                    report = await issue_report(session, figures.member_id, month, issued_by=issued_by)
                except IssueRefusedError as exc:
                    lines.append(f"{label}: NOT issued — {exc}")
                    continue
                # Each issued report is final on its own: one refused does not hold back the others.
                await session.commit()
                lines.append(f"{label}: issued, PDF sha256 {report.pdf_sha256}")
    return lines or ["no member was in service in that month"]


async def _member(lg_code: str) -> uuid.UUID:
    async with session_scope() as session:
        member = await ReportingRepository(session, None).member_by_code(lg_code)
    if member is None:
        raise LookupError(f"no member with local government code {lg_code}")
    return member.id


async def add_plan(month: dt.date, lg_code: str, *, item: str, reason: str, plan: str, by: str) -> str:
    """Write the reason and improvement plan for a missed target."""
    member_id = await _member(lg_code)
    async with system_session() as session:
        await write_plan(session, member_id, month, item=item, reason=reason, plan=plan, by=by)
    return f"plan for {item} of {lg_code} {month:%Y-%m} written"


async def _consortium(slug: str) -> uuid.UUID:
    async with session_scope() as session:
        consortium_id = await ReportingRepository(session, None).consortium_id_by_slug(slug)
    if consortium_id is None:
        raise LookupError(f"no consortium {slug!r}")
    return consortium_id


async def change_notice_days(slug: str, days: int) -> str:
    """Set a consortium's maintenance notice period."""
    consortium_id = await _consortium(slug)
    async with session_scope() as session:
        consortium = await set_notice_days(session, consortium_id, days)
    return f"maintenance of {consortium.name} is announced {days} days ahead from now on"


async def add_maintenance(
    slug: str, *, title: str, starts_at: dt.datetime, ends_at: dt.datetime, description: str, emergency: bool
) -> str:
    """Announce a maintenance window (the announcement mail goes through the outbox)."""
    consortium_id = await _consortium(slug)
    async with session_scope() as session:
        window = await schedule_maintenance(
            session,
            consortium_id,
            title=title,
            starts_at=starts_at,
            ends_at=ends_at,
            description=description,
            emergency=emergency,
        )
    if window.ends_at <= window.announced_at:
        return f"maintenance {window.id} recorded (already over: nobody is mailed)"
    return f"maintenance {window.id} announced"


async def add_incident(
    *,
    title: str,
    started_at: dt.datetime,
    detected_at: dt.datetime,
    symptom: str,
    lg_codes: list[str],
    first_notified_at: dt.datetime | None = None,
    severity: str = "major",
) -> str:
    """Record an incident (for every member when no codes are given)."""
    members = [await _member(code) for code in lg_codes] if lg_codes else None
    async with system_session() as session:
        incident = await open_incident(
            session,
            title=title,
            started_at=started_at,
            detected_at=detected_at,
            first_notified_at=first_notified_at,
            symptom=symptom,
            members=members,
            severity=severity,
        )
    return f"incident {incident.id} recorded"


async def add_progress_entry(incident_id: uuid.UUID, *, note: str, by: str, at: dt.datetime | None = None) -> str:
    """Write one progress entry (経緯) of an incident."""
    async with session_scope() as session:
        entry = await add_progress(session, incident_id, note=note, by=by, at=at)
    return f"progress of incident {incident_id} written ({entry.at.astimezone(JST):%Y-%m-%d %H:%M})"


async def incident_report(incident_id: uuid.UUID, *, locale: str = "ja") -> bytes:
    """The serious-incident report (重大障害報告書) of an incident as a PDF."""
    async with system_session() as session:
        repo = ReportingRepository(session, None)
        incident = await repo.incident(incident_id)
        if incident is None:
            raise LookupError(f"no incident {incident_id}")
        hit = [] if incident.all_members else await repo.member_names(await repo.affected_member_ids(incident.id))
        progress = await repo.progress(incident.id)
        with report_language(locale):
            scope = _("every member of the platform") if incident.all_members else "、".join(hit)
            return render_incident_report(incident, progress, scope=scope)


SEVERITY_LABELS = {"critical": "重大", "major": "重要", "minor": "軽微"}


async def review(days: int = 7) -> list[str]:
    """The weekly incident review for operators: every incident open in the last ``days`` days, with its 経緯."""
    async with system_session() as session:
        repo = ReportingRepository(session, None)
        lines_of = await weekly_review(session, days=days)
        out = [f"incidents of the last {days} days: {len(lines_of)}"]
        for line in lines_of:
            i = line.incident
            state = "OPEN" if line.open else f"recovered in {line.recovery_minutes} min"
            hit = [] if i.all_members else await repo.member_names(await repo.affected_member_ids(i.id))
            scope = "全団体" if i.all_members else "、".join(hit)
            out.append(
                f"[{SEVERITY_LABELS.get(i.severity, i.severity)}] {i.started_at.astimezone(JST):%Y-%m-%d %H:%M} "
                f"{i.title} — {state} — 対象：{scope}"
            )
            out.append(f"    cause: {i.cause or '—'} / prevention: {i.prevention or '—'}")
            out.extend(f"    {p.at.astimezone(JST):%m-%d %H:%M} {p.note} ({p.written_by})" for p in line.progress)
    return out


async def close_incident(incident_id: uuid.UUID, *, recovered_at: dt.datetime, cause: str, prevention: str) -> str:
    """Record the recovery, cause and prevention of an incident."""
    async with session_scope() as session:
        await record_recovery(session, incident_id, recovered_at=recovered_at, cause=cause, prevention=prevention)
    return f"incident {incident_id} recovered"


async def change_targets(
    slug: str, *, effective_from: dt.date, availability: Decimal, recovery_minutes: int, response_ms: int
) -> str:
    """New targets from a date on (earlier months keep theirs)."""
    consortium_id = await _consortium(slug)
    async with session_scope() as session:
        await set_targets(
            session,
            consortium_id,
            effective_from=effective_from,
            availability_percent=availability,
            recovery_minutes=recovery_minutes,
            response_ms=response_ms,
        )
    return f"targets of {slug} from {effective_from} recorded"
