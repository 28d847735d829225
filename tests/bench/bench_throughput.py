"""Benchmark: concluded contracts per hour, end to end, against a running `kyodo demo`.

Run on demand (``make bench`` runs it with its defaults; not part of ``make test``)::

    .venv/bin/python -m tests.bench.bench_throughput [--contracts 150] [--concurrency 24] [--serial 4]

What it does: starts ``kyodo demo`` in a temporary data folder (embedded
PostgreSQL and Redis, the web processes, a worker, beat, the alert watcher, the
test TSA/OCSP/CRL and the development mailbox), issues an API key for 盛岡市, and
then drives N contracts, C at a time, through the real HTTP API and contractor
pages, as people and other systems would:

1. the contract is created through the API with a 1-page PDF, two contractor
   parties are added (order 1, then 2) and it is sent;
2. each contractor in turn waits for the mailed link (read from the development
   mailbox, i.e. after the worker handed it to SMTP), opens it, passes the
   access-password gate, opens the contract and agrees;
3. after the last agreement the platform seals the PDF and the certificate of
   conclusion; the contract counts once it is 締結済み in the database.

A staff member's contract list (``/contracts``, signed in through the form) and
the API's list are fetched once a second meanwhile, for the staff-page latency.

Printed: concluded per hour over the run, p50/p95/p99 of every step, the time
from the last agreement to 締結済み, the mail waits, CPU seconds by process role
(psutil, over the run), and beside them the seal-only limit measured in the same
run before the load: a tuned raw pyHanko B-LTA (key parsed once, one timestamper
and one HTTP session reused) on the same PDF against the same TSA, in as many
processes as the demo has worker processes, two seals per contract.

All requests come from 127.0.0.1, so the per-address limits on links, passwords
and API calls are switched off for the run (``KYODO_LINK_PER_MINUTE=0``,
``KYODO_API_PER_MINUTE=0``); the load generator itself runs on the same machine
and its CPU is shown as a role of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from core.settings import ServerSettings, WorkerSettings
from kyodo.processes import ChildProcess, free_port, spawn

PROJECT_DIR = Path(__file__).resolve().parents[2]
MEMBER = "032018"  # 盛岡市 in the demo data
PASSWORD = "bench-access-2026"
LINK = re.compile(r"/c/([A-Za-z0-9_\-]{20,})")
BOX = re.compile(r'name="box_([0-9a-f\-]{36})"')
STEPS = (
    "create (API, 1-page PDF)",
    "add a party (API)",
    "send (API)",
    "mail wait (until in the mailbox)",
    "contractor link page",
    "contractor password",
    "contractor contract page",
    "contractor agrees",
    "last agreement → 締結済み",
    "whole contract",
    "staff contract list (page)",
    "staff contract list (API)",
)


# --------------------------------------------------------------------------- the installation


@dataclass
class Demo:
    """A running `kyodo demo` in its own data folder."""

    data_dir: Path
    port: int
    child: ChildProcess
    env: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def services(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.data_dir / "run" / "services.json").read_text())
        return data

    def kyodo(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kyodo", *args],
            env=self.env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout.strip()


@contextlib.contextmanager
def running_demo(data_dir: Path, extra_env: dict[str, str]) -> Iterator[Demo]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYODO_")}
    env.update(
        KYODO_DATA_DIR=str(data_dir),
        KYODO_LINK_PER_MINUTE="0",
        KYODO_API_PER_MINUTE="0",
        KYODO_SIGN_IN_PER_MINUTE="0",
        **extra_env,
    )
    log = data_dir / "demo.log"
    child = spawn("demo", [sys.executable, "-m", "kyodo", "demo", "--port", str(port)], env=env, log_path=log)
    child.stop_signal = signal.SIGINT  # what Ctrl-C sends: the supervisor stops its children in order
    demo = Demo(data_dir, port, child, env)
    try:
        deadline = time.monotonic() + 300
        while True:
            if not child.alive():
                raise SystemExit(f"kyodo demo stopped (exit {child.popen.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{demo.base}/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"kyodo demo not ready after 300 s; see {log}")
            time.sleep(0.5)
        yield demo
    finally:
        child.stop(timeout=60)


# --------------------------------------------------------------------------- CPU by role


def _role(proc: psutil.Process, top: dict[int, str]) -> str:
    try:
        name = proc.name()
        if "postgres" in name:
            return "PostgreSQL"
        if "redis" in name:
            return "Redis"
        chain = [proc, *proc.parents()]
    except psutil.Error:
        return "gone"
    for p in chain:
        if p.pid in top:
            return top[p.pid]
    return "other"


def _top_role(cmdline: str) -> str:
    for needle, role in (
        (" serve", "web"),
        (" worker", "worker"),
        (" beat", "beat"),
        (" watch", "watch"),
        ("testpki", "TSA/OCSP/CRL"),
    ):
        if needle in cmdline:
            return role
    return "other"


class CpuMeter:
    """CPU seconds (user + system) per process of the demo, per role, between two snapshots."""

    def __init__(self, supervisor_pid: int) -> None:
        self.supervisor = psutil.Process(supervisor_pid)
        self.start: dict[int, tuple[str, float]] = {}

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        top = {self.supervisor.pid: "supervisor + mail sink"}
        for child in self.supervisor.children():
            with contextlib.suppress(psutil.Error):
                top[child.pid] = _top_role(" ".join(child.cmdline()))
        seen: dict[int, tuple[str, float]] = {}
        for proc in [self.supervisor, *self.supervisor.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                seen[proc.pid] = (_role(proc, top), times.user + times.system)
        me = psutil.Process()
        times = me.cpu_times()
        seen[me.pid] = ("load generator (this bench)", times.user + times.system + times.children_user)
        return seen

    def begin(self) -> None:
        self.start = self._snapshot()

    def end(self) -> dict[str, float]:
        roles: dict[str, float] = defaultdict(float)
        for pid, (role, seconds) in self._snapshot().items():
            roles[role] += seconds - self.start.get(pid, (role, 0.0))[1]
        return dict(roles)

    def totals(self) -> dict[str, float]:
        """CPU seconds so far per role (for deltas around one step)."""
        roles: dict[str, float] = defaultdict(float)
        for role, seconds in self._snapshot().values():
            roles[role] += seconds
        return roles


# --------------------------------------------------------------------------- the seal-only limit


@dataclass(frozen=True)
class SealJob:
    """What a seal-only process needs (picklable)."""

    pkcs12: str
    passphrase: str
    tsa_url: str
    root_pem: str
    pdf: bytes
    seconds: float


def _tuned_sealer(job: SealJob, q: Any) -> None:
    """Raw pyHanko B-LTA seals in a loop: key parsed once, one timestamper, HTTP session and set of fetchers."""
    import aiohttp
    from asn1crypto import pem, x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
    from pyhanko.sign.general import get_pyca_cryptography_hash  # type: ignore[attr-defined]
    from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
    from pyhanko_certvalidator.policy_decl import RevocationCheckingRule

    from signing._trust import revocation_policy
    from tests.bench.bench_seal import SameFetchers

    class ParsedKeySigner(SimpleSigner):
        def __init__(self, base: SimpleSigner) -> None:
            super().__init__(
                signing_cert=base.signing_cert, signing_key=base.signing_key, cert_registry=base.cert_registry
            )
            self.key = serialization.load_der_private_key(base.signing_key.dump(), password=None)

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            assert isinstance(self.key, rsa.RSAPrivateKey)
            return self.key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))

    base = SimpleSigner.load_pkcs12(job.pkcs12, passphrase=job.passphrase.encode())
    assert base is not None
    signer = ParsedKeySigner(base)
    _, _, der = pem.unarmor(Path(job.root_pem).read_bytes())
    root = x509.Certificate.load(der)

    async def run() -> tuple[int, float]:
        async with aiohttp.ClientSession() as session:
            timestamper = HTTPTimeStamper(job.tsa_url, session=session)
            # The OCSP answers and CRLs fetched for the first seal serve the others, as in the platform.
            fetchers = SameFetchers(AIOHttpFetcherBackend(session).get_fetchers())

            async def seal() -> None:
                vc = ValidationContext(
                    trust_roots=[root],
                    allow_fetching=True,
                    revinfo_policy=revocation_policy(RevocationCheckingRule.CRL_AND_OCSP_REQUIRED),
                    fetcher_backend=fetchers,
                    time_tolerance=datetime.timedelta(seconds=30),  # as the platform: clocks differ a little
                )
                meta = PdfSignatureMetadata(
                    field_name="Seal",
                    md_algorithm="sha256",
                    certify=True,
                    docmdp_permissions=MDPPerm.NO_CHANGES,
                    subfilter=SigSeedSubFilter.PADES,
                    embed_validation_info=True,
                    use_pades_lta=True,
                    validation_context=vc,
                    signer_key_usage={"digital_signature"},
                )
                out = io.BytesIO()
                pdf_signer = PdfSigner(meta, signer, timestamper=timestamper, new_field_spec=SigFieldSpec("Seal"))
                await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(job.pdf), strict=False), output=out)

            await seal()  # warm-up: imports, TSA certificate, OCSP/CRL caches
            count, end, cpu = 0, time.monotonic() + job.seconds, time.process_time()
            while time.monotonic() < end:
                await seal()
                count += 1
            return count, time.process_time() - cpu

    q.put(asyncio.run(run()))


def seal_limit(demo: Demo, pdf: bytes, processes: int, seconds: float) -> tuple[float, float]:
    """Seals per second of ``processes`` tuned raw pyHanko processes on the demo's TSA, and CPU seconds per seal."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    pki = demo.data_dir / "pki"
    from testpki import TestPKI, existing_port

    settings = TestPKI.ensure(pki, port=existing_port(pki, 18765)).signing_settings("provider")
    assert settings.pkcs12_path is not None
    assert settings.pkcs12_passphrase is not None
    job = SealJob(
        str(settings.pkcs12_path),
        settings.pkcs12_passphrase,
        settings.tsa_url,
        str(settings.trust_root_paths[0]),
        pdf,
        seconds,
    )
    procs = [ctx.Process(target=_tuned_sealer, args=(job, q)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    count = sum(r[0] for r in results)
    return count / seconds, sum(r[1] for r in results) / max(1, count)


# --------------------------------------------------------------------------- the load


@dataclass
class Run:
    demo: Demo
    api: dict[str, str]
    title_id: str
    pdf: bytes
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    mail: dict[str, str] = field(default_factory=dict)
    """Recipient → body of the newest mail."""
    ids: set[str] = field(default_factory=set)
    concluded: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: bool = False
    people: httpx.AsyncHTTPTransport = field(
        default_factory=lambda: httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=200))
    )
    """The contractors' connections (each contractor has a client, and cookies, of their own)."""

    meter: CpuMeter | None = None
    """Set in the serial phase: CPU of the web and the worker is noted per step as well."""
    cpu_mark: dict[str, float] = field(default_factory=dict)
    step_cpu: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    def record(self, step: str, started: float) -> float:
        now = time.monotonic()
        self.times[step].append(now - started)
        if self.meter is not None:
            totals = self.meter.totals()
            for role in ("web", "worker", "PostgreSQL"):
                self.step_cpu[step][role].append(totals[role] - self.cpu_mark.get(role, totals[role]))
            self.cpu_mark = dict(totals)
        return now

    def mark(self) -> None:
        if self.meter is not None:
            self.cpu_mark = dict(self.meter.totals())


