"""Test fixtures: a real PostgreSQL, a real Redis and real Celery workers.

The controller process (or the only process without xdist) starts one embedded
PostgreSQL and one embedded Redis for the run, or uses ``KYODO_TEST_DATABASE_URL``
/ ``KYODO_TEST_REDIS_URL`` when set. It migrates a template database once; each
xdist worker clones it into its own database and uses its own Redis database
number. Each test runs inside a transaction that is rolled back at the end; tests
that need committed data (other processes must see it) take ``fresh_database``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing.transport import TestClientTransport
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from core.settings import (
    DEMO_INVOICE_ENVIRONMENT,
    AppSettings,
    DatabaseSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
    to_psycopg_url,
)
from kyodo.celery_app import HEARTBEAT_PREFIX
from kyodo.embedded import APP_ROLE, EmbeddedPostgres, EmbeddedRedis, ensure_app_role

TEMPLATE_DB = "kyodo_test_template"
PEER_HEADER = "x-test-peer"
"""Test-only: the peer address the in-process test client pretends to connect from."""


def _parse_request_with_peer(self: TestClientTransport, request: Any) -> Any:
    # Litestar's test transport reports the peer as "testclient"; the platform
    # checks real addresses (IP allow-lists), so tests say which address they
    # come from, 127.0.0.1 by default.
    scope = _original_parse_request(self, request)
    scope["client"] = (request.headers.get(PEER_HEADER, "127.0.0.1"), 50000)
    return scope


_original_parse_request = TestClientTransport.parse_request
TestClientTransport.parse_request = _parse_request_with_peer  # type: ignore[method-assign]
_ENV_ADMIN = "KYODO_TEST__ADMIN_URL"
_ENV_REDIS = "KYODO_TEST__REDIS_BASE"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def _as_app_role(admin_db_url: str) -> str:
    """The same database, connected as the application role (row-level security applies)."""
    return make_url(admin_db_url).set(username=APP_ROLE, password=None).render_as_string(hide_password=False)


def _create_database(admin_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(admin_url, name)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _RunServices:
    """What the controller process started for the whole run."""

    tmpdir: Path | None = None
    servers: list[EmbeddedPostgres | EmbeddedRedis] = []  # noqa: RUF012


def pytest_configure(config: pytest.Config) -> None:
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        os.environ[_ENV_ADMIN] = worker_input[_ENV_ADMIN]
        os.environ[_ENV_REDIS] = worker_input[_ENV_REDIS]
    elif _ENV_ADMIN not in os.environ:
        tmp = Path(tempfile.mkdtemp(prefix="kyodo-test-"))
        _RunServices.tmpdir = tmp
        external_db = os.environ.get("KYODO_TEST_DATABASE_URL")
        if external_db:
            admin_url = _with_database(external_db, "postgres")
        else:
            pg = EmbeddedPostgres(tmp)
            pg.start()
            _RunServices.servers.append(pg)
            admin_url = pg.url("postgres")
        external_redis = os.environ.get("KYODO_TEST_REDIS_URL")
        if external_redis:
            redis_base = external_redis.rstrip("/").rpartition("/")[0]
        else:
            rd = EmbeddedRedis(tmp)
            rd.start()
            _RunServices.servers.append(rd)
            redis_base = f"redis://127.0.0.1:{rd.port}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            ensure_app_role(conn)
        template_url = _create_database(admin_url, TEMPLATE_DB)
        from kyodo.migrations import upgrade

        upgrade(template_url, app_url=_as_app_role(template_url), quiet=True)
        os.environ[_ENV_ADMIN] = admin_url
        os.environ[_ENV_REDIS] = redis_base
    # Every process of the run (and the workers it starts) reads these.
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker_id.removeprefix("gw") or 0)
    db_name = f"kyodo_test_{worker_id}"
    db_url = _create_database(os.environ[_ENV_ADMIN], db_name, TEMPLATE_DB)
    redis_url = f"{os.environ[_ENV_REDIS]}/{1 + index}"
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = Path(tempfile.mkdtemp(prefix=f"kyodo-data-{worker_id}-"))
    os.environ["KYODO_DATABASE_URL"] = _as_app_role(db_url)
    os.environ["KYODO_DATABASE_ADMIN_URL"] = db_url
    os.environ["KYODO_REDIS_URL"] = redis_url
    os.environ["KYODO_DATA_DIR"] = str(data_dir)
    os.environ["KYODO_WORKER_HEARTBEAT_SECONDS"] = "1"
    # Hundreds of tests sign in from 127.0.0.1 within a minute: the per-address limits
    # are tested on their own (tests/kyodo/test_rate_limits.py) and off elsewhere.
    os.environ["KYODO_SIGN_IN_PER_MINUTE"] = "0"
    os.environ["KYODO_LINK_PER_MINUTE"] = "0"
    os.environ["KYODO_API_PER_MINUTE"] = "0"
    # The demo's fictitious issuer, so invoices can be issued (tests of a missing one override it).
    for name, value in DEMO_INVOICE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Hand the run's servers to each xdist worker."""
    node.workerinput[_ENV_ADMIN] = os.environ[_ENV_ADMIN]
    node.workerinput[_ENV_REDIS] = os.environ[_ENV_REDIS]


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None:
        for server in reversed(_RunServices.servers):
            server.stop()
        if _RunServices.tmpdir is not None:
            shutil.rmtree(_RunServices.tmpdir, ignore_errors=True)


