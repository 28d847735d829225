"""Checks of an uploaded PDF before anything is stored, and page previews.

A document is accepted only if every one of these holds; the first that fails
refuses it with a message in the user's language (:class:`Refusal` names why):

* it is at most the size limit, **begins with** ``%PDF-`` (byte 0; viewers
  accept the header anywhere in the first 1024 bytes, which lets an HTML page
  with ``<script>`` in front of a PDF pass as one) and ends with ``%%EOF`` in its
  last 1024 bytes (where the sealer looks for it);
* pypdf reads it in **strict** mode: no repaired cross-reference table, no
  dictionary with a key given twice or cut short (the non-strict parser keeps
  the first value or the part before an error, a viewer may keep another, so
  what is checked and what is shown could differ), not encrypted;
* the page tree has between one and ``max_pages`` pages, and pypdf, the
  renderer (PDFium) and the sealer (pyHanko, reading the file as it is, without
  repair) count the same pages;
* no object is nested deeper than ``max_depth`` dictionaries and arrays below
  the trailer (counting through references, along the shortest way there;
  the next and previous items of outlines and article threads are siblings, not
  children), so no reader recursing through the file can be made to overflow;
* nothing reachable from the trailer, and no other object the cross-reference
  table lists, is active content or an action that reaches outside the page
  (:func:`_inspect_dictionary`):

  - no signature (``/ByteRange``): the platform's seal must be the first;
  - no XFA form (``/XFA``, ``/NeedsRendering``);
  - no JavaScript anywhere (the ``/JavaScript`` name tree, ``/JS`` of any
    action or annotation, JavaScript actions), no embedded or attached files,
    no rich media, movies, sounds, screen annotations, renditions or 3D;
  - no action that sends, imports, opens or starts something: ``/SubmitForm``,
    ``/ImportData``, ``/Launch``, ``/GoToR``, ``/GoToE``;
  - no action that runs by itself: ``/OpenAction`` may only be a destination
    (open at a page, as LibreOffice and fpdf2 write it) or a plain ``/GoTo``,
    and there are no additional actions (``/AA``: on opening or closing a page,
    printing, saving, entering a field …) at all;
  - ``/URI`` actions only to ``http``, ``https`` and ``mailto`` addresses.

**Links stay.** A web address printed as a link (a ``/Link`` annotation, a
bookmark or a button with a ``/URI`` action) is common in municipal documents
(the ordinance, the tender notice, the department's page) and runs only when the
reader clicks it, after the viewer asks; refusing every link would send staff to
strip links from files that are not dangerous. What is refused is what runs
without a click (``/OpenAction``, ``/AA``) and what a click must never do: run
a script, send form data, import data, open another file or start a program,
and URIs that are not web or mail addresses (``file:``, ``javascript:``,
``smb:``, relative paths resolved against the document's folder).

Documents are parsed, never executed. Stream contents are not decoded (XFA and
JavaScript are refused by the keys that carry them, whatever their streams hold).
Page previews are rendered with pypdfium2.

The web application never runs these checks on its event loop: :mod:`signing.pdfgate`
runs :func:`inspect_pdf` and :func:`render_page` in a separate process with time and
memory limits. :func:`check_pdf` runs the same checks in the calling process (the
command line, tests).
"""

from __future__ import annotations

import dataclasses
import enum
import io
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pypdf.filters  # noqa: F401 - loaded now rather than in every checking process (below)
import pypdfium2 as pdfium
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pypdf import PdfReader
from pypdf.errors import LimitReachedError, PdfReadError, PyPdfError
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    TextStringObject,
)

from core.i18n import gettext as _
from core.settings import ContractSettings

__all__ = [
    "CheckedPdf",
    "PdfLimits",
    "PdfRejectedError",
    "Refusal",
    "check_pdf",
    "inspect_pdf",
    "refusal_message",
    "render_page",
]