async def _check(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response


async def watch_mailbox(run: Run) -> None:
    """Index the development mailbox by recipient (the files the SMTP sink writes)."""
    folder = run.demo.data_dir / "devmail"
    seen: set[str] = set()
    while not run.done:
        # A plain listing: thousands of mails by the end, read 20 times a second
        # (glob would build a Path object for every file each time).
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            names = []
        for name in names:
            if name in seen or not name.endswith(".json"):
                continue
            try:
                record = json.loads((folder / name).read_text())
            except (OSError, ValueError):
                continue  # being written
            seen.add(name)
            if LINK.search(record["body"]):
                for to in record["to"]:
                    run.mail[to] = record["body"]
        await asyncio.sleep(0.05)


async def watch_concluded(run: Run) -> None:
    """Note when each contract is 締結済み (the database, read every 100 ms)."""
    url = run.demo.services()["database_admin_url"]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while not run.done:
            pending = [i for i in run.ids if i not in run.concluded]
            if pending:
                rows = await (
                    await conn.execute(
                        "SELECT id::text FROM contract WHERE status = 'concluded' AND id = ANY(%s::uuid[])", (pending,)
                    )
                ).fetchall()
                now = time.monotonic()
                for (contract_id,) in rows:
                    run.concluded[contract_id] = now
            await asyncio.sleep(0.1)


async def _wait_mail(run: Run, address: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while address not in run.mail:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no mail for {address} within {timeout} s")
        await asyncio.sleep(0.05)
    found = LINK.search(run.mail[address])
    assert found
    return found.group(1)


async def _contractor(run: Run, client: httpx.AsyncClient, address: str, since: float) -> float:
    token = await _wait_mail(run, address)
    t = run.record("mail wait (until in the mailbox)", since)
    gate = await _check(await client.get(f"/c/{token}"), 200, "link page")
    t = run.record("contractor link page", t)
    csrf = client.cookies.get("kyodo_csrf")
    assert csrf, gate.text[:300]
    await _check(
        await client.post(f"/c/{token}/password", data={"password": PASSWORD, "_csrf_token": csrf}),
        303,
        "password",
    )
    t = run.record("contractor password", t)
    page = await _check(await client.get(f"/c/{token}"), 200, "contract page")
    t = run.record("contractor contract page", t)
    values = {f"box_{box}": "株式会社ベンチ 代表取締役 負荷 太郎" for box in BOX.findall(page.text)}
    await _check(
        await client.post(f"/c/{token}/agree", data={**values, "_csrf_token": csrf, "confirmed": "yes"}), 200, "agree"
    )
    return run.record("contractor agrees", t)


async def one_contract(run: Run, n: int, api: httpx.AsyncClient) -> None:
    run.mark()
    started = time.monotonic()
    tag = uuid.uuid4().hex[:8]
    created = await _check(
        await api.post(
            "/api/v1/contracts/",
            data={
                "subject": f"負荷試験 業務委託契約 {n}",
                "title_id": run.title_id,
                "amount": "1100000",
                "transaction_date": "2026-12-01",
                "counterparty": "株式会社ベンチ",
            },
            files=[("files", ("契約書.pdf", run.pdf, "application/pdf"))],
        ),
        201,
        "create",
    )
    t = run.record("create (API, 1-page PDF)", started)
    contract_id = created.json()["id"]
    run.ids.add(contract_id)
    addresses = [f"c{order}-{tag}@example.co.jp" for order in (1, 2)]
    for order, address in enumerate(addresses, start=1):
        await _check(
            await api.post(
                f"/api/v1/contracts/{contract_id}/parties",
                json={
                    "order_no": order,
                    "kind": "contractor",
                    "company": f"株式会社ベンチ{order}",
                    "name": f"負荷 {order}郎",
                    "email": address,
                    "password": PASSWORD,
                },
            ),
            201,
            "add party",
        )
        t = run.record("add a party (API)", t)
    await _check(await api.post(f"/api/v1/contracts/{contract_id}/send"), 200, "send")
    t = run.record("send (API)", t)
    for address in addresses:
        # Each contractor with cookies of their own, over the run's shared connections
        # (a client of its own would also build an SSL context, ~10 ms of the generator's CPU).
        person = httpx.AsyncClient(base_url=run.demo.base, timeout=120, follow_redirects=False, transport=run.people)
        t = await _contractor(run, person, address, t)
    while contract_id not in run.concluded:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5 if run.meter is not None else 0)  # serial: let the last mail go out as well
    run.record("last agreement → 締結済み", t)
    run.times["last agreement → 締結済み"][-1] = run.concluded[contract_id] - t
    run.times["whole contract"].append(run.concluded[contract_id] - started)


async def staff_sampler(run: Run, login_id: str) -> None:
    """A staff member looks at the contract list once a second, by page and by API."""
    from consortium.demo import DEMO_PASSWORD

    async with httpx.AsyncClient(base_url=run.demo.base, timeout=60) as staff:
        await staff.get("/login")
        await _check(
            await staff.post(
                "/login",
                data={"login_id": login_id, "password": DEMO_PASSWORD, "_csrf_token": staff.cookies.get("kyodo_csrf")},
                follow_redirects=False,
            ),
            303,
            "staff sign-in",
        )
        async with httpx.AsyncClient(base_url=run.demo.base, timeout=60, headers=run.api) as api:
            while not run.done:
                t = time.monotonic()
                await _check(await staff.get("/contracts"), 200, "staff list")
                run.record("staff contract list (page)", t)
                t = time.monotonic()
                await _check(await api.get("/api/v1/contracts/"), 200, "API list")
                run.record("staff contract list (API)", t)
                await asyncio.sleep(1.0)


async def drive(run: Run, contracts: int, concurrency: int, login_id: str | None) -> float:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)

    async with httpx.AsyncClient(base_url=run.demo.base, headers=run.api, timeout=120, limits=limits) as api:

        async def guarded(n: int) -> None:
            async with gate:
                try:
                    await one_contract(run, n, api)
                except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                    run.errors.append(f"contract {n}: {type(exc).__name__}: {exc}")

        helpers = [
            asyncio.create_task(watch_mailbox(run)),
            asyncio.create_task(watch_concluded(run)),
        ]
        if login_id is not None:
            helpers.append(asyncio.create_task(staff_sampler(run, login_id)))
        started = time.monotonic()
        await asyncio.gather(*(guarded(n) for n in range(contracts)))
        elapsed = time.monotonic() - started
        run.done = True
        await asyncio.gather(*helpers, return_exceptions=True)
    await run.people.aclose()
    return elapsed


