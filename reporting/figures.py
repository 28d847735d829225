"""The figures of a member's monthly report, measured (never declared).

Definition printed in every report (:func:`reporting.render.availability_definition`)::

    availability = (minutes in window − excluded maintenance minutes − downtime minutes)
                   / (minutes in window − excluded maintenance minutes)

* the *window* is the month (Asia/Tokyo) from the member's go-live date
  (``go_live_on``, else ``joined_on``) and until it left (``left_on``);
* *excluded maintenance* is every announced, not cancelled, non-emergency
  maintenance window of the consortium; emergency work counts as downtime;
* *downtime* is the union of the minutes in which a synthetic probe failed, the
  minutes no probe measured, the minutes of incidents affecting the member (or
  everyone), and emergency work; a minute is counted once however many causes it
  has, and not at all when it lies in excluded maintenance;
* a probe result vouches for the ``KYODO_PROBE_SECONDS`` after it; when the next
  result comes more than twice that later (beat, the web nodes or the database
  down: a total outage the probe could not record), the minutes from the end of
  what the last result vouched for up to the next result are *unmeasured*, and so
  are the minutes of the window before the first result and after the last one
  (up to now). Unmeasured is never available.

Time is handled in whole minutes (``epoch // 60``): an interval covers every
minute it touches.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import JST, month_period, parse_month
from core.settings import get_settings
from reporting.models import Incident, MaintenanceWindow
from reporting.repository import DayCounts, ReportingRepository
from reporting.telemetry import BIN_COUNT, percentile
from tenants.models import Member

__all__ = [
    "DEFAULT_TARGETS",
    "ITEMS",
    "JST",
    "DayFigures",
    "IncidentLine",
    "MaintenanceLine",
    "MemberMonth",
    "ReleaseLine",
    "SecurityMeasures",
    "Targets",
    "compute_month",
    "consortium_ids",
    "consortium_of",
    "month_period",
    "parse_month",
    "targets_for",
]

ITEMS = ("availability", "recovery", "response")
"""Items with a target; a missed one needs a reason and an improvement plan before issuing."""


@dataclass(frozen=True)
class Targets:
    """Quality targets in force for a month."""

    availability_percent: Decimal
    recovery_minutes: int
    response_ms: int


DEFAULT_TARGETS = Targets(availability_percent=Decimal("99.8"), recovery_minutes=6 * 60, response_ms=3000)
"""MOR-14's example, used until a consortium sets its own."""


@dataclass
class IncidentLine:
    """An incident as it appears in a member's report."""

    title: str
    started_at: dt.datetime
    detected_at: dt.datetime
    first_notified_at: dt.datetime | None
    recovered_at: dt.datetime | None
    recovery_minutes: int | None
    downtime_minutes: int
    """Minutes of this incident inside the member's window (outside excluded maintenance)."""
    met: bool | None
    """Recovered within target (None: still open and within target so far)."""
    symptom: str
    cause: str
    prevention: str


@dataclass
class MaintenanceLine:
    """A maintenance window touching the month."""

    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    announced_at: dt.datetime
    emergency: bool
    minutes: int
    """Minutes inside the member's window (excluded, or downtime when emergency)."""


@dataclass
class ReleaseLine:
    """A release or change of the month (NII-9(3))."""

    released_on: dt.date
    change: str
    impact: str


@dataclass
class SecurityMeasures:
    """The month's security measures (SAP-10(1)): what was detected, what was done, what is planned."""

    detected: str
    done: str
    planned: str


@dataclass
class DayFigures:
    """One day of the charts."""

    day: dt.date
    availability_percent: float | None
    p95_ms: float | None
    requests: int