# --------------------------------------------------------------------------- settings


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A superuser URL of the test server's ``postgres`` database."""
    return os.environ[_ENV_ADMIN]


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of this test process (its own database and Redis database)."""
    return Settings(
        app=AppSettings(data_dir=Path(os.environ["KYODO_DATA_DIR"]), debug=True),
        database=DatabaseSettings(
            url=os.environ["KYODO_DATABASE_URL"],
            admin_url=os.environ["KYODO_DATABASE_ADMIN_URL"],
            pool_size=2,
        ),
        redis=RedisSettings(url=os.environ["KYODO_REDIS_URL"]),
        # Tests relay the outbox themselves (and look at it first); tests/kyodo/test_outbox.py
        # covers the web process's own relay.
        worker=WorkerSettings(heartbeat_seconds=1.0, relay_inline=False),
    )


@pytest.fixture
def fresh_database(admin_url: str, settings: Settings) -> Iterator[Settings]:
    """A migrated database of its own, for tests whose data other processes must see.

    It comes with a Redis database of its own too (emptied first): a worker started
    for it must never share a queue with the session's worker, which serves another
    database and would take its tasks.
    """
    name = f"kyodo_fresh_{uuid.uuid4().hex[:12]}"
    url = _create_database(admin_url, name, TEMPLATE_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        # Task ids are made of outbox row ids (outbox-<row>-<n>): start them somewhere new, so that
        # a late answer of an earlier test's worker in the same Redis database never passes for this one's.
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('outbox_message', 'id'), %s)", (secrets.randbelow(10**9) + 1,)
        )
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    own_redis = f"{settings.redis.url.rpartition('/')[0]}/{20 + index}"
    redis.Redis.from_url(own_redis).flushdb()
    try:
        yield dataclasses.replace(
            settings,
            database=DatabaseSettings(url=_as_app_role(url), admin_url=url, pool_size=2),
            redis=RedisSettings(url=own_redis),
        )
    finally:
        _drop_database(admin_url, name)


# --------------------------------------------------------------------------- database


@pytest.fixture
async def db_connection(settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    engine = create_async_engine(to_psycopg_url(settings.database.url), pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()
    await engine.dispose()


def _session_maker(conn: AsyncConnection) -> Any:
    def make() -> AsyncSession:
        # Commits inside the code under test release a savepoint; the outer
        # transaction still rolls everything back.
        return AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)

    return make


@pytest.fixture
async def db_session(db_connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """An ORM session in the test's rolled-back transaction."""
    session = _session_maker(db_connection)()
    try:
        yield session
    finally:
        await session.close()