# --------------------------------------------------------------------------- report


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _lookup(demo: Demo) -> tuple[str, str]:
    url = demo.services()["database_admin_url"]
    with psycopg.connect(url) as conn:
        title = conn.execute(
            "SELECT t.id::text FROM contract_title t JOIN member m ON m.id = t.member_id "
            "WHERE m.lg_code = %s ORDER BY t.id LIMIT 1",
            (MEMBER,),
        ).fetchone()
        staff = conn.execute(
            "SELECT s.login_id FROM staff s JOIN member m ON m.id = s.member_id "
            "WHERE m.lg_code = %s AND s.login_id LIKE %s LIMIT 1",
            (MEMBER, "%-admin"),
        ).fetchone()
    assert title is not None
    assert staff is not None
    return str(title[0]), str(staff[0])


def _sealed_twice(demo: Demo) -> int:
    url = demo.services()["database_admin_url"]
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT document_id FROM contract_sealed_document "
            "GROUP BY document_id HAVING count(*) > 1) AS twice"
        ).fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", "-n", type=int, default=150, help="contracts to conclude (default 150)")
    parser.add_argument("--concurrency", "-c", type=int, default=24, help="contracts in flight at once (default 24)")
    parser.add_argument("--serial", type=int, default=4, help="contracts run one at a time first, for CPU per step")
    parser.add_argument("--seal-seconds", type=float, default=8.0, help="length of the seal-only measurement")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    args = parser.parse_args()

    from tests.factories import pdf as make_pdf

    data_dir = Path(tempfile.mkdtemp(prefix="kyodo-bench-throughput-"))
    try:
        with running_demo(data_dir, {}) as demo:
            key = demo.kyodo("apikey", "create", "--member", MEMBER, "--label", "bench", "--role", "admin")
            title_id, login_id = _lookup(demo)
            pdf = make_pdf(1)
            # What the demo's processes read from the same environment (the settings' defaults otherwise).
            server, worker = ServerSettings(), WorkerSettings()
            web_processes, worker_processes = server.web_workers, worker.concurrency
            print(
                f"CPUs: {os.cpu_count()}  contracts: {args.contracts}  concurrency: {args.concurrency}  "
                f"web processes: {web_processes}  worker processes: {worker_processes} (and one for mail)"
            )
            seals, seal_cpu = seal_limit(demo, pdf, worker_processes, args.seal_seconds)
            meter = CpuMeter(demo.child.pid)
            serial = Run(demo, {"Authorization": f"Bearer {key}"}, title_id, pdf, meter=meter)
            asyncio.run(drive(serial, args.serial, 1, None))
            run = Run(demo, {"Authorization": f"Bearer {key}"}, title_id, pdf)
            meter.begin()
            elapsed = asyncio.run(drive(run, args.contracts, args.concurrency, login_id))
            cpu = meter.end()
            twice = _sealed_twice(demo)
        _report_serial(serial)
        _report(run, contracts=args.contracts, elapsed=elapsed, cpu=cpu, seals=seals, seal_cpu=seal_cpu, twice=twice)
    finally:
        if args.keep:
            print(f"data folder kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _report_serial(serial: Run) -> None:
    """CPU per step, from the contracts run one at a time (the first one left out: warm-up)."""
    print(f"\nCPU per step, contracts one at a time (median of {max(0, len(serial.ids) - 1)}, ms):")
    print(f"{'step':<36}{'web':>8}{'worker':>8}{'PostgreSQL':>11}")
    sums: dict[str, float] = defaultdict(float)
    for step in STEPS:
        roles = serial.step_cpu.get(step)
        if not roles:
            continue
        per = len(roles["web"]) // max(1, len(serial.ids))
        cells = []
        for role in ("web", "worker", "PostgreSQL"):
            values = roles[role][per:] or roles[role]  # the first contract's values are its warm-up
            value = statistics.median(values) * max(1, per)
            sums[role] += value
            cells.append(value * 1000)
        print(f"{step:<36}{cells[0]:>8.0f}{cells[1]:>8.0f}{cells[2]:>11.0f}")
    print(
        f"{'one contract':<36}{sums['web'] * 1000:>8.0f}{sums['worker'] * 1000:>8.0f}{sums['PostgreSQL'] * 1000:>11.0f}"
    )


def _report(
    run: Run, *, contracts: int, elapsed: float, cpu: dict[str, float], seals: float, seal_cpu: float, twice: int
) -> None:
    concluded = len(run.times["whole contract"])
    per_hour = concluded / elapsed * 3600
    print(
        f"\nconcluded: {concluded} of {contracts} in {elapsed:.1f} s, errors: {len(run.errors)}, sealed twice: {twice}"
    )
    for error in run.errors[:5]:
        print(f"  {error}")
    print(f"\n{'step':<36}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}")
    for step in STEPS:
        values = run.times.get(step, [])
        if values:
            print(
                f"{step:<36}{len(values):>6}{_pct(values, 50) * 1000:>7.0f}ms"
                f"{_pct(values, 95) * 1000:>7.0f}ms{_pct(values, 99) * 1000:>7.0f}ms"
            )
    total = sum(cpu.values())
    cores = os.cpu_count() or 1
    print(f"\nCPU seconds over the run (wall {elapsed:.0f} s × {cores} cores = {elapsed * cores:.0f} s available):")
    for role, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.05:
            share = f"{seconds / concluded:.3f} s per contract" if concluded else ""
            print(f"  {role:<30}{seconds:>8.1f} s  {share}")
    print(f"  {'total':<30}{total:>8.1f} s")
    limit = seals / 2 * 3600
    cpu_limit = cores * 3600 / (2 * seal_cpu) if seal_cpu else 0.0
    platform = total - cpu.get("load generator (this bench)", 0.0)
    per_contract = platform / concluded if concluded else 0.0
    cpu_figure = cores * 3600 / per_contract if per_contract else 0.0
    print(f"  platform alone (all but the load generator): {per_contract:.3f} CPU-s per contract")
    print("\nseal-only limit, tuned raw pyHanko B-LTA on the same PDF and TSA, two seals per contract:")
    print(f"  measured in this run:  {seals:6.1f} seals/s = {limit:>8,.0f} contracts/h")
    rate = cores / seal_cpu if seal_cpu else 0.0
    print(f"  by its CPU ({seal_cpu * 1000:.0f} ms a seal): {rate:6.1f} seals/s = {cpu_limit:>8,.0f} contracts/h")
    print("\nend to end:")
    ratio = per_hour / limit if limit else 0.0
    print(
        f"  measured in this run:  {per_hour:>8,.0f} concluded contracts/h = {ratio:.2f} × the measured seal-only limit"
    )
    print(
        f"  by CPU ({cores} cores to itself, {per_contract:.2f} CPU-s a contract): {cpu_figure:>8,.0f} contracts/h "
        f"= {cpu_figure / cpu_limit if cpu_limit else 0:.2f} × the seal-only limit by CPU"
    )
    machine_share = total / (elapsed * cores) if elapsed else 0.0
    print(f"  (the run had {machine_share:.0%} of the machine's CPU; the rest went to other programs or stayed idle)")
    if concluded:
        print(f"  mean time per contract in flight: {statistics.mean(run.times['whole contract']):.1f} s")


if __name__ == "__main__":
    main()
