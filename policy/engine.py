"""The policy engine: one Casbin enforcer per domain, cached per process, refreshed on change.

Each domain (a member, or a consortium's secretariat) gets its own small enforcer
built from the built-in roles, the member's own roles and the member's role
assignments. Answers are cached per subject as the set of permissions Casbin
derives for it, so a check on the hot path is a set lookup.

A change is committed to PostgreSQL, then announced on the Redis channel
``kyodo:policy``; every web and worker process listens and drops the domain, which
is rebuilt from the database on its next use. A process that lost its Redis
connection drops every domain when it reconnects, so no stale grant outlives an
outage.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import casbin
import redis
import redis.asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policy.models import PolicyRule
from policy.permissions import BUILTIN_ROLES, Permission, member_domain

__all__ = ["CHANNEL", "DomainPolicy", "PolicyEngine", "PolicyListener", "announce_change", "engine", "publish_change"]

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("model.conf")
CHANNEL = "kyodo:policy"


def _builtin_lines() -> list[list[str]]:
    return [[f"role:{role}", "*", p.obj, p.act] for role, perms in BUILTIN_ROLES.items() for p in sorted(perms)]


@dataclass
class DomainPolicy:
    """The enforcer of one domain and the permission sets it has answered."""

    domain: str
    enforcer: casbin.Enforcer
    loaded_at: float = field(default_factory=time.monotonic)
    _cache: dict[str, frozenset[Permission]] = field(default_factory=dict)

    def permissions(self, subject: str) -> frozenset[Permission]:
        """Everything ``subject`` may do in this domain (through all its roles)."""
        cached = self._cache.get(subject)
        if cached is None:
            names = [subject, *self.enforcer.get_implicit_roles_for_user(subject, self.domain)]
            found: set[Permission] = set()
            for name in names:
                for rule in self.enforcer.get_filtered_policy(0, name):
                    if rule[1] in ("*", self.domain):
                        found.add(Permission(rule[2], rule[3]))
            cached = frozenset(found)
            self._cache[subject] = cached
        return cached

    def allows(self, subject: str, obj: str, act: str) -> bool:
        """True if ``subject`` may do ``act`` on ``obj``."""
        return Permission(obj, act) in self.permissions(subject)

    def enforce(self, subject: str, obj: str, act: str) -> bool:
        """Ask Casbin directly, without the cache (used by tests and benchmarks)."""
        return bool(self.enforcer.enforce(subject, self.domain, obj, act))

    def roles(self, subject: str) -> list[str]:
        """Roles assigned to ``subject`` (without the ``role:`` prefix)."""
        return sorted(r.removeprefix("role:") for r in self.enforcer.get_roles_for_user_in_domain(subject, self.domain))


def build_domain(domain: str, policy_lines: Iterable[list[str]], grouping_lines: Iterable[list[str]]) -> DomainPolicy:
    """An enforcer for ``domain`` from built-in roles plus the given rules."""
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    enforcer.logger.disabled = True
    p_lines = _builtin_lines() + [list(line) for line in policy_lines]
    g_lines = [list(line) for line in grouping_lines]
    if p_lines:
        enforcer.add_policies(p_lines)
    if g_lines:
        enforcer.add_grouping_policies(g_lines)
    return DomainPolicy(domain, enforcer)


class PolicyEngine:
    """The per-process cache of domain policies."""

    def __init__(self) -> None:
        self._domains: dict[str, DomainPolicy] = {}
        self._lock = threading.Lock()
        self.reloads = 0

    def get(self, domain: str) -> DomainPolicy | None:
        """The loaded policy of ``domain``, if any."""
        return self._domains.get(domain)

    def put(self, policy: DomainPolicy) -> DomainPolicy:
        """Install a freshly built domain policy."""
        with self._lock:
            self._domains[policy.domain] = policy
            self.reloads += 1
        return policy

    async def member_policy(self, session: AsyncSession, member_id: uuid.UUID) -> DomainPolicy:
        """The member's domain policy, loaded from ``session`` (scoped to that member) if needed."""
        domain = member_domain(member_id)
        loaded = self._domains.get(domain)
        if loaded is not None:
            return loaded
        rows = (await session.scalars(select(PolicyRule).where(PolicyRule.member_id == member_id))).all()
        p_lines = [[r.v0, domain, r.v2, r.v3] for r in rows if r.ptype == "p"]
        g_lines = [[r.v0, r.v1, domain] for r in rows if r.ptype == "g"]
        return self.put(build_domain(domain, p_lines, g_lines))

    def consortium_policy(self, domain: str, secretariat_subjects: Iterable[str]) -> DomainPolicy:
        """The secretariat's domain: every account of the consortium has the secretariat role."""
        loaded = self._domains.get(domain)
        if loaded is not None:
            return loaded
        g_lines = [[s, "role:secretariat", domain] for s in secretariat_subjects]
        return self.put(build_domain(domain, [], g_lines))

    def invalidate(self, domain: str | None = None) -> None:
        """Forget ``domain`` (or every domain); it is rebuilt on next use."""
        with self._lock:
            if domain is None:
                self._domains.clear()
            else:
                self._domains.pop(domain, None)


engine = PolicyEngine()
"""This process's policy engine."""


def announce_change(client: redis.Redis, domain: str) -> None:
    """Tell every process that ``domain``'s policy changed (call after commit)."""
    client.publish(CHANNEL, domain)


async def publish_change(client: redis.asyncio.Redis, domain: str, policy_engine: PolicyEngine | None = None) -> None:
    """After commit: drop ``domain`` here at once and tell every other process to drop it too.

    The local drop makes the very next request of this process see the change; a
    Redis that cannot be reached is logged, since each process also drops every
    domain when its listener reconnects.
    """
    (policy_engine or engine).invalidate(domain)
    try:
        await client.publish(CHANNEL, domain)
    except redis.RedisError as exc:
        log.warning("could not announce a policy change of %s (%s)", domain, exc)


class PolicyListener(threading.Thread):
    """Background thread that applies policy-change announcements to :data:`engine`."""

    def __init__(self, redis_url: str, policy_engine: PolicyEngine = engine) -> None:
        super().__init__(name="kyodo-policy-listener", daemon=True)
        self.redis_url = redis_url
        self.policy_engine = policy_engine
        self._stop = threading.Event()
        self.ready = threading.Event()

    def stop(self) -> None:
        """Ask the thread to end (it checks every second)."""
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=10)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(CHANNEL)
                # Anything may have changed while we were not listening.
                self.policy_engine.invalidate()
                self.ready.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self.policy_engine.invalidate(data.decode() if isinstance(data, bytes) else str(data))
                pubsub.close()
            except redis.RedisError as exc:
                self.ready.clear()
                log.warning("policy listener lost Redis (%s); retrying", exc)
                self._stop.wait(1.0)
            finally:
                client.close()
