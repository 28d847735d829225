"""The policy engine: one domain policy per member, cached per process, refreshed on change.

Each domain (a member, or a consortium's secretariat) is built from the built-in
roles, the member's own roles and the member's role assignments, in Casbin's
model (``model.conf``: ``p`` and ``g`` lines). Answers are cached per subject as
the set of permissions the model derives for it, so a check on the hot path is
a set lookup; tests compare every answer with Casbin's enforcer.

A change is committed to PostgreSQL, then announced on the Redis channel
``kyodo:policy`` (:func:`policy.services.policy_changed` registers the
announcement to run after the commit); every web and worker process listens and
drops the domain, which is rebuilt from the database on its next use. A process
that lost its Redis connection drops every domain when it reconnects, and no
domain is kept longer than :data:`MAX_AGE_SECONDS`, so no stale grant outlives an
outage or a lost announcement for long.
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
from sqlalchemy.ext.asyncio import AsyncSession

from core.runtime import ServicesNotRunning, redis_url
from core.settings import get_settings
from policy.permissions import BUILTIN_ROLES, Permission, member_domain
from policy.repository import PolicyRepository

__all__ = [
    "CHANNEL",
    "MAX_AGE_SECONDS",
    "DomainPolicy",
    "PolicyEngine",
    "PolicyListener",
    "announce",
    "engine",
]

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("model.conf")
CHANNEL = "kyodo:policy"
MAX_AGE_SECONDS = 300.0
"""A domain loaded longer ago than this is rebuilt on its next use, announcement or not."""


def _builtin_lines() -> list[list[str]]:
    return [[f"role:{role}", "*", p.obj, p.act] for role, perms in BUILTIN_ROLES.items() for p in sorted(perms)]


@dataclass
class DomainPolicy:
    """The rules of one domain, the permission sets answered from them, and its Casbin enforcer.

    The hot path (:meth:`permissions`, :meth:`allows`) walks two dictionaries built
    once from the same lines the enforcer holds: subject → roles (``g``) and role
    → permissions (``p``). Casbin's own role walk grows with the square of the
    assignments (about 4.5 s for 2,000, minutes for a 10,000-staff member), which
    must never run on the event loop; the enforcer is built only when asked
    (:meth:`enforce`, for the tests and benchmarks that compare both answers).
    """

    domain: str
    policy_lines: list[list[str]]
    grouping_lines: list[list[str]]
    loaded_at: float = field(default_factory=time.monotonic)
    _cache: dict[str, frozenset[Permission]] = field(default_factory=dict)
    _grants: dict[str, set[str]] = field(default_factory=dict)
    _rules: dict[str, set[Permission]] = field(default_factory=dict)
    _enforcer: casbin.Enforcer | None = None

    def __post_init__(self) -> None:
        for subject, role, dom in (line[:3] for line in self.grouping_lines):
            if dom in ("*", self.domain):
                self._grants.setdefault(subject, set()).add(role)
        for sub, dom, obj, act in (line[:4] for line in self.policy_lines):
            if dom in ("*", self.domain):
                self._rules.setdefault(sub, set()).add(Permission(obj, act))

    @property
    def enforcer(self) -> casbin.Enforcer:
        """Casbin's enforcer over the same lines (built on first use)."""
        if self._enforcer is None:
            enforcer = casbin.Enforcer(str(MODEL_PATH))
            enforcer.logger.disabled = True
            if self.policy_lines:
                enforcer.add_policies(self.policy_lines)
            if self.grouping_lines:
                enforcer.add_grouping_policies(self.grouping_lines)
            self._enforcer = enforcer
        return self._enforcer

    def _names(self, subject: str) -> set[str]:
        seen = {subject}
        pending = [subject]
        while pending:
            for role in self._grants.get(pending.pop(), ()):
                if role not in seen:
                    seen.add(role)
                    pending.append(role)
        return seen

    def permissions(self, subject: str) -> frozenset[Permission]:
        """Everything ``subject`` may do in this domain (through all its roles, transitively)."""
        cached = self._cache.get(subject)
        if cached is None:
            found: set[Permission] = set()
            for name in self._names(subject):
                found |= self._rules.get(name, set())
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
        return sorted(r.removeprefix("role:") for r in self._grants.get(subject, ()))


