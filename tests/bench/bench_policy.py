"""Benchmark: role-policy enforcement with 100 members x 1,000 staff, and the slowest page.

Run with ``make bench BENCH=bench_policy``. Prints:
* the cost of one permission check as guards make it (the per-subject permission
  set derived from Casbin, cached per process), p50 and p99;
* the cost of asking Casbin directly (no cache) and of building a member's domain;
* every staff page without path parameters, timed through the real app against
  PostgreSQL holding 100 members x 1,000 staff, and the slowest of them.
"""

from __future__ import annotations

import asyncio
import gc
import io
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg

from core.settings import AppSettings, DatabaseSettings, RedisSettings, Settings
from kyodo.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_app_role
from kyodo.migrations import upgrade
from policy.engine import DomainPolicy, build_domain
from policy.permissions import BUILTIN_ROLES, MEMBER_PERMISSIONS, BuiltinRole, member_domain
from tenants.passwords import hash_password

MEMBERS = 100
STAFF_PER_MEMBER = 1000
ROLES = [r.value for r in BuiltinRole]
NOW = "2026-11-01 00:00:00+00"


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def bench_enforcement() -> None:
    rng = random.Random(7)
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    started = time.perf_counter()
    domains: dict[uuid.UUID, DomainPolicy] = {}
    staff: dict[uuid.UUID, list[str]] = {}
    for member in members:
        domain = member_domain(member)
        subjects = [f"staff:{uuid.uuid4()}" for _ in range(STAFF_PER_MEMBER)]
        custom = [
            [f"role:custom:{i}", domain, p.obj, p.act]
            for i in range(3)
            for p in rng.sample(sorted(MEMBER_PERMISSIONS), 4)
        ]
        grouping = [[s, f"role:{rng.choice(ROLES)}", domain] for s in subjects]
        grouping += [[s, f"role:custom:{rng.randrange(3)}", domain] for s in subjects[:100]]
        domains[member] = build_domain(domain, custom, grouping)
        staff[member] = subjects
    build_ms = (time.perf_counter() - started) * 1000 / MEMBERS
    rules = sum(len(d.enforcer.get_policy()) + len(d.enforcer.get_grouping_policy()) for d in domains.values())
    permissions = sorted(MEMBER_PERMISSIONS)

    def sample() -> tuple[DomainPolicy, str, str, str]:
        member = rng.choice(members)
        perm = rng.choice(permissions)
        return domains[member], rng.choice(staff[member]), perm.obj, perm.act

    # First use of a subject derives its permission set from Casbin (once per
    # subject and process, and again after a change to its member's policy).
    cold: list[int] = []
    for member in members:
        for subject in staff[member]:
            t0 = time.perf_counter_ns()
            domains[member].allows(subject, "contract", "view")
            cold.append(time.perf_counter_ns() - t0)
    gc.collect()
    gc.freeze()
    checks: list[int] = []
    for _ in range(200_000):
        policy, subject, obj, act = sample()
        t0 = time.perf_counter_ns()
        policy.allows(subject, obj, act)
        checks.append(time.perf_counter_ns() - t0)
    direct: list[int] = []
    for _ in range(5000):
        policy, subject, obj, act = sample()
        t0 = time.perf_counter_ns()
        policy.enforce(subject, obj, act)
        direct.append(time.perf_counter_ns() - t0)
    # The cached answer and Casbin's must agree.
    for _ in range(2000):
        policy, subject, obj, act = sample()
        assert policy.allows(subject, obj, act) == policy.enforce(subject, obj, act)
    p50, p99 = _percentiles(checks)
    print(f"policy rules loaded: {rules:,} in {MEMBERS} member domains ({build_ms:.1f} ms to build one domain)")
    print(f"guard check (cached permission set): p50 {p50:.2f} us, p99 {p99:.2f} us  [target p99 < 100 us]")
    c50, c99 = _percentiles(cold)
    print(f"first check of a subject (derives its set): p50 {c50:.1f} us, p99 {c99:.1f} us")
    d50, d99 = _percentiles(direct)
    print(f"Casbin enforce() without cache: p50 {d50:.1f} us, p99 {d99:.1f} us")
    assert BUILTIN_ROLES


