"""Checks of an uploaded PDF before anything is stored, and page previews.

A document is accepted only if it really is a PDF, parses (pypdf), is not
encrypted or already signed, carries no JavaScript, launch actions, embedded
files or rich media, has at least one page, keeps within the size limits, and
can be read as it is by the sealer (a file that viewers only open after
repairing its cross-reference table could never be sealed). Documents are parsed,
never executed. Previews are rendered server-side with pypdfium2.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from kyodo.i18n import gettext as _

__all__ = ["CheckedPdf", "PdfRejectedError", "check_pdf", "render_page"]

FORBIDDEN_KEYS = frozenset(
    {"/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia", "/FileAttachment"}
)
"""Dictionary keys (or subtypes) that mean active content or files inside the PDF."""
_MAX_OBJECTS = 2_000_000


class PdfRejectedError(ValueError):
    """An upload was refused; ``message`` says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedPdf:
    """What was learnt about an accepted PDF."""

    page_sizes: list[list[float]]
    """[width, height] of each page as displayed (crop box, after /Rotate): the space of text boxes."""


def _walk(reader: PdfReader, root: Any) -> str | None:
    """Depth-first through every dictionary and array reachable from ``root``; first forbidden key."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [root]
    visited = 0
    while stack:
        obj = stack.pop()
        visited += 1
        if visited > _MAX_OBJECTS:
            return "too-complex"
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            for key, value in obj.items():
                if key in FORBIDDEN_KEYS:
                    return str(key)
                if key == "/ByteRange":
                    return "signed"
                if key in ("/S", "/Subtype") and str(value) in FORBIDDEN_KEYS:
                    return str(value)
                if key != "/Parent":
                    stack.append(value)
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return None


def check_pdf(data: bytes, file_name: str, *, max_bytes: int) -> CheckedPdf:
    """Accept ``data`` as a contract document or raise :class:`PdfRejectedError`."""
    if len(data) > max_bytes:
        raise PdfRejectedError(
            _("“{name}” is larger than {limit} MB. Please make the file smaller and upload it again.").format(
                name=file_name, limit=max_bytes // (1024 * 1024)
            )
        )
    if not data or b"%PDF-" not in data[:1024]:
        raise PdfRejectedError(_("“{name}” is not a PDF file. Please upload a PDF.").format(name=file_name))
    corrupt = _("“{name}” could not be read as a PDF (the file may be damaged). Please save it again as PDF.")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise PdfRejectedError(
                _(
                    "“{name}” is protected with a password or encrypted. "
                    "Please save it without protection and upload it again."
                ).format(name=file_name)
            )
        if not len(reader.pages):
            raise PdfRejectedError(corrupt.format(name=file_name))
        found = _walk(reader, reader.trailer)
    except PdfRejectedError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise PdfRejectedError(corrupt.format(name=file_name)) from exc
    if found == "signed":
        # The platform's seal is a certification signature, which must be the
        # document's first; and the text boxes drawn into the pages before it
        # would count as a change after the other signature, breaking it.
        raise PdfRejectedError(
            _(
                "“{name}” already carries an electronic signature. "
                "Please upload the original without signatures; the platform seals the agreed contract itself."
            ).format(name=file_name)
        )
    if found is not None:
        raise PdfRejectedError(
            _(
                "“{name}” contains scripts, embedded files or other active content, which are not allowed. "
                "Please print it to PDF again (for example with “Microsoft Print to PDF”) and upload that file."
            ).format(name=file_name)
        )
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise PdfRejectedError(corrupt.format(name=file_name)) from exc
    try:
        # The same renderer draws the previews, so boxes placed on them share its page space.
        page_sizes = [[round(v, 3) for v in document[i].get_size()] for i in range(len(document))]
    finally:
        document.close()
    if _sealable_pages(data) != len(page_sizes):
        # Viewers repair a broken cross-reference table silently; the seal is an
        # incremental update of the file as it is, so it must be readable as it is.
        raise PdfRejectedError(corrupt.format(name=file_name))
    return CheckedPdf(page_sizes=page_sizes)


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
