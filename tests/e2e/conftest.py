"""Real-browser tests: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The platform runs as it does in production, in processes of its own: `kyodo serve`
(uvicorn) on a free port and, for mail, `kyodo worker`, both on a migrated
database of their own with committed data, a Redis database of their own (no
other test's worker takes these tasks) and the development mailbox. The browser
talks to the server over real HTTP. Playwright never downloads a browser here
(`playwright install` is not used); Chromium comes from the operating system
(`deploy/install-system-deps.sh`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import AppSettings, DatabaseSettings, MailSettings, RedisSettings, Settings, to_psycopg_url
from kyodo.devmail import DevMailbox
from tests import factories as f
from tests.conftest import (
    PROJECT_DIR,
    TEMPLATE_DB,
    WorkerProcess,
    _as_app_role,
    _create_database,
    _drop_database,
)
from tests.signing.conftest import free_port

# Two shared cores run the whole suite: a page may take seconds under load.
expect.set_options(timeout=20_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium waits for Google's services, which a closed network never answers.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DRAFTER = "e2e-keiyaku"
"""Login ID of the drafter of the seeded member (password: tests.factories.PASSWORD)."""
ADMIN = "e2e-admin"
"""Login ID of the seeded member's administrator (every permission of the member, audit log included)."""


def _ensure_chromium() -> None:
    """Install Chromium with the project's script when it is missing; skip only if that is impossible."""
    if os.access(CHROMIUM, os.X_OK):
        return
    # Two xdist workers may get here at once; apt-get takes one at a time.
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / "kyodo-e2e-chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(CHROMIUM, os.X_OK):
            subprocess.run(
                ["bash", str(PROJECT_DIR / "deploy" / "install-system-deps.sh")],
                capture_output=True,
                check=False,
                timeout=600,
            )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"{CHROMIUM} is missing and deploy/install-system-deps.sh could not install it (needs root and apt-get)"
        )


@dataclasses.dataclass
class Live:
    """The running platform and the seeded member the tests work in."""

    url: str
    settings: Settings
    env: dict[str, str]
    logs: Path
    api_key: str
    title_id: str
    server: subprocess.Popen[bytes]

    def api(self) -> httpx.AsyncClient:
        """A client of the JSON API with the member's API key (drafter role)."""
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30.0)

    def wait_until_serving(self, timeout: float = 150.0) -> None:
        log = self.logs / "web.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.server.poll() is None, log.read_text(errors="replace")[-4000:]
            try:
                if httpx.get(f"{self.url}/health/live", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"kyodo serve did not answer:\n{log.read_text(errors='replace')[-4000:]}")

    async def contract(
        self,
        fields: dict[str, str],
        file: tuple[str, bytes],
        party: dict[str, Any],
        box: dict[str, Any] | None = None,
        *,
        send: bool = True,
    ) -> tuple[str, str]:
        """A contract made by another system through the API, as its users' systems do: (contract id, party id).

        ``fields`` are the form fields of the create call (the member's title is
        added), ``party`` the one party, ``box`` a text box for that party on the
        first file (page and place in PDF points, label).
        """
        async with self.api() as api:
            created = await api.post(
                "/api/v1/contracts/",
                data={"title_id": self.title_id, **fields},
                files=[("files", (file[0], file[1], "application/pdf"))],
            )
            assert created.status_code == 201, created.text
            contract_id = str(created.json()["id"])
            added = await api.post(f"/api/v1/contracts/{contract_id}/parties", json={"order_no": 1, **party})
            assert added.status_code == 201, added.text
            if box is not None:
                placed = await api.post(
                    f"/api/v1/contracts/{contract_id}/text-boxes",
                    json={"document_id": created.json()["documents"][0]["id"], "party_id": added.json()["id"], **box},
                )
                assert placed.status_code == 201, placed.text
            if send:
                sent = await api.post(f"/api/v1/contracts/{contract_id}/send")
                assert sent.status_code == 200, sent.text
        return contract_id, str(added.json()["id"])


