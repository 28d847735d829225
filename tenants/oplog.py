"""The operation log of a member's staff (DAT-6, NII-42/43): sign-ins, administration, imports, exports.

Each row stores the previous row of its member's chain's hash and its own hash
over its content and that previous hash, exactly as the contract trail does
(:mod:`signing.audit`); appends are serialised per member with a
transaction-level advisory lock. The table is append-only for the application
role.

Who acted is taken from the request: :func:`bind` puts the caller and their
address on the request's session once it is scoped, so a service only says what
happened (:func:`record`). Without a bound caller the row says ``system``.

Rows are kept ``KYODO_OPERATION_LOG_YEARS`` (3 years by default). The daily
purge (:func:`purge_expired`) first appends a ``purged`` row naming the hash of
the last row it removes, then removes them: the remaining chain starts at that
hash, so :func:`verify` still checks it from its first row, and removing more
rows by hand shows as a broken link.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import ipaddress
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from core import operations, spreadsheet
from core.dates import JST
from core.errors import Invalid
from core.i18n import current_locale, translations
from core.i18n import gettext as _
from core.runtime import database_admin_url
from core.scope import Principal
from core.settings import Settings, to_psycopg_url
from tenants.models import OperationKind, OperationLog
from tenants.repositories.oplog import OperationFilters, OperationLogRepository

__all__ = [
    "EXPORT_LIMIT",
    "SYSTEM",
    "OperationFilters",
    "OperationKind",
    "OperationPage",
    "Verification",
    "Who",
    "attach",
    "bind",
    "changes",
    "column_labels",
    "csv_export",
    "detail_text",
    "field_labels",
    "genesis",
    "kind_labels",
    "operation_hash",
    "page",
    "purge_expired",
    "reason_labels",
    "record",
    "target",
    "verify",
]

log = logging.getLogger(__name__)


def genesis(member_id: uuid.UUID) -> str:
    """The ``prev_hash`` of a member's first row: bound to the member, so no chain can pass for another's."""
    return hashlib.sha256(f"kyodo operation log of member {member_id}".encode()).hexdigest()


EXPORT_LIMIT = 100_000
"""Most rows one CSV holds; a longer period must be exported in parts."""

_WHO_KEY = "kyodo.oplog.who"


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` as meant in ``context`` (both literal where called, for extraction)."""
    return translations(current_locale.get()).pgettext(context, message)


@dataclass(frozen=True)
class Who:
    """Who acted and from where: ``staff:<id> 名前``, ``apikey:<id> ラベル`` or ``system``."""

    actor: str
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, principal: Principal, *, ip: str | None = None, user_agent: str = "") -> Who:
        """The caller of a request."""
        return cls(f"{principal.kind.value}:{principal.id} {principal.name}", ip, user_agent)


SYSTEM = Who("system")


def bind(session: AsyncSession, who: Who | None) -> None:
    """Say who acts through ``session`` (the request's caller); :func:`record` names them.

    Also installs the recorder of :mod:`core.operations`, so that changes made
    in domains that cannot import this one (roles, in ``policy``) are recorded too.
    """
    if who is None:
        session.info.pop(_WHO_KEY, None)
    else:
        session.info[_WHO_KEY] = who
    attach(session)


def attach(session: AsyncSession) -> None:
    """Record what lower domains note on ``session`` (:mod:`core.operations`), e.g. from a command line."""
    operations.install(session, _noted)


async def _noted(
    session: AsyncSession, member_id: uuid.UUID, kind: str, target: str, detail: Mapping[str, Any]
) -> OperationLog:
    return await record(session, member_id=member_id, kind=OperationKind(kind), target=target, detail=detail)


def bound(session: AsyncSession) -> Who:
    """Who acts through ``session``, ``system`` when nobody was bound."""
    who = session.info.get(_WHO_KEY)
    return who if isinstance(who, Who) else SYSTEM