@dataclass
class MemberMonth:
    """Everything a member's monthly report says, computed from measurements."""

    member_id: uuid.UUID
    member_name: str
    lg_code: str
    month: dt.date
    window_start: dt.datetime
    window_end: dt.datetime
    targets: Targets
    window_minutes: int
    maintenance_minutes: int
    downtime_minutes: int
    probe_failed_minutes: int
    availability_percent: Decimal | None
    availability_met: bool
    maintenance: list[MaintenanceLine]
    incidents: list[IncidentLine]
    requests: int
    server_errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    response_met: bool | None
    recovery_met: bool
    contracts_by_department: list[tuple[str, int]]
    contracts_by_title: list[tuple[str, int]]
    security: dict[str, int]
    days: list[DayFigures]
    plans: dict[str, tuple[str, str]] = field(default_factory=dict)
    """item → (reason, improvement plan), written by the operator."""
    downloads: dict[str, int] = field(default_factory=dict)
    """Downloads of concluded contracts and certificates: staff, contractor, api → count (NII-25)."""
    unmeasured_minutes: int = 0
    """Minutes of the window (outside excluded maintenance) with no probe result: counted as downtime."""
    releases: list[ReleaseLine] = field(default_factory=list)
    """Releases and changes of the month, written by the operator (NII-9(3))."""
    security_measures: SecurityMeasures | None = None
    """Security measures of the month, written by the operator (SAP-10(1)); None when none were written."""

    @property
    def missed(self) -> list[str]:
        """Items whose target was missed this month."""
        missed = []
        if not self.availability_met:
            missed.append("availability")
        if not self.recovery_met:
            missed.append("recovery")
        if self.response_met is False:
            missed.append("response")
        return missed

    @property
    def missing_plans(self) -> list[str]:
        """Missed items without a written reason and plan: the report cannot be issued yet."""
        return [item for item in self.missed if item not in self.plans]

    @property
    def contracts_total(self) -> int:
        """Contracts concluded in the month."""
        return sum(count for _, count in self.contracts_by_department)

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-compatible data (kept with the issued report)."""

        def convert(value: Any) -> Any:
            if isinstance(value, dict):
                return {str(k): convert(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [convert(v) for v in value]
            if isinstance(value, dt.datetime | dt.date):
                return value.isoformat()
            if isinstance(value, Decimal | uuid.UUID):
                return str(value)
            if isinstance(value, float) and math.isinf(value):
                return "inf"
            return value

        data = convert(asdict(self))
        data["missed"] = self.missed
        return dict(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemberMonth:
        """The figures kept with an issued report, as they were issued (:meth:`to_json` read back).

        Fields added after a report was issued take their defaults; ``missed`` is
        derived again from the figures it was derived from.
        """
        fields = {k: ("Infinity" if v == "inf" else v) for k, v in data.items() if k != "missed"}
        return msgspec.convert(fields, cls, strict=False)


def _minute(at: dt.datetime) -> int:
    return math.floor(at.timestamp() / 60)


def _minutes(start: dt.datetime, end: dt.datetime) -> range:
    """Every minute the interval ``[start, end)`` touches."""
    return range(_minute(start), math.ceil(end.timestamp() / 60))


def _jst_day(minute: int) -> dt.date:
    return dt.datetime.fromtimestamp(minute * 60, JST).date()


async def targets_for(session: AsyncSession, consortium_id: uuid.UUID, month: dt.date) -> Targets:
    """The targets in force on the first day of ``month`` (defaults when none were set)."""
    row = await ReportingRepository(session, None).targets_in_force(consortium_id, month)
    if row is None:
        return DEFAULT_TARGETS
    return Targets(row.availability_percent, row.recovery_minutes, row.response_ms)


def _percent(up: int, base: int) -> Decimal | None:
    if base <= 0:
        return None
    # Floor to 3 decimals: 99.7996 % must never be shown as 99.800 %.
    return (Decimal(up) * 100 / Decimal(base)).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)


@dataclass
class _Platform:
    """Facts shared by every member of a consortium for one month."""

    failed_probe_minutes: set[int]
    unmeasured_minutes: set[int]
    incidents: list[Incident]
    incident_members: dict[uuid.UUID, set[uuid.UUID]]
    windows: list[MaintenanceWindow]


async def _unmeasured(
    repo: ReportingRepository, start: dt.datetime, end: dt.datetime, *, now: dt.datetime, probe_seconds: float
) -> set[int]:
    """Minutes of ``[start, min(now, end))`` that no probe result vouches for (see the module's definition)."""
    limit = min(now, end)
    if limit <= start:
        return set()
    vouch = dt.timedelta(seconds=max(probe_seconds, 60.0))
    gaps, first, last = await repo.probe_gaps(start, limit, stale_after=2 * vouch)
    if first is None or last is None:
        return set(range(_minute(start), _minute(limit)))
    holes: list[tuple[dt.datetime, dt.datetime]] = [(before + vouch, after) for before, after in gaps]
    if first - start > vouch:
        holes.append((start, first))
    if limit - last > 2 * vouch:
        holes.append((last + vouch, limit))
    minutes: set[int] = set()
    for hole_start, hole_end in holes:
        minutes.update(range(_minute(max(hole_start, start)), _minute(min(hole_end, limit))))
    return minutes


async def _platform(
    repo: ReportingRepository,
    consortium_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime,
    probe_seconds: float,
) -> _Platform:
    # A member's report counts once an operator confirmed it as a failure of the service.
    incidents = [i for i in await repo.incidents_between(start, end) if i.status == "confirmed"]
    return _Platform(
        await repo.failed_probe_minutes(start, end),
        await _unmeasured(repo, start, end, now=now, probe_seconds=probe_seconds),
        incidents,
        await repo.incident_links([i.id for i in incidents if not i.all_members]),
        await repo.maintenance_between(consortium_id, start, end),
    )


def _window(member: Member, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    live_from = member.go_live_on or member.joined_on
    window_start = max(start, dt.datetime(live_from.year, live_from.month, live_from.day, tzinfo=JST))
    window_end = end
    if member.left_on is not None:
        window_end = min(end, dt.datetime(member.left_on.year, member.left_on.month, member.left_on.day, tzinfo=JST))
    return window_start, max(window_start, window_end)


def _affects(platform: _Platform, incident: Incident, member_id: uuid.UUID) -> bool:
    return incident.all_members or member_id in platform.incident_members.get(incident.id, set())


def _days(
    window_start: dt.datetime,
    window_end: dt.datetime,
    *,
    window: set[int],
    excluded: set[int],
    down: set[int],
    latency: dict[dt.date, DayCounts],
) -> list[DayFigures]:
    """Availability and p95 of each Japan-time day of the window (for the charts)."""
    # Excluded and down minutes are few: count them per day one by one; the window
    # is one interval, so its minutes per day come from the day's bounds.
    day_excluded: dict[dt.date, int] = defaultdict(int)
    day_down: dict[dt.date, int] = defaultdict(int)
    for counter, minutes_set in ((day_excluded, excluded), (day_down, down)):
        for minute in minutes_set:
            counter[_jst_day(minute)] += 1
    first, last = (min(window), max(window) + 1) if window else (0, 0)
    days = []
    on = window_start.astimezone(JST).date()
    while dt.datetime(on.year, on.month, on.day, tzinfo=JST) < window_end:
        day_start = _minute(dt.datetime(on.year, on.month, on.day, tzinfo=JST))
        day_minutes = max(0, min(last, day_start + 1440) - max(first, day_start))
        day_base = day_minutes - day_excluded[on]
        day_share = _percent(day_base - day_down[on], day_base)
        day_latency = latency.get(on)
        days.append(
            DayFigures(
                on,
                float(day_share) if day_share is not None else None,
                percentile(day_latency[2], 0.95) if day_latency else None,
                day_latency[0] if day_latency else 0,
            )
        )
        on += dt.timedelta(days=1)

    return days


def _member_month(
    member: Member,
    month: dt.date,
    *,
    targets: Targets,
    platform: _Platform,
    latency: dict[dt.date, DayCounts],
    now: dt.datetime,
) -> MemberMonth:
    start, end = month_period(month)
    window_start, window_end = _window(member, start, end)
    window = set(_minutes(window_start, window_end))
    excluded: set[int] = set()
    emergency: set[int] = set()
    maintenance_lines = []
    for win in platform.windows:
        if not (win.starts_at < window_end and win.ends_at > window_start):
            continue
        minutes = window & set(_minutes(win.starts_at, win.ends_at))
        (emergency if win.emergency else excluded).update(minutes)
        maintenance_lines.append(
            MaintenanceLine(win.title, win.starts_at, win.ends_at, win.announced_at, win.emergency, len(minutes))
        )
    probe_down = platform.failed_probe_minutes & window
    unmeasured = (platform.unmeasured_minutes & window) - excluded
    incident_lines = []
    incident_down: set[int] = set()
    recovery_met = True
    for incident in platform.incidents:
        if not _affects(platform, incident, member.id) or incident.started_at >= window_end:
            continue
        if incident.recovered_at is not None and incident.recovered_at <= window_start:
            continue
        until = incident.recovered_at or min(now, end)
        minutes = (window & set(_minutes(incident.started_at, until))) - excluded
        incident_down |= minutes
        if incident.recovered_at is not None:
            recovery = math.ceil((incident.recovered_at - incident.started_at).total_seconds() / 60)
            met: bool | None = recovery <= targets.recovery_minutes
        else:
            recovery = None
            open_for = (now - incident.started_at).total_seconds() / 60
            met = None if open_for <= targets.recovery_minutes else False
        if met is False:
            recovery_met = False
        incident_lines.append(
            IncidentLine(
                incident.title,
                incident.started_at,
                incident.detected_at,
                incident.first_notified_at,
                incident.recovered_at,
                recovery,
                len(minutes),
                met,
                incident.symptom,
                incident.cause,
                incident.prevention,
            )
        )
    down = (probe_down | unmeasured | incident_down | emergency) - excluded
    base = len(window) - len(excluded)
    availability = _percent(base - len(down), base)
    availability_met = availability is None or availability >= targets.availability_percent

    total_bins = [0] * BIN_COUNT
    requests = errors = 0
    for day_requests, day_errors, bins in latency.values():
        requests += day_requests
        errors += day_errors
        total_bins = [a + b for a, b in zip(total_bins, bins, strict=True)]
    p95 = percentile(total_bins, 0.95)

    days = _days(window_start, window_end, window=window, excluded=excluded, down=down, latency=latency)

    return MemberMonth(
        member_id=member.id,
        member_name=member.name,
        lg_code=member.lg_code,
        month=month,
        window_start=window_start,
        window_end=window_end,
        targets=targets,
        window_minutes=len(window),
        maintenance_minutes=len(excluded),
        downtime_minutes=len(down),
        probe_failed_minutes=len(probe_down - excluded),
        availability_percent=availability,
        availability_met=availability_met,
        maintenance=maintenance_lines,
        incidents=incident_lines,
        requests=requests,
        server_errors=errors,
        p50_ms=percentile(total_bins, 0.50),
        p95_ms=p95,
        p99_ms=percentile(total_bins, 0.99),
        response_met=None if p95 is None else p95 <= targets.response_ms,
        recovery_met=recovery_met,
        contracts_by_department=[],
        contracts_by_title=[],
        security={},
        days=days,
        unmeasured_minutes=len(unmeasured),
    )


def _in_service(member: Member, start: dt.datetime, end: dt.datetime) -> bool:
    window_start, window_end = _window(member, start, end)
    return window_start < window_end


async def compute_month(
    session: AsyncSession,
    consortium_id: uuid.UUID,
    month: dt.date,
    *,
    member_ids: Iterable[uuid.UUID] | None = None,
    now: dt.datetime | None = None,
    probe_seconds: float | None = None,
) -> list[MemberMonth]:
    """Figures of ``month`` for the consortium's members in service that month (or those listed).

    The session must see the members' rows: inside :func:`core.scope.elevated`
    for workers, commands, operators and the secretariat's aggregates, or a
    member-scoped session for that member's own figures.
    """
    start, end = month_period(month)
    now = now or dt.datetime.now(dt.UTC)
    repo = ReportingRepository(session, None)
    members = [m for m in await repo.members(consortium_id, member_ids=member_ids) if _in_service(m, start, end)]
    if not members:
        return []
    ids = [m.id for m in members]
    targets = await targets_for(session, consortium_id, month)
    platform = await _platform(
        repo,
        consortium_id,
        start,
        end,
        now=now,
        probe_seconds=get_settings().reporting.probe_seconds if probe_seconds is None else probe_seconds,
    )
    latency = await repo.latency_by_day(ids, start, end, bins=BIN_COUNT)
    security = await repo.security_counts(ids, start, end)
    plans = await repo.plans(ids, month)
    releases = await repo.releases(ids, month)
    measures = await repo.security_measures(ids, month)
    result = []
    for member in members:
        figures = _member_month(
            member, month, targets=targets, platform=platform, latency=latency.get(member.id, {}), now=now
        )
        window = (figures.window_start, figures.window_end)
        figures.contracts_by_department, figures.contracts_by_title = await repo.concluded_counts(member.id, window)
        figures.downloads = (await repo.downloads([member.id], window))[member.id]
        figures.security = security[member.id]
        figures.plans = plans.get(member.id, {})
        figures.releases = [ReleaseLine(r.released_on, r.change, r.impact) for r in releases.get(member.id, [])]
        written = measures.get(member.id)
        if written is not None:
            figures.security_measures = SecurityMeasures(written.detected, written.done, written.planned)
        result.append(figures)
    return result


async def month_as_reported(
    session: AsyncSession, consortium_id: uuid.UUID, month: dt.date, *, member_ids: list[uuid.UUID] | None = None
) -> tuple[list[MemberMonth], dict[uuid.UUID, dt.datetime]]:
    """Every member's figures of ``month``: an issued report's as issued, the others as computed now.

    An issued report never changes, so a screen that shows it next to 発行済み must
    say what it says, even when measurements or incidents recorded later would
    compute other figures. Returns the figures and member → when issued.
    """
    figures = await compute_month(session, consortium_id, month, member_ids=member_ids)
    repository = ReportingRepository(session, None)
    issued = await repository.issued_figures([f.member_id for f in figures], month)
    return (
        [MemberMonth.from_json(issued[f.member_id][1]) if f.member_id in issued else f for f in figures],
        {member_id: at for member_id, (at, _data) in issued.items()},
    )


async def consortium_of(session: AsyncSession, member_id: uuid.UUID) -> uuid.UUID:
    """The consortium a member belongs to."""
    return await ReportingRepository(session, None).consortium_of(member_id)


async def consortium_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every consortium (for the monthly run)."""
    return await ReportingRepository(session, None).consortium_ids()