def _copy_rows(
    conn: psycopg.Connection[tuple[object, ...]], table: str, columns: list[str], rows: Sequence[tuple[object, ...]]
) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def _seed(admin_url: str) -> str:
    password_hash = hash_password("bench-password-2026")
    consortium = uuid.uuid4()
    member_rows, staff_rows, rule_rows = [], [], []
    first_admin = ""
    for m in range(MEMBERS):
        member = uuid.uuid4()
        code = f"{m:05d}"
        member_rows.append(
            (member, consortium, f"{code}0", f"団体{m:03d}", "municipality", "live", "2026-04-01", NOW, NOW)
        )
        for s in range(STAFF_PER_MEMBER):
            staff = uuid.uuid4()
            login = f"m{m:03d}-s{s:04d}"
            first_admin = first_admin or login
            staff_rows.append(
                (
                    staff,
                    member,
                    login,
                    f"職員{m:03d}-{s:04d}",
                    f"{login}@example.lg.jp",
                    "active",
                    "member",
                    password_hash,
                    0,
                    NOW,
                    NOW,
                )
            )
            rule_rows.append(
                (
                    uuid.uuid4(),
                    member,
                    "g",
                    f"staff:{staff}",
                    "role:admin" if s == 0 else f"role:{ROLES[s % len(ROLES)]}",
                    "",
                    "",
                    NOW,
                    NOW,
                )
            )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('kyodo.system', 'on', false)")
        conn.execute(
            "INSERT INTO consortium (id, name, slug, maintenance_notice_days, created_at, updated_at) "
            "VALUES (%s, 'ベンチ広域連携', 'bench', 7, now(), now())",
            (consortium,),
        )
        audit = ["created_at", "updated_at"]
        member_columns = ["id", "consortium_id", "lg_code", "name", "kind", "status", "joined_on"]
        _copy_rows(conn, "member", [*member_columns, *audit], member_rows)
        staff_columns = ["id", "member_id", "login_id", "name", "email", "status", "view_scope", "password_hash"]
        _copy_rows(conn, "staff", [*staff_columns, "failed_logins", *audit], staff_rows)
        _copy_rows(conn, "policy_rule", ["id", "member_id", "ptype", "v0", "v1", "v2", "v3", *audit], rule_rows)
        conn.execute("ANALYZE")
    return first_admin


async def _time_pages(settings: Settings, login_id: str) -> None:
    from litestar.routes import HTTPRoute
    from litestar.testing import AsyncTestClient

    from kyodo.app import create_app

    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        await client.get("/login")
        await client.post(
            "/login",
            data={
                "login_id": login_id,
                "password": "bench-password-2026",
                "_csrf_token": client.cookies.get("kyodo_csrf", ""),
            },
        )
        timings: list[tuple[float, float, str]] = []
        for route in app.routes:
            if not isinstance(route, HTTPRoute) or "GET" not in route.methods or "{" in route.path:
                continue
            if route.path.startswith(("/static", "/schema", "/health/ready", "/logout")):
                continue
            samples = []
            for _ in range(20):
                t0 = time.perf_counter()
                response = await client.get(route.path)
                samples.append((time.perf_counter() - t0) * 1000)
            samples.sort()
            timings.append(
                (
                    samples[int(len(samples) * 0.95) - 1],
                    statistics.median(samples),
                    f"{route.path} [{response.status_code}]",
                )
            )
        for p95, p50, name in sorted(timings, reverse=True):
            print(f"page {name:40s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        if timings:
            worst = max(timings)
            print(f"slowest page: {worst[2]} p95 {worst[0]:.1f} ms  [target 3 s]")


def bench_pages() -> None:
    with tempfile.TemporaryDirectory(prefix="kyodo-bench-") as tmp:
        pg, rd = EmbeddedPostgres(Path(tmp)), EmbeddedRedis(Path(tmp))
        admin_url = pg.start()
        try:
            rd.start()
            with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
                ensure_app_role(conn)
            upgrade(admin_url, app_url=pg.app_url(), quiet=True)
            t0 = time.perf_counter()
            login = _seed(admin_url)
            print(f"seeded {MEMBERS} members x {STAFF_PER_MEMBER} staff in {time.perf_counter() - t0:.1f} s")
            settings = Settings(
                app=AppSettings(data_dir=Path(tmp)),
                database=DatabaseSettings(url=pg.app_url(), admin_url=admin_url),
                redis=RedisSettings(url=rd.url()),
            )
            asyncio.run(_time_pages(settings, login))
        finally:
            rd.stop()
            pg.stop()


def main() -> None:
    bench_enforcement()
    bench_pages()


if __name__ == "__main__":
    main()