def target(kind: str, row_id: object, label: str = "") -> str:
    """How a row acted on is named: ``staff:<id> morioka-kikaku``."""
    return f"{kind}:{row_id} {label}".strip()[:300]


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields that differ, as ``{"before": {…}, "after": {…}}`` (JSON-safe values)."""
    keys = [k for k in after if _plain(before.get(k)) != _plain(after.get(k))]
    return {"before": {k: _plain(before.get(k)) for k in keys}, "after": {k: _plain(after.get(k)) for k in keys}}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _ip(value: object) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def operation_hash(
    *,
    member_id: uuid.UUID,
    kind: str,
    occurred_at: dt.datetime,
    actor: str,
    ip: str | None,
    user_agent: str,
    target: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of the row and the previous hash."""
    payload = {
        "member_id": str(member_id),
        "kind": kind,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "ip": _ip(ip),
        "user_agent": user_agent,
        "target": target,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _row_hash(row: OperationLog) -> str:
    return operation_hash(
        member_id=row.member_id,
        kind=row.kind,
        occurred_at=row.occurred_at,
        actor=row.actor,
        ip=row.ip,
        user_agent=row.user_agent,
        target=row.target,
        detail=row.detail,
        prev_hash=row.prev_hash,
    )


async def record(
    session: AsyncSession,
    *,
    member_id: uuid.UUID,
    kind: OperationKind,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    who: Who | None = None,
) -> OperationLog:
    """Append an operation to the member's chain in the caller's transaction.

    ``who`` defaults to the caller bound to the session (:func:`bind`). The
    session must work for ``member_id`` (or be elevated).
    """
    who = who or bound(session)
    repo = OperationLogRepository(session, member_id)
    await repo.lock_chain(member_id)
    prev = await repo.last_hash(member_id) or genesis(member_id)
    row = OperationLog(
        member_id=member_id,
        kind=kind.value,
        occurred_at=dt.datetime.now(dt.UTC),
        actor=who.actor[:300],
        ip=_ip(who.ip),
        user_agent=who.user_agent[:500],
        target=target[:300],
        detail=_plain(dict(detail or {})),
        prev_hash=prev,
    )
    row.hash = _row_hash(row)
    repo.add(row)
    await session.flush()
    return row


# ---------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verification:
    """Ids of rows whose hash or link does not match (empty: intact) and how many rows were checked."""

    broken: list[int]
    checked: int

    @property
    def ok(self) -> bool:
        """True when every row matches."""
        return not self.broken


async def _recompute(session: AsyncSession, member_id: uuid.UUID) -> list[int]:
    repo = OperationLogRepository(session, member_id)
    checkpoint = await repo.last_purge(member_id)
    expected_prev = str((checkpoint.detail or {}).get("through_hash")) if checkpoint else genesis(member_id)
    broken: list[int] = []
    async for row in repo.stream_chain():
        if row.prev_hash != expected_prev or _row_hash(row) != row.hash:
            broken.append(row.id)
        expected_prev = row.hash
    return broken


_VERIFIED_KEY = "kyodo:oplog:verified:{member_id}"
_VERIFIED_TTL = 24 * 3600


async def verify(session: AsyncSession, member_id: uuid.UUID, cache: Redis | None = None) -> Verification:
    """Recompute the member's chain from its first kept row (or from the last purge's hash).

    The result is kept in Redis with a fingerprint of the rows (count and sum of
    their hashes, one aggregate): shown again over an unchanged log, the screen
    answers from it; any inserted, removed or changed row makes it compute afresh.
    """
    count, fingerprint = await OperationLogRepository(session, member_id).fingerprint()
    key = _VERIFIED_KEY.format(member_id=member_id)
    if cache is not None:
        try:
            raw = await cache.get(key)
        except RedisError:
            raw = None
        if raw:
            kept = json.loads(raw)
            if kept.get("count") == count and kept.get("fingerprint") == fingerprint:
                return Verification(list(kept["broken"]), count)
    broken = await _recompute(session, member_id)
    if cache is not None:
        try:
            await cache.set(
                key, json.dumps({"count": count, "fingerprint": fingerprint, "broken": broken}), ex=_VERIFIED_TTL
            )
        except RedisError as exc:
            log.warning("operation log verification of %s not kept: %s", member_id, exc)
    return Verification(broken, count)


# ---------------------------------------------------------------------- retention


def purge_expired(settings: Settings, *, now: dt.datetime | None = None) -> int:
    """Remove every member's rows older than ``KYODO_OPERATION_LOG_YEARS``, keeping each chain verifiable.

    Runs as the schema owner (the table is append-only for the application
    role), in one transaction, synchronously (a Celery task). Per member, a
    ``purged`` row naming the last removed row's id and hash is appended to the
    chain first, then the rows up to that one are deleted. Returns the rows removed.
    """
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=365 * settings.contracts.operation_log_years)
    url = to_psycopg_url(database_admin_url(settings)).replace("postgresql+psycopg://", "postgresql://", 1)
    removed = 0
    with psycopg.connect(url) as conn, conn.transaction():
        # Row-level security applies to the owner too (FORCE): this transaction works for every member.
        conn.execute("SELECT set_config('kyodo.system', 'on', true)")
        members = conn.execute(
            "SELECT DISTINCT member_id FROM operation_log WHERE occurred_at < %s AND kind <> %s",
            (cutoff, OperationKind.PURGED.value),
        ).fetchall()
        for (member_id,) in members:
            removed += _purge_member(conn, member_id, cutoff)
    log.info("purged %s operation log rows older than %s", removed, cutoff.date())
    return removed