SIGNATURE_KEYS = frozenset({"/ByteRange"})
"""Keys of a signature dictionary: the file is already signed."""
XFA_KEYS = frozenset({"/XFA", "/NeedsRendering"})
"""Keys of an XFA form (its template and scripts live in the /XFA streams)."""
ACTIVE_KEYS = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/EmbeddedFiles",
        "/EF",
        "/RichMediaContent",
        "/RichMediaSettings",
        "/AlternatePresentations",
        "/Renditions",
    }
)
"""Keys that carry scripts, files or media (name trees, actions, annotations, file specifications)."""
ACTIVE_TYPES = frozenset(
    {
        "/JavaScript",
        "/EmbeddedFile",
        "/FileAttachment",
        "/RichMedia",
        "/RichMediaExecute",
        "/Movie",
        "/Sound",
        "/Screen",
        "/Rendition",
        "/3D",
        "/U3D",
        "/PRC",
        "/GoTo3DView",
    }
)
"""Values of /Type, /Subtype or an action's /S that are scripts, files or media."""
OUTWARD_ACTIONS = frozenset({"/Launch", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE"})
"""Actions that start a program, send or import data, or open another file: refused everywhere."""
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
"""The only addresses a /URI action may lead to."""
_SIBLING_LINKS = {"/Next", "/Prev", "/N", "/V"}
"""Links between items of one outline level or one article thread: not one level deeper."""
_MAX_OBJECTS = 2_000_000
"""Dictionaries and arrays one check looks at, at most (the time limit usually ends it first)."""

# Loaded now rather than on first use: this module is loaded once into the fork
# server of signing.pdfgate, and every check or preview forked from it would
# otherwise load them again (the PNG writer alone takes ~0.15 s).
Image.preinit()


class Refusal(enum.StrEnum):
    """Why an upload was refused."""

    TOO_LARGE = "too-large"
    NOT_PDF = "not-pdf"
    HEADER = "header"
    """``%PDF-`` not at byte 0 (something, an HTML page perhaps, comes before it)."""
    DAMAGED = "damaged"
    ENCRYPTED = "encrypted"
    SIGNED = "signed"
    XFA = "xfa"
    ACTIVE = "active"
    """JavaScript, embedded files, rich media."""
    ACTIONS = "actions"
    """Actions that run by themselves, or reach outside the document."""
    TOO_MANY_PAGES = "too-many-pages"
    TOO_DEEP = "too-deep"
    TOO_COMPLEX = "too-complex"
    """The check ran out of time or memory."""


class PdfRejectedError(ValueError):
    """An upload was refused; ``message`` says why, in the user's language."""

    def __init__(self, message: str, reason: Refusal | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class RefusedPdf(Exception):
    """The verdict of :func:`inspect_pdf`, language-neutral (it may be reached in another process)."""

    def __init__(self, reason: Refusal, **params: int) -> None:
        super().__init__(reason.value, params)
        self.reason = reason
        self.params = params


@dataclass(frozen=True)
class PdfLimits:
    """What a contract document may be; ``KYODO_*`` settings in :class:`core.settings.ContractSettings`."""

    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 2000
    max_depth: int = 100
    timeout_seconds: float = 20.0
    """Wall-clock time one check or one preview may take (in its own process)."""
    memory_mb: int = 1024
    """Address space a check or a preview may add to the checking program's own."""
    processes: int = 2
    """Checks and previews that run at the same time in one web process."""

    @classmethod
    def of(cls, contracts: ContractSettings) -> PdfLimits:
        """The limits configured for contracts."""
        return cls(
            max_bytes=contracts.max_file_mb * 1024 * 1024,
            max_pages=contracts.max_pages,
            max_depth=contracts.max_depth,
            timeout_seconds=contracts.check_timeout_seconds,
            memory_mb=contracts.check_memory_mb,
            processes=contracts.check_processes,
        )


@dataclass(frozen=True)
class CheckedPdf:
    """What was learnt about an accepted PDF."""

    page_sizes: list[list[float]]
    """[width, height] of each page as displayed (crop box, after /Rotate): the space of text boxes."""


def refusal_message(reason: Refusal, file_name: str, params: Mapping[str, int] | None = None) -> str:
    """Why ``file_name`` was refused, in the current language."""
    params = params or {}
    messages = {
        Refusal.TOO_LARGE: _("“{name}” is larger than {limit} MB. Please make the file smaller and upload it again."),
        Refusal.NOT_PDF: _("“{name}” is not a PDF file. Please upload a PDF."),
        Refusal.HEADER: _(
            "“{name}” does not begin as a PDF file: something else comes before “%PDF-”. "
            "Please save it again as PDF and upload that file."
        ),
        Refusal.DAMAGED: _(
            "“{name}” could not be read as a PDF (the file may be damaged). Please save it again as PDF."
        ),
        Refusal.ENCRYPTED: _(
            "“{name}” is protected with a password or encrypted. Please save it without protection and upload it again."
        ),
        Refusal.SIGNED: _(
            "“{name}” already carries an electronic signature. "
            "Please upload the original without signatures; the platform seals the agreed contract itself."
        ),
        Refusal.XFA: _(
            "“{name}” is an XFA form (made with Adobe LiveCycle or AEM Forms Designer), which is not allowed. "
            "Please print it to PDF (for example with “Microsoft Print to PDF”) and upload that file."
        ),
        Refusal.ACTIVE: _(
            "“{name}” contains scripts, embedded files or other active content, which are not allowed. "
            "Please print it to PDF again (for example with “Microsoft Print to PDF”) and upload that file."
        ),
        Refusal.ACTIONS: _(
            "“{name}” contains actions that run by themselves when the file is opened or viewed, "
            "that send or import data, open other files or start programs, "
            "or links to something other than a web page or an e-mail address; these are not allowed. "
            "Please print it to PDF again (for example with “Microsoft Print to PDF”) and upload that file."
        ),
        Refusal.TOO_MANY_PAGES: _(
            "“{name}” has more than {limit} pages. Please split it into files of at most {limit} pages."
        ),
        Refusal.TOO_DEEP: _(
            "“{name}” is nested too deeply to be checked (more than {limit} levels). "
            "Please print it to PDF again (for example with “Microsoft Print to PDF”) and upload that file."
        ),
        Refusal.TOO_COMPLEX: _(
            "“{name}” is too complex to be checked within the time and memory allowed. "
            "Please print it to PDF again (for example with “Microsoft Print to PDF”) or split it, "
            "and upload that file."
        ),
    }
    return messages[reason].format(name=file_name, **params)


def check_pdf(
    data: bytes, file_name: str, *, max_bytes: int | None = None, limits: PdfLimits | None = None
) -> CheckedPdf:
    """Accept ``data`` as a contract document or raise :class:`PdfRejectedError`, in this process.

    ``limits`` default to :class:`PdfLimits`' defaults; ``max_bytes``, when given,
    replaces their size limit. The web application uses
    :func:`signing.pdfgate.check_pdf_off_loop` instead.
    """
    limits = limits or PdfLimits()
    if max_bytes is not None:
        limits = dataclasses.replace(limits, max_bytes=max_bytes)
    try:
        return inspect_pdf(data, limits)
    except RefusedPdf as refused:
        raise PdfRejectedError(refusal_message(refused.reason, file_name, refused.params), refused.reason) from None


def precheck(data: bytes, limits: PdfLimits) -> None:
    """The checks that need no parsing: size and header. Raises :class:`RefusedPdf`."""
    if len(data) > limits.max_bytes:
        raise RefusedPdf(Refusal.TOO_LARGE, limit=limits.max_bytes // (1024 * 1024))
    if not data.startswith(b"%PDF-"):
        raise RefusedPdf(Refusal.HEADER if b"%PDF-" in data[:1024] else Refusal.NOT_PDF)
    if b"%%EOF" not in data[-1024:]:
        # Where the sealer looks for the end of the file (and PDF readers commonly do).
        raise RefusedPdf(Refusal.DAMAGED)


def inspect_pdf(data: bytes, limits: PdfLimits) -> CheckedPdf:
    """Every check of the module docstring; raises :class:`RefusedPdf` with the first that fails."""
    precheck(data, limits)
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise RefusedPdf(Refusal.ENCRYPTED)
        pages = _count_pages(reader, limits.max_pages)
        found = _scan(reader, limits.max_depth)
    except RefusedPdf:
        raise
    except LimitReachedError as exc:
        raise RefusedPdf(Refusal.TOO_COMPLEX) from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        if _caused_by(exc, RecursionError):
            raise RefusedPdf(Refusal.TOO_DEEP, limit=limits.max_depth) from exc
        if _caused_by(exc, MemoryError):
            raise RefusedPdf(Refusal.TOO_COMPLEX) from exc
        raise RefusedPdf(Refusal.DAMAGED) from exc
    if found is not None:
        # Signed first: the platform's seal is a certification signature, which
        # must be the document's first; and the text boxes drawn into the pages
        # before it would count as a change after the other signature, breaking it.
        raise RefusedPdf(found)
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise RefusedPdf(Refusal.DAMAGED) from exc
    try:
        if len(document) != pages:
            raise RefusedPdf(Refusal.DAMAGED)
        # The same renderer draws the previews, so boxes placed on them share its page space.
        page_sizes = [[round(v, 3) for v in document[i].get_size()] for i in range(len(document))]
    finally:
        document.close()
    if _sealable_pages(data) != pages:
        # Viewers repair a broken cross-reference table silently; the seal is an
        # incremental update of the file as it is, so it must be readable as it is.
        raise RefusedPdf(Refusal.DAMAGED)
    return CheckedPdf(page_sizes=page_sizes)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _count_pages(reader: PdfReader, limit: int) -> int:
    """Leaves of the page tree, walked without recursion; more than ``limit`` refuses the file."""
    root = reader.trailer["/Root"].get_object()
    if not isinstance(root, DictionaryObject):
        raise RefusedPdf(Refusal.DAMAGED)
    stack: list[Any] = [root["/Pages"]]
    seen: set[tuple[int, int]] = set()
    count = 0
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                raise RefusedPdf(Refusal.DAMAGED)  # a page tree that loops or shares nodes
            seen.add(ref)
            node = node.get_object()
        if not isinstance(node, DictionaryObject):
            raise RefusedPdf(Refusal.DAMAGED)
        kids = node.get("/Kids")
        if kids is not None or node.get("/Type") == "/Pages":
            kids = kids.get_object() if isinstance(kids, IndirectObject) else kids
            if not isinstance(kids, ArrayObject):
                raise RefusedPdf(Refusal.DAMAGED)
            stack.extend(reversed(kids))
            continue
        count += 1
        if count > limit:
            raise RefusedPdf(Refusal.TOO_MANY_PAGES, limit=limit)
    if not count:
        raise RefusedPdf(Refusal.DAMAGED)
    return count


def _scan(reader: PdfReader, max_depth: int) -> Refusal | None:
    """Everything reachable from the trailer, then every other listed object; the gravest finding."""
    found: set[Refusal] = set()
    budget = _Budget()
    reached = _scan_reachable(reader, max_depth, found, budget)
    for ref in _listed_objects(reader):
        if ref not in reached:
            for obj in _direct_containers(reader.get_object(IndirectObject(ref[0], ref[1], reader))):
                budget.spend()
                if isinstance(obj, DictionaryObject):
                    found.update(_inspect_dictionary(obj))
    for gravest in (Refusal.SIGNED, Refusal.XFA, Refusal.ACTIVE, Refusal.ACTIONS):
        if gravest in found:
            return gravest
    return None


class _Budget:
    """How many more dictionaries and arrays one check may look at."""

    def __init__(self) -> None:
        self.left = _MAX_OBJECTS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise RefusedPdf(Refusal.TOO_COMPLEX)


def _scan_reachable(reader: PdfReader, max_depth: int, found: set[Refusal], budget: _Budget) -> set[tuple[int, int]]:
    """Inspect what the trailer leads to; the objects reached.

    Objects are visited breadth first (a deque, 0-1 BFS: sibling links cost
    nothing, every other step one level), so each gets the depth of its shortest
    way from the trailer; deeper than ``max_depth`` refuses the file.
    """
    done: set[tuple[int, int]] = set()
    queue: deque[tuple[Any, int]] = deque([(reader.trailer, 0)])
    while queue:
        obj, depth = queue.popleft()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in done:
                continue
            done.add(ref)
            obj = obj.get_object()
        if not isinstance(obj, (DictionaryObject, ArrayObject)):
            continue
        budget.spend()
        if depth > max_depth:
            raise RefusedPdf(Refusal.TOO_DEEP, limit=max_depth)
        if isinstance(obj, ArrayObject):
            queue.extend((item, depth + 1) for item in obj if _container(item))
            continue
        found.update(_inspect_dictionary(obj))
        siblings = _is_list_item(obj)
        for key, value in obj.items():
            if not _container(value):
                continue
            if siblings and key in _SIBLING_LINKS:
                queue.appendleft((value, depth))
            else:
                queue.append((value, depth + 1))
    return done


def _container(value: Any) -> bool:
    return isinstance(value, (IndirectObject, DictionaryObject, ArrayObject))


def _is_list_item(obj: DictionaryObject) -> bool:
    """An outline item (bookmark) or a bead of an article thread: /Next, /Prev or /N, /V are siblings."""
    return ("/Title" in obj and "/Parent" in obj) or obj.get("/Type") == "/Bead"


def _listed_objects(reader: PdfReader) -> Iterator[tuple[int, int]]:
    """Every object the cross-reference table lists (the newest revision of each)."""
    for generation, offsets in reader.xref.items():
        for idnum in offsets:
            yield idnum, generation
    for idnum in reader.xref_objStm:
        yield idnum, 0


def _direct_containers(obj: Any) -> Iterator[Any]:
    """``obj`` and the dictionaries and arrays written inside it (not those it refers to)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, DictionaryObject):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, (DictionaryObject, ArrayObject)))
        elif isinstance(item, ArrayObject):
            yield item
            stack.extend(v for v in item if isinstance(v, (DictionaryObject, ArrayObject)))


def _inspect_dictionary(obj: DictionaryObject) -> set[Refusal]:
    """What is wrong with one dictionary (its own keys and values, not what they refer to)."""
    found: set[Refusal] = set()
    keys = set(obj.keys())
    if keys & SIGNATURE_KEYS:
        found.add(Refusal.SIGNED)
    if keys & XFA_KEYS:
        found.add(Refusal.XFA)
    if keys & ACTIVE_KEYS:
        found.add(Refusal.ACTIVE)
    for key in ("/Type", "/Subtype", "/S"):
        value = obj.get(key)
        if isinstance(value, NameObject) and value in ACTIVE_TYPES:
            found.add(Refusal.ACTIVE)
    action = obj.get("/S")
    if isinstance(action, NameObject):
        outward = action in OUTWARD_ACTIONS
        if outward or (action == "/URI" and not _is_link_address(obj.get("/URI"))):
            found.add(Refusal.ACTIONS)
    if "/OpenAction" in obj and not _opens_at_a_page(obj["/OpenAction"]):
        found.add(Refusal.ACTIONS)
    additional = obj.get("/AA")
    if additional is not None:
        additional = additional.get_object()
        if not isinstance(additional, DictionaryObject) or len(additional):
            found.add(Refusal.ACTIONS)
    return found


def _opens_at_a_page(value: Any) -> bool:
    """An /OpenAction that only shows a page: a destination, or a /GoTo with nothing after it."""
    value = value.get_object() if isinstance(value, IndirectObject) else value
    if isinstance(value, (ArrayObject, NameObject, TextStringObject, ByteStringObject)):
        return True
    if isinstance(value, DictionaryObject):
        return value.get("/S") == "/GoTo" and "/Next" not in value
    return False


def _is_link_address(value: Any) -> bool:
    """A /URI that leads to a web page or an e-mail address."""
    value = value.get_object() if isinstance(value, IndirectObject) else value
    if isinstance(value, ByteStringObject):
        text = bytes(value).decode("latin-1")
    elif isinstance(value, str):
        text = str(value)
    else:
        return False
    scheme = urlsplit(text.strip()).scheme.lower()
    return scheme in LINK_SCHEMES


def _sealable_pages(data: bytes) -> int | None:
    """Page count as the sealer reads the file (no repair), or None when it cannot read it."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        return int(writer.root["/Pages"]["/Count"])
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
        return None


def render_page(data: bytes, page_index: int, *, width_px: int = 900) -> bytes:
    """A PNG preview of one page, ``width_px`` wide."""
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[page_index]
        scale = width_px / max(page.get_width(), 1.0)
        image = page.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        page.close()
        return out.getvalue()
    finally:
        pdf.close()
