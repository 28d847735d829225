"""The policy engine: one Casbin enforcer per domain, cached per process, refreshed on change.

Each domain (a member, or a consortium's secretariat) gets its own small enforcer
built from the built-in roles, the member's own roles and the member's role
assignments. Answers are cached per subject as the set of permissions Casbin
derives for it, so a check on the hot path is a set lookup.

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