async def _seed(settings: Settings) -> tuple[str, str]:
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            await f.staff(session, member, DRAFTER, roles=("drafter",), name="契約 花子")
            await f.staff(session, member, ADMIN, roles=("admin",), name="総務 次郎")
            title = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
            key = await f.api_key(session, member, roles=("drafter",))
            await session.commit()
            return key, str(title.id)
    finally:
        await engine.dispose()


def _stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        os.killpg(popen.pid, 15)
        try:
            popen.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, 9)
            popen.wait(5)


@pytest.fixture(scope="session")
def live_platform(admin_url: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`kyodo serve` started on a free port over a database of its own, with the development mailbox.

    It is not waited for here, so that a worker can start while the server boots
    (both import the whole platform, which takes seconds on a busy machine).
    """
    _ensure_chromium()
    name = f"kyodo_e2e_{uuid.uuid4().hex[:12]}"
    db_url = _create_database(admin_url, name, TEMPLATE_DB)
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    redis_url = f"{settings.redis.url.rpartition('/')[0]}/{50 + index}"
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp_path_factory.mktemp("e2e-data")
    logs = tmp_path_factory.mktemp("e2e-logs")
    port, mail_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    live_settings = Settings(
        app=AppSettings(data_dir=data_dir),
        database=DatabaseSettings(url=_as_app_role(db_url), admin_url=db_url, pool_size=2),
        redis=RedisSettings(url=redis_url),
        mail=MailSettings(dev_mailbox=True, dev_mailbox_port=mail_port),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYODO_SMTP_", "PYTEST_"))}
    env.update(
        KYODO_DATABASE_URL=live_settings.database.url,
        KYODO_DATABASE_ADMIN_URL=db_url,
        KYODO_REDIS_URL=redis_url,
        KYODO_DATA_DIR=str(data_dir),
        KYODO_PUBLIC_URL=url,
        KYODO_DEV_MAILBOX="true",
        KYODO_DEV_MAILBOX_PORT=str(mail_port),
        KYODO_WORKER_HEARTBEAT_SECONDS="1",
        KYODO_LOG_LEVEL="WARNING",
    )
    key, title_id = asyncio.run(_seed(live_settings))
    mailbox = DevMailbox(live_settings).start()
    with (logs / "web.log").open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "kyodo", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_DIR,
        )
    try:
        yield Live(url=url, settings=live_settings, env=env, logs=logs, api_key=key, title_id=title_id, server=server)
    finally:
        _stop(server)
        mailbox.stop()
        _drop_database(admin_url, name)


@pytest.fixture(scope="session")
def live(live_platform: Live) -> Live:
    """The platform, answering over HTTP."""
    live_platform.wait_until_serving()
    return live_platform


@pytest.fixture(scope="session")
def live_worker(live_platform: Live) -> Iterator[WorkerProcess]:
    """A `kyodo worker` of the live platform: it sends the mail (to the development mailbox).

    Ask for it before ``live`` so that it starts while the web server boots.
    """
    worker = WorkerProcess(live_platform.env, f"e2e-{uuid.uuid4().hex[:6]}", live_platform.logs / "worker.log")
    worker.start()
    try:
        worker.wait_heartbeat(60)
        yield worker
    finally:
        worker.stop()


async def mailed_link(live: Live, address: str, timeout: float = 60.0) -> str:
    """The personal link in the newest mail to ``address`` (read from the development mailbox).

    The outbox is relayed as beat does it in production: the worker runs
    ``kyodo.relay_outbox`` and then sends the mail itself.
    """
    sender = Celery("e2e", broker=live.settings.redis.url)
    link = re.compile(re.escape(live.url) + r"/c/[A-Za-z0-9_\-]+")
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=live.url) as client:
        while time.monotonic() < deadline:
            sender.send_task("kyodo.relay_outbox")
            for mail in (await client.get("/dev/mail.json")).json():  # newest first
                found = link.search(mail["body"]) if address in mail["to"] else None
                if found:
                    return found.group(0)
            await asyncio.sleep(0.5)
    raise AssertionError(f"no mail with a link reached {address}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium of the operating system."""
    _ensure_chromium()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


# --------------------------------------------------------------------------- checks a user (or a screen reader) makes

_ACCESSIBILITY = """
() => {
  const problems = [];
  const text = (el) => (el ? el.textContent : "").replace(/\\s+/g, " ").trim();
  const name = (el) => {
    const ids = el.getAttribute("aria-labelledby");
    if (ids) { return ids.split(/\\s+/).map((id) => text(document.getElementById(id))).join(" ").trim(); }
    if ((el.getAttribute("aria-label") || "").trim()) { return el.getAttribute("aria-label").trim(); }
    const labelled = Array.from(el.labels || []).map(text).join(" ").trim();
    if (labelled) { return labelled; }
    if (el.tagName === "BUTTON") { return text(el); }
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) { return el.value.trim(); }
    return (el.getAttribute("title") || "").trim();
  };
  if (document.documentElement.lang !== "ja") { problems.push(`<html lang="${document.documentElement.lang}">`); }
  if (!document.title.trim()) { problems.push("the page has no title"); }
  if (!document.querySelector("h1")) { problems.push("the page has no h1"); }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) { problems.push(`image without alt: ${img.getAttribute("src")}`); }
  }
  for (const el of document.querySelectorAll("input, select, textarea, button")) {
    if (el.type === "hidden") { continue; }
    if (!name(el)) { problems.push(`${el.tagName.toLowerCase()} name=${el.name || "?"} has no accessible name`); }
  }
  return problems;
}
"""


async def accessibility_problems(page: Page) -> list[str]:
    """Basic checks on the page as it is now: lang="ja", a title and h1, alt on images, a name on every control."""
    problems: list[str] = await page.evaluate(_ACCESSIBILITY)
    return problems


async def horizontal_overflow(page: Page) -> dict[str, Any] | None:
    """Widths when the page scrolls sideways on its viewport, else None."""
    widths: dict[str, Any] = await page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth,
                   viewport: document.documentElement.clientWidth, inner: window.innerWidth})"""
    )
    limit = min(widths["viewport"], widths["inner"])
    return widths if max(widths["scroll"], widths["body"]) > limit else None


async def small_targets(page: Page, minimum: float = 44.0) -> list[str]:
    """Visible form controls and buttons smaller than ``minimum`` CSS pixels either way."""
    found: list[str] = await page.evaluate(
        """(minimum) => {
          const small = [];
          const controls = document.querySelectorAll(
            "input:not([type=hidden]), select, textarea, button, summary, a.button");
          for (const el of controls) {
            const box = el.getBoundingClientRect();
            const style = getComputedStyle(el);
            if (box.width === 0 || box.height === 0 || style.visibility === "hidden") { continue; }
            if (box.width < minimum - 0.5 || box.height < minimum - 0.5) {
              small.push(`${el.tagName.toLowerCase()} ${el.name || el.textContent.trim().slice(0, 20)}: `
                + `${box.width.toFixed(1)}x${box.height.toFixed(1)}`);
            }
          }
          return small;
        }""",
        minimum,
    )
    return found


# --------------------------------------------------------------------------- axe-core and screenshots

AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core from npm (package.json, package-lock.json), installed by the set-up's ``npm ci``."""
SCREENSHOTS = PROJECT_DIR / "tests" / "e2e" / "output"
"""Screenshots of the main screens, for people to review (ignored by git)."""
AXE_FAILING = ("serious", "critical")


async def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations of the page as it is now (WCAG 2.1 A and AA rules).

    The script is evaluated through the browser's debugging protocol, which the
    platform's Content-Security-Policy (scripts from the site only) does not stop.
    """
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make setup does)")
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = await page.evaluate(
        """async () => {
          const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
          const found = await window.axe.run(document, {runOnly: {type: "tag", values: tags}});
          return found.violations.map((v) => ({
            id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
          }));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {', '.join(v['nodes'])}" for v in result if v["impact"] in AXE_FAILING]


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``tests/e2e/output/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def checked(page: Page, name: str) -> None:
    """Every page a browser test visits: no serious or critical axe-core violation, and a screenshot for review."""
    await page.wait_for_load_state("load")
    await screenshot(page, name)
    assert await axe_violations(page) == [], name
