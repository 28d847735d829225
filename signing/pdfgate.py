"""The PDF gate of the web application: checks and page previews away from the event loop.

Parsing an untrusted PDF can take seconds and much memory (60,000 pages took
8.6 s), and a crafted one can take as long or as much as its author likes. So
the web process never parses one itself: each check (:func:`check_pdf_off_loop`)
and each page preview (:func:`render_page_off_loop`) runs in a process of its own,
forked from a small server process that has the parsers loaded already
(``multiprocessing``'s *forkserver*, ~20 ms a fork; :func:`start_fork_server` starts
it beside a web process's first requests, else the first job does).
That process gets

* at most ``KYODO_PDF_CHECK_MEMORY_MB`` of address space beyond what the loaded
  parsers take (``RLIMIT_AS``); running out is refused as too complex;
* ``KYODO_PDF_CHECK_SECONDS``: then it is killed (SIGKILL) and the file refused
  as too complex; the CPU limit (``RLIMIT_CPU``) just above it ends the process
  even if nobody waits for it any more;
* no core dumps (``RLIMIT_CORE`` 0): a crash must not write the decrypted
  document to disk.

A process per job rather than a long-lived pool: a job that runs out of time is
killed without taking other members' checks down with it (a pool's worker can
only be killed by breaking the whole pool), and nothing one file did stays in
memory for the next. The web process waits in a worker thread, with at most
``KYODO_PDF_CHECK_PROCESSES`` jobs at once (others queue, on the event loop,
without holding a thread).

Previews are kept in this process's memory (:class:`PreviewCache`, least
recently used first out, 64 MB) under (member, document SHA-256, page, width):
documents are encrypted at rest, so their rendered pages are never written to
disk or to Redis (whose snapshots are files); a cached page is only handed out
after the request found the document in the caller's member.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import resource
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

import anyio
import anyio.to_thread

from core.i18n import gettext as _
from signing.pdfcheck import (
    CheckedPdf,
    PdfLimits,
    PdfRejectedError,
    Refusal,
    RefusedPdf,
    inspect_pdf,
    precheck,
    refusal_message,
    render_page,
)

__all__ = [
    "PREVIEW_WIDTH",
    "PreviewCache",
    "PreviewUnavailableError",
    "check_pdf_off_loop",
    "page_preview",
    "render_page_off_loop",
    "start_fork_server",
]

PREVIEW_WIDTH = 900
"""Width of page previews, in pixels."""
PREVIEW_CACHE_BYTES = 64 * 1024 * 1024
_PRELOAD = ["__main__", "signing.pdfgate"]
"""Loaded once into the fork server: the main script (so that no job runs it again), this module
(the jobs' entry point) and through it :mod:`signing.pdfcheck` with pypdf, PDFium and pyHanko's parser."""

log = logging.getLogger(__name__)


class PreviewUnavailableError(PdfRejectedError):
    """A page preview could not be drawn within the limits."""


# --------------------------------------------------------------------------- the child process


def _limit_resources(memory_mb: int, cpu_seconds: int) -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/statm") as statm:
        own = int(statm.read().split()[0]) * page
    address_space = own + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _job(job: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        if job == "check":
            return ("ok", inspect_pdf(*args).page_sizes)
        return ("ok", render_page(args[0], args[1], width_px=args[2]))
    except RefusedPdf as refused:
        return ("refused", refused.reason.value, refused.params)
    except (MemoryError, SystemError):
        # Out of address space: Python raises MemoryError, C code failing an
        # allocation often only SystemError ("error return without exception set").
        return ("refused", Refusal.TOO_COMPLEX.value, {})
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which refuses the file
        return ("error", f"{type(exc).__name__}: {str(exc)[:200]}")


def _child(sender: Connection, job: str, args: tuple[Any, ...], memory_mb: int, cpu_seconds: int) -> None:
    """Entry point of the job's process."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes would fill the server log
    _limit_resources(memory_mb, cpu_seconds)
    try:
        outcome = _job(job, args)
        del args
        sender.send(outcome)
    except MemoryError:
        sender.send(("refused", Refusal.TOO_COMPLEX.value, {}))
    finally:
        sender.close()


# --------------------------------------------------------------------------- the web process

_context_lock = threading.Lock()
_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context  # noqa: PLW0603 - one fork server per process, started on first use
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


def start_fork_server() -> None:
    """Start the fork server now (its parsers take 1-3 s to load), not at the first upload or preview."""
    _forkserver()
    from multiprocessing import forkserver  # noqa: PLC0415

    forkserver.ensure_running()


def _run(job: str, args: tuple[Any, ...], limits: PdfLimits) -> tuple[Any, ...]:
    """Run ``job`` in a process of its own and wait for it (blocking: called in a worker thread)."""
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    cpu_seconds = math.ceil(limits.timeout_seconds) + 1
    process = context.Process(
        target=_child,
        args=(sender, job, args, limits.memory_mb, cpu_seconds),
        name=f"kyodo-pdf-{job}",
        daemon=True,
    )
    try:
        try:
            process.start()  # the first start also starts the fork server (~1-3 s, not counted)
        finally:
            sender.close()
        if not receiver.poll(limits.timeout_seconds):
            return ("timeout",)
        try:
            return tuple(receiver.recv())
        except EOFError:
            process.join(1)
            return ("died", process.exitcode)
    finally:
        receiver.close()
        if process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join()
            process.close()


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter(processes: int) -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(max(1, processes))
    elif limiter.total_tokens != max(1, processes):
        limiter.total_tokens = max(1, processes)
    return limiter


async def _off_loop(job: str, args: tuple[Any, ...], limits: PdfLimits) -> tuple[Any, ...]:
    return await anyio.to_thread.run_sync(partial(_run, job, args, limits), limiter=_limiter(limits.processes))


async def check_pdf_off_loop(data: bytes, file_name: str, *, limits: PdfLimits) -> CheckedPdf:
    """:func:`signing.pdfcheck.check_pdf` in a process of its own, within ``limits``; never on the event loop.

    Raises :class:`PdfRejectedError` (message in the current language), also
    when the check runs out of time or memory or its process dies.
    """
    try:
        precheck(data, limits)  # size and header need no process
    except RefusedPdf as refused:
        raise PdfRejectedError(refusal_message(refused.reason, file_name, refused.params), refused.reason) from None
    outcome = await _off_loop("check", (data, limits), limits)
    if outcome[0] == "ok":
        return CheckedPdf(page_sizes=outcome[1])
    if outcome[0] == "refused":
        reason = Refusal(outcome[1])
        raise PdfRejectedError(refusal_message(reason, file_name, outcome[2]), reason)
    if outcome[0] == "error":
        # Not a verdict the checks know: the file is refused (never let through unchecked).
        log.warning("PDF check of an upload failed: %s", outcome[1])
        raise PdfRejectedError(refusal_message(Refusal.DAMAGED, file_name), Refusal.DAMAGED)
    log.warning("PDF check of an upload stopped: %s", outcome)
    raise PdfRejectedError(refusal_message(Refusal.TOO_COMPLEX, file_name), Refusal.TOO_COMPLEX)


async def render_page_off_loop(
    data: bytes, page_index: int, *, limits: PdfLimits, width_px: int = PREVIEW_WIDTH
) -> bytes:
    """:func:`signing.pdfcheck.render_page` in a process of its own, within ``limits``."""
    outcome = await _off_loop("render", (data, page_index, width_px), limits)
    if outcome[0] == "ok":
        return bytes(outcome[1])
    log.warning("page preview failed: %s", outcome)
    raise PreviewUnavailableError(
        _("The preview of this page could not be drawn within the time and memory allowed."), Refusal.TOO_COMPLEX
    )


class PreviewCache:
    """Rendered previews in this process's memory, least recently used dropped first."""

    def __init__(self, max_bytes: int = PREVIEW_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[uuid.UUID, str, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[uuid.UUID, str, int, int]) -> bytes | None:
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
            return png

    def put(self, key: tuple[uuid.UUID, str, int, int], png: bytes) -> None:
        if len(png) > self.max_bytes:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self.size -= len(previous)
            self._items[key] = png
            self.size += len(png)
            while self.size > self.max_bytes:
                _key, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


PREVIEWS = PreviewCache()
"""The previews of this process."""


async def page_preview(
    member_id: uuid.UUID,
    sha256: str,
    page_index: int,
    load: Callable[[], Awaitable[bytes]],
    *,
    limits: PdfLimits,
    width_px: int = PREVIEW_WIDTH,
) -> bytes:
    """The PNG of a page of the document ``sha256`` of ``member_id``: cached, or ``load()``-ed and rendered.

    The caller has found the document in the caller's member before asking.
    """
    key = (member_id, sha256, page_index, width_px)
    png = PREVIEWS.get(key)
    if png is None:
        png = await render_page_off_loop(await load(), page_index, limits=limits, width_px=width_px)
        PREVIEWS.put(key, png)
    return png