def _purge_member(conn: psycopg.Connection[Any], member_id: uuid.UUID, cutoff: dt.datetime) -> int:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"oplog:{member_id}",))
    last = conn.execute(
        "SELECT id, hash FROM operation_log WHERE member_id = %s AND occurred_at < %s ORDER BY id DESC LIMIT 1",
        (member_id, cutoff),
    ).fetchone()
    if last is None:
        return 0
    through_id, through_hash = last
    count_row = conn.execute(
        "SELECT count(*) FROM operation_log WHERE member_id = %s AND id <= %s", (member_id, through_id)
    ).fetchone()
    tip = conn.execute(
        "SELECT hash FROM operation_log WHERE member_id = %s ORDER BY id DESC LIMIT 1", (member_id,)
    ).fetchone()
    count = int(count_row[0]) if count_row else 0
    prev = str(tip[0]) if tip else genesis(member_id)
    now = dt.datetime.now(dt.UTC)
    detail = {
        "through_id": int(through_id),
        "through_hash": str(through_hash),
        "rows": count,
        "before": cutoff.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }
    digest = operation_hash(
        member_id=member_id,
        kind=OperationKind.PURGED.value,
        occurred_at=now,
        actor=SYSTEM.actor,
        ip=None,
        user_agent="",
        target="operation_log",
        detail=detail,
        prev_hash=prev,
    )
    conn.execute(
        "INSERT INTO operation_log (member_id, kind, occurred_at, actor, ip, user_agent, target, detail,"
        " prev_hash, hash) VALUES (%s, %s, %s, %s, NULL, '', 'operation_log', %s, %s, %s)",
        (member_id, OperationKind.PURGED.value, now, SYSTEM.actor, Jsonb(detail), prev, digest),
    )
    cur = conn.execute("DELETE FROM operation_log WHERE member_id = %s AND id <= %s", (member_id, through_id))
    return int(cur.rowcount)


# ---------------------------------------------------------------------- the screen and its CSV


def kind_labels() -> dict[str, str]:
    """Each kind of operation as people read it."""
    return {
        OperationKind.SIGNED_IN.value: pgettext("operation", "Signed in"),
        OperationKind.SIGN_IN_FAILED.value: pgettext("operation", "Sign-in failed"),
        OperationKind.CREATED.value: pgettext("operation", "Created"),
        OperationKind.CHANGED.value: pgettext("operation", "Changed"),
        OperationKind.DELETED.value: pgettext("operation", "Deleted"),
        OperationKind.IMPORTED.value: pgettext("operation", "Imported"),
        OperationKind.EXPORTED.value: pgettext("operation", "Exported"),
        OperationKind.SEARCHED.value: pgettext("operation", "Searched"),
        OperationKind.PURGED.value: pgettext("operation", "Old entries removed"),
    }


