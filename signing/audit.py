"""The hash-chained audit trail of contracts and of staff operations.

Each row stores the previous row's hash of its chain (per contract, or per
member for operations that concern no contract) and its own hash over its
content and that previous hash. Appends to a chain are serialised with a
transaction-level advisory lock. :func:`verify_chains` recomputes everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import per_transaction, session_scope
from core.scope import Principal, elevated
from signing.models import AuditEvent, AuditKind, Party
from signing.repositories import ContractRepository
from signing.webhook_events import emit as emit_webhooks

__all__ = [
    "GENESIS",
    "Actor",
    "ChainProblem",
    "Origin",
    "TrailReport",
    "append_event",
    "event_hash",
    "trail_fingerprint",
    "verify_chains",
    "verify_member_trail",
    "verify_trail",
]

log = logging.getLogger(__name__)

GENESIS = "0" * 64


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the client's address and its user agent."""

    ip: str | None = None
    user_agent: str = ""


@dataclass(frozen=True)
class Actor:
    """Who did something, from where."""

    actor: str
    email: str = ""
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of_principal(cls, principal: Principal, origin: Origin) -> Actor:
        """Staff or another system of a member: ``staff:<id> 起案 太郎``, ``apikey:<id> 財務会計システム``."""
        return cls(
            actor=f"{principal.kind.value}:{principal.id} {principal.name}",
            ip=origin.ip,
            user_agent=origin.user_agent,
        )

    @classmethod
    def of_party(cls, party: Party, origin: Origin) -> Actor:
        """A contractor who opened their personal link: ``party:<id> 岩手建設 岩手 一郎`` and their address."""
        return cls(
            actor=f"party:{party.id} {party.label}",
            email=party.email,
            ip=origin.ip,
            user_agent=origin.user_agent,
        )


_ACTOR_ID = re.compile(r"^[a-z]+:[0-9a-fA-F-]{32,36} ?")


def actor_display_name(actor: str) -> str:
    """The person or company in a trail's ``actor`` (``staff:<id> 内舘 茂`` → ``内舘 茂``), for documents people read.

    The internal id stays in the trail itself; certificates and mails name people.
    """
    return _ACTOR_ID.sub("", actor, count=1).strip() or actor


@dataclass(frozen=True)
class ChainProblem:
    """A row whose hash or link does not match."""

    event_id: int
    contract_id: uuid.UUID | None
    reason: str


