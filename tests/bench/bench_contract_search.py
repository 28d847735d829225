"""Benchmark: list and search pages over 1,000,000 contracts of 100 members (WF-13, LAW-2).

Run with ``make bench`` (or ``pytest tests/bench -p no:xdist -s -m bench``). The
generator writes the rows with COPY as the schema owner; the measured queries run
as the application role through :func:`signing.services.search`, scoped to one
member like a real request. Prints p50/p95 per kind of page; the target is a p95
under 200 ms. ``KYODO_BENCH_CONTRACTS`` makes the data set smaller for a quick look.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.scope import Principal, PrincipalKind, for_member
from core.settings import Settings, to_psycopg_url
from signing.services import SearchFilters, search
from tests import factories as f

pytestmark = pytest.mark.bench

MEMBERS = 100
CONTRACTS = int(os.environ.get("KYODO_BENCH_CONTRACTS", "1000000"))
COMPANIES = ["岩手建設", "盛岡商事", "北上電機", "花巻設備", "奥州印刷", "一関運輸", "釜石水産", "宮古造園"]
WORDS = ["工事", "委託", "購入", "賃貸借", "保守", "設計", "印刷", "清掃"]
ROUNDS = 200


async def _seed(settings: Settings) -> list[uuid.UUID]:
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    members = []
    async with maker() as session:
        group = await f.consortium(session)
        for i in range(MEMBERS):
            member = await f.member(session, group, f"{900000 + i:06d}", f"団体{i}")
            title = await f.title(session, member, "mayor", "市長", f"団体{i}長")
            members.append((member.id, title.id))
        await session.commit()
    await engine.dispose()
    admin = settings.database.admin_url.replace("postgresql+psycopg://", "postgresql://")
    rng = random.Random(7)
    start = dt.date(2016, 4, 1)
    began = time.perf_counter()
    with psycopg.connect(admin) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY contract (id, member_id, title_id, subject, contract_number, amount, transaction_date, "
                "counterparty, file_names, status, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for n in range(CONTRACTS):
                member_id, title_id = members[n % MEMBERS]
                word = rng.choice(WORDS)
                day = start + dt.timedelta(days=rng.randrange(3650))
                created = dt.datetime.combine(day, dt.time(9), dt.UTC) + dt.timedelta(seconds=n % 86400)
                copy.write_row(
                    (
                        uuid.uuid4(),
                        member_id,
                        title_id,
                        f"{word}契約 第{n}号",
                        f"R{n:07d}",
                        rng.randrange(10_000, 500_000_000),
                        day,
                        rng.choice(COMPANIES) + "株式会社",
                        f"{word}契約書_{n}.pdf\n仕様書_{n}.pdf",
                        "concluded",
                        created,
                        created,
                    )
                )
        conn.commit()
        conn.execute("ANALYZE contract")
    print(f"\n[bench] {CONTRACTS:,} contracts over {MEMBERS} members written in {time.perf_counter() - began:.1f} s")
    return [m for m, _t in members]


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))]


async def test_list_and_search_pages(fresh_database: Settings) -> None:
    members = await _seed(fresh_database)
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url), pool_size=2)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(11)
    cases: dict[str, Callable[[], SearchFilters]] = {
        "list (newest first)": SearchFilters,
        "word in file name": lambda: SearchFilters(word=rng.choice(WORDS) + "契約書_1"),
        "date range + amount range": lambda: SearchFilters(
            date_from=dt.date(2020, 4, 1), date_to=dt.date(2021, 3, 31), amount_min=1_000_000, amount_max=50_000_000
        ),
        "counterparty + date + amount (AND)": lambda: SearchFilters(
            counterparty=rng.choice(COMPANIES),
            date_from=dt.date(2019, 1, 1),
            date_to=dt.date(2023, 12, 31),
            amount_min=100_000,
        ),
    }
    results = {}
    for name, make in cases.items():
        timings = []
        for _ in range(ROUNDS):
            member_id = rng.choice(members)
            principal = Principal(
                kind=PrincipalKind.STAFF, id=uuid.uuid4(), name="bench", consortium_id=uuid.uuid4(), member_id=member_id
            )
            async with maker() as session:
                await for_member(session, member_id)
                began = time.perf_counter()
                page = await search(session, principal, make(), page=rng.choice([1, 1, 1, 2, 5]), per_page=50)
                timings.append((time.perf_counter() - began) * 1000)
                assert all(c.member_id == member_id for c in page.items)
        results[name] = timings
        print(f"[bench] {name:38s} p50 {statistics.median(timings):7.1f} ms   p95 {_p(timings, 0.95):7.1f} ms")
    await engine.dispose()
    for name, timings in results.items():
        assert _p(timings, 0.95) < 200, f"{name}: p95 {_p(timings, 0.95):.1f} ms"