def build_domain(domain: str, policy_lines: Iterable[list[str]], grouping_lines: Iterable[list[str]]) -> DomainPolicy:
    """The policy of ``domain`` from built-in roles plus the given rules."""
    p_lines = _builtin_lines() + [list(line) for line in policy_lines]
    g_lines = [list(line) for line in grouping_lines]
    return DomainPolicy(domain, p_lines, g_lines)


class PolicyEngine:
    """The per-process cache of domain policies."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self._domains: dict[str, DomainPolicy] = {}
        self._lock = threading.Lock()
        self.max_age = max_age

    def _loaded(self, domain: str) -> DomainPolicy | None:
        loaded = self._domains.get(domain)
        if loaded is not None and time.monotonic() - loaded.loaded_at < self.max_age:
            return loaded
        return None

    def _put(self, policy: DomainPolicy) -> DomainPolicy:
        with self._lock:
            self._domains[policy.domain] = policy
        return policy

    def is_loaded(self, domain: str) -> bool:
        """True while ``domain`` is cached here (for tests and diagnostics)."""
        return self._loaded(domain) is not None

    async def member_policy(self, session: AsyncSession, member_id: uuid.UUID) -> DomainPolicy:
        """The member's domain policy, loaded from ``session`` (scoped to that member) if needed."""
        domain = member_domain(member_id)
        loaded = self._loaded(domain)
        if loaded is not None:
            return loaded
        rows = await PolicyRepository(session, member_id).rules()
        p_lines = [[r.v0, domain, r.v2, r.v3] for r in rows if r.ptype == "p"]
        g_lines = [[r.v0, r.v1, domain] for r in rows if r.ptype == "g"]
        return self._put(build_domain(domain, p_lines, g_lines))

    def consortium_policy(self, domain: str, secretariat_subjects: Iterable[str]) -> DomainPolicy:
        """The secretariat's domain: every account of the consortium has the secretariat role."""
        loaded = self._loaded(domain)
        if loaded is not None:
            return loaded
        g_lines = [[s, "role:secretariat", domain] for s in secretariat_subjects]
        return self._put(build_domain(domain, [], g_lines))

    def invalidate(self, domain: str | None = None) -> None:
        """Forget ``domain`` (or every domain); it is rebuilt on next use."""
        with self._lock:
            if domain is None:
                self._domains.clear()
            else:
                self._domains.pop(domain, None)


engine = PolicyEngine()
"""This process's policy engine."""


class _Announcements:
    """Where this process announces changes: the Redis its listener follows, else the configured one."""

    url: str | None = None
    clients: dict[str, redis.Redis] = {}  # noqa: RUF012 - one client per URL, shared by the process


def _publish(domain: str) -> None:
    try:
        url = _Announcements.url or redis_url(get_settings())
        client = _Announcements.clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            _Announcements.clients[url] = client
        client.publish(CHANNEL, domain)
    except (redis.RedisError, ServicesNotRunning) as exc:
        # Listeners drop every domain when they reconnect, and domains expire.
        log.warning("could not announce a policy change of %s (%s)", domain, exc)


def announce(domain: str) -> None:
    """Drop ``domain`` in this process at once and tell every other process to drop it too.

    Runs as an after-commit hook (:func:`policy.services.policy_changed`): the
    local drop makes this process's very next request see the change. The
    publication is one Redis command with a one-second timeout, sent at once
    rather than in the background, so that no announcement is lost with a
    process or event loop that ends right after its commit (a command, a task).
    """
    engine.invalidate(domain)
    _publish(domain)


class PolicyListener(threading.Thread):
    """Background thread that applies policy-change announcements to :data:`engine`.

    Starting it also makes the process announce its own changes on the same Redis.
    """

    def __init__(self, redis_url: str, policy_engine: PolicyEngine = engine) -> None:
        super().__init__(name="kyodo-policy-listener", daemon=True)
        self.redis_url = redis_url
        self.policy_engine = policy_engine
        self._stopping = threading.Event()
        self.ready = threading.Event()

    def start(self) -> None:
        _Announcements.url = self.redis_url
        super().start()

    def stop(self) -> None:
        """Ask the thread to end (it checks every second)."""
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=10)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(CHANNEL)
                # Anything may have changed while we were not listening.
                self.policy_engine.invalidate()
                self.ready.set()
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self.policy_engine.invalidate(data.decode() if isinstance(data, bytes) else str(data))
                pubsub.close()
            except redis.RedisError as exc:
                self.ready.clear()
                log.warning("policy listener lost Redis (%s); retrying", exc)
                self._stopping.wait(1.0)
            finally:
                client.close()