def field_labels() -> dict[str, str]:
    """Fields of a change (``before`` → ``after``) as people read them."""
    return {
        "login_id": pgettext("operation field", "Login ID"),
        "name": pgettext("operation field", "Name"),
        "email": pgettext("operation field", "E-mail"),
        "department_id": pgettext("operation field", "Department"),
        "status": pgettext("operation field", "Status"),
        "view_scope": pgettext("operation field", "Contracts visible"),
        "roles": pgettext("operation field", "Roles"),
        "password": pgettext("operation field", "Password"),
        "locked": pgettext("operation field", "Locked"),
        "code": pgettext("operation field", "Code"),
        "formal_name": pgettext("operation field", "Formal name"),
        "sort_order": pgettext("operation field", "Order"),
        "active": pgettext("operation field", "In use"),
        "parent_id": pgettext("operation field", "Parent department"),
        "cidr": pgettext("operation field", "Address range"),
        "label": pgettext("operation field", "Label"),
        "prefix": pgettext("operation field", "Key prefix"),
        "revoked": pgettext("operation field", "Revoked"),
        "granted": pgettext("operation field", "Granted"),
        "permissions": pgettext("operation field", "Permissions"),
    }


def reason_labels() -> dict[str, str]:
    """Why a sign-in was refused, as people read it."""
    return {
        "invalid": pgettext("sign-in refused", "Wrong ID or password"),
        "locked": pgettext("sign-in refused", "Account locked"),
        "ip_refused": pgettext("sign-in refused", "Address outside the allowed networks"),
        "inactive": pgettext("sign-in refused", "Account not active"),
    }


@dataclass
class OperationPage:
    """One page of the log, newest first."""

    items: list[OperationLog]
    page: int
    per_page: int
    has_next: bool
    filters: OperationFilters = dataclasses.field(default_factory=OperationFilters)


async def page(
    session: AsyncSession, member_id: uuid.UUID, filters: OperationFilters, *, number: int = 1, per_page: int = 50
) -> OperationPage:
    """A page of the member's log."""
    number = max(1, number)
    per_page = max(1, min(per_page, 200))
    rows = await OperationLogRepository(session, member_id).page(
        filters, offset=(number - 1) * per_page, limit=per_page + 1
    )
    return OperationPage(list(rows[:per_page]), number, per_page, len(rows) > per_page, filters)


def detail_text(detail: Mapping[str, Any]) -> str:
    """The details of an operation as one line of JSON (empty when there are none)."""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""


def column_labels() -> dict[str, str]:
    """Headings of the screen and the CSV that need a context to translate."""
    return {"operation": pgettext("operation log", "Operation"), "target": pgettext("operation log", "Target")}


async def csv_export(session: AsyncSession, member_id: uuid.UUID, filters: OperationFilters) -> bytes:
    """The filtered log as CSV (UTF-8 with BOM for Excel, cells that cannot run as formulas), hashes included.

    The export is itself recorded, with the filters used.
    """
    repo = OperationLogRepository(session, member_id)
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    headings = column_labels()
    writer.writerow(
        [
            _("Time (Japan)"),
            headings["operation"],
            _("Who"),
            _("IP address"),
            _("User agent"),
            headings["target"],
            _("Details"),
            _("Previous hash"),
            _("Hash"),
        ]
    )
    labels = kind_labels()
    rows = 0
    async for row in repo.stream(filters):
        rows += 1
        if rows > EXPORT_LIMIT:
            raise Invalid(
                _("The export holds at most {limit} entries. Please narrow the period.").format(
                    limit=f"{EXPORT_LIMIT:,}"
                )
            )
        writer.writerow(
            [
                row.occurred_at.astimezone(JST).isoformat(timespec="seconds"),
                labels.get(row.kind, row.kind),
                row.actor,
                row.ip or "",
                row.user_agent,
                row.target,
                detail_text(row.detail),
                row.prev_hash,
                row.hash,
            ]
        )
    await record(
        session,
        member_id=member_id,
        kind=OperationKind.EXPORTED,
        target="operation_log",
        detail={
            "operation_log": True,
            "rows": rows,
            "filters": {k: v for k, v in dataclasses.asdict(filters).items() if v},
        },
    )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