@pytest.fixture
def app(settings: Settings, db_connection: AsyncConnection) -> Litestar:
    """The web application, its sessions inside the test's transaction."""
    from kyodo.app import create_app

    return create_app(settings, session_maker=_session_maker(db_connection))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An HTTP client talking to :func:`app` in-process."""
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


# --------------------------------------------------------------------------- celery


class WorkerProcess:
    """A real `kyodo worker` subprocess."""

    def __init__(self, env: dict[str, str], name: str, log_path: Path) -> None:
        self.env = env
        self.name = name
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "kyodo", "worker", "-c", "1", "-n", f"{self.name}@%h", *extra],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_DIR,
        )
        log.close()
        return self

    def wait_heartbeat(self, timeout: float = 90.0) -> None:
        client = redis.Redis.from_url(self.env["KYODO_REDIS_URL"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.keys(HEARTBEAT_PREFIX + self.name + "@*"):
                return
            assert self.popen is not None
            assert self.popen.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"worker sent no heartbeat:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, 15)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, 9)
                self.popen.wait(5)


def task_sender(settings: Settings) -> Celery:
    """A Celery client of ``settings``' Redis, to send tasks to the workers started for those settings."""
    return Celery("test-sender", broker=settings.redis.url, backend=settings.redis.url)


def start_worker(
    settings: Settings,
    tmp_path: Path,
    name: str = "test",
    timeout: float = 90.0,
    extra_env: dict[str, str] | None = None,
    *,
    args: tuple[str, ...] = (),
) -> WorkerProcess:
    """Start a worker for ``settings`` and wait (up to ``timeout`` seconds) until it reports alive.

    A worker's imports take a few seconds alone but tens of seconds on a 2-core
    machine busy with the rest of the suite (LibreOffice building the corpus, other
    workers); a worker that does not report in time is stopped, not left behind.
    """
    env = dict(os.environ)
    env.update(
        KYODO_DATABASE_URL=settings.database.url,
        KYODO_DATABASE_ADMIN_URL=settings.database.admin_url,
        KYODO_REDIS_URL=settings.redis.url,
        KYODO_DATA_DIR=str(settings.app.data_dir),
        KYODO_WORKER_HEARTBEAT_SECONDS=str(settings.worker.heartbeat_seconds),
    )
    env.update(extra_env or {})  # e.g. the platform's seal (testpki.settings_environment)
    worker = WorkerProcess(env, f"{name}-{uuid.uuid4().hex[:6]}", tmp_path / f"{name}-worker.log")
    worker.start(*args)
    try:
        worker.wait_heartbeat(timeout)
    except BaseException:
        worker.stop()
        raise
    return worker


@pytest.fixture(scope="session")
def celery_worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One real Celery worker for this test process's database and Redis."""
    worker = start_worker(settings, tmp_path_factory.mktemp("worker"))
    try:
        yield worker
    finally:
        worker.stop()


# --------------------------------------------------------------------------- people


async def sign_in(client: AsyncTestClient[Litestar], login_id: str, password: str | None = None) -> None:
    """Sign in through the real form (CSRF token taken from the page)."""
    from tests.factories import PASSWORD

    page = await client.get("/login")
    token = client.cookies.get("kyodo_csrf")
    assert token, page.text[:500]
    response = await client.post(
        "/login",
        data={"login_id": login_id, "password": password or PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:1000]


@dataclasses.dataclass
class TwoMembers:
    """Member A and member B of one consortium, each with an administrator, plus the secretariat."""

    consortium: Any
    a: Any
    b: Any
    admin_a: Any
    admin_b: Any
    secretariat: Any


@pytest.fixture
async def two_members(db_session: AsyncSession) -> TwoMembers:
    from tests import factories as f

    group = await f.consortium(db_session)
    a = await f.member(db_session, group, "032018", "盛岡市")
    b = await f.member(db_session, group, "032140", "八幡平市")
    return TwoMembers(
        consortium=group,
        a=a,
        b=b,
        admin_a=await f.staff(db_session, a, "morioka-admin", roles=("admin",)),
        admin_b=await f.staff(db_session, b, "hachimantai-admin", roles=("admin",)),
        secretariat=await f.secretariat(db_session, group, "jimukyoku"),
    )


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    """The CSRF token a form on the page would carry (fetched from the login page once)."""
    if not client.cookies.get("kyodo_csrf"):
        await client.get("/login")
    return str(client.cookies.get("kyodo_csrf"))