def _ip(value: object) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def event_hash(
    *,
    member_id: uuid.UUID,
    contract_id: uuid.UUID | None,
    kind: str,
    occurred_at: dt.datetime,
    actor: str,
    email: str,
    ip: str | None,
    user_agent: str,
    documents: list[str],
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of the event and the previous hash."""
    payload = {
        "member_id": str(member_id),
        "contract_id": str(contract_id) if contract_id else None,
        "kind": kind,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "email": email,
        "ip": _ip(ip),
        "user_agent": user_agent,
        "documents": list(documents),
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def append_event(
    session: AsyncSession,
    *,
    member_id: uuid.UUID,
    contract_id: uuid.UUID | None,
    kind: AuditKind,
    who: Actor,
    documents: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event to its chain in the caller's transaction.

    The chain is locked until the transaction ends, so the transaction's next event
    on the same chain follows this one without locking and reading the tail again.
    """
    repo = ContractRepository(session, member_id)
    chain = f"audit:{contract_id or member_id}"
    prev = per_transaction(session, "audit_tails").get(chain)
    if prev is None:
        await repo.lock_chain(chain)
        prev = await repo.last_hash(contract_id) or GENESIS
    now = dt.datetime.now(dt.UTC)
    row = AuditEvent(
        member_id=member_id,
        contract_id=contract_id,
        kind=kind.value,
        occurred_at=now,
        actor=who.actor[:300],
        email=who.email[:254],
        ip=_ip(who.ip),
        user_agent=who.user_agent[:500],
        documents=list(documents or []),
        detail=dict(detail or {}),
        prev_hash=prev,
    )
    row.hash = event_hash(
        member_id=member_id,
        contract_id=contract_id,
        kind=row.kind,
        occurred_at=now,
        actor=row.actor,
        email=row.email,
        ip=row.ip,
        user_agent=row.user_agent,
        documents=row.documents,
        detail=row.detail,
        prev_hash=prev,
    )
    session.add(row)
    await session.flush()
    per_transaction(session, "audit_tails")[chain] = row.hash
    # The notices to the member's other systems are written with the event they announce.
    await emit_webhooks(session, row)
    return row


@dataclass
class _Chain:
    last: str = GENESIS
    rows: int = 0
    anchored: bool = field(default=True)


async def verify_chains(session: AsyncSession, *, member_id: uuid.UUID | None = None) -> list[ChainProblem]:
    """Recompute every chain (of one member, or of all rows the session may see); empty = intact.

    A member's operation-log chain may start after purged rows (retention), so
    its oldest kept row is taken as the anchor; contract chains always start at
    the genesis hash.
    """
    problems: list[ChainProblem] = []
    chains: dict[str, _Chain] = {}
    async for row in ContractRepository(session, member_id).stream_events():
        key = f"c:{row.contract_id}" if row.contract_id else f"m:{row.member_id}"
        chain = chains.get(key)
        if chain is None:
            chain = chains[key] = _Chain(last=GENESIS if row.contract_id else row.prev_hash)
        if row.prev_hash != chain.last:
            problems.append(ChainProblem(row.id, row.contract_id, "link"))
        expected = event_hash(
            member_id=row.member_id,
            contract_id=row.contract_id,
            kind=row.kind,
            occurred_at=row.occurred_at,
            actor=row.actor,
            email=row.email,
            ip=row.ip,
            user_agent=row.user_agent,
            documents=row.documents,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
        if expected != row.hash:
            problems.append(ChainProblem(row.id, row.contract_id, "hash"))
        chain.last = row.hash
        chain.rows += 1
    return problems


VERIFIED_KEY = "kyodo:audit:verified:{member_id}"
VERIFIED_TTL = 24 * 3600


async def trail_fingerprint(session: AsyncSession, member_id: uuid.UUID) -> tuple[int, str]:
    """How many events the member's trail has, and a sum of their rows' hashes.

    One aggregate in PostgreSQL: any inserted, removed or changed row changes it,
    so a verification done for the same fingerprint still holds.
    """
    return await ContractRepository(session, member_id).trail_fingerprint()


async def verify_member_trail(
    session: AsyncSession, cache: Redis | None, member_id: uuid.UUID
) -> tuple[list[int], int]:
    """Ids of the member's events that break their chains (empty: intact) and how many events were checked.

    Recomputing every chain reads the whole trail, so the result is kept in Redis
    with the trail's fingerprint: a screen shown again over an unchanged trail
    answers from it, and any change to the rows makes it compute afresh.
    """
    count, fingerprint = await trail_fingerprint(session, member_id)
    key = VERIFIED_KEY.format(member_id=member_id)
    if cache is not None:
        try:
            raw = await cache.get(key)
        except RedisError:
            raw = None
        if raw:
            kept = json.loads(raw)
            if kept.get("count") == count and kept.get("fingerprint") == fingerprint:
                return list(kept["broken"]), count
    broken = sorted({p.event_id for p in await verify_chains(session, member_id=member_id)})
    if cache is not None:
        try:
            await cache.set(
                key, json.dumps({"count": count, "fingerprint": fingerprint, "broken": broken}), ex=VERIFIED_TTL
            )
        except RedisError as exc:
            log.warning("audit verification of %s not kept: %s", member_id, exc)
    return broken, count


@dataclass
class TrailReport:
    """Outcome of :func:`verify_trail`, with lines for people."""

    ok: bool
    lines: list[str]


async def verify_trail(member_code: str | None = None) -> TrailReport:
    """Verify the trail of one member (by 全国地方公共団体コード) or of all, as an operator command does."""
    async with session_scope() as session, elevated(session):
        member_id = None
        if member_code:
            member = await ContractRepository(session, None).member_by_code(member_code)
            if member is None:
                return TrailReport(False, [f"no member with code {member_code}"])
            member_id = member.id
        problems = await verify_chains(session, member_id=member_id)
        count = await ContractRepository(session, member_id).count_events()
    lines = [f"event {p.event_id} (contract {p.contract_id}): {p.reason} does not match" for p in problems]
    lines.append(f"{count} events checked, {len(problems)} problems")
    return TrailReport(not problems, lines)
