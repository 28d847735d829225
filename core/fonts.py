"""The Japanese font every PDF of the platform embeds: IPAexGothic (IPA Font License).

It comes with the ``japanize-matplotlib`` wheel from ``uv.lock``, which bundles
``fonts/ipaexg.ttf``; the package itself is never imported (it would load
matplotlib), only its folder is looked up. Seals, certificates of conclusion,
invoices and monthly reports all draw with this one file, so the same characters
print everywhere.

Parsing the font is most of the cost of such a PDF (fpdf2 reads the whole
TrueType file, its character map and every glyph width on each ``add_font``:
about 120 ms of CPU). :func:`add_japanese_font` parses it once per process and
hands each document a copy of the parsed face that shares the read-only parts
(widths, character map, descriptor) and has its own subset and its own lazily
opened font file, so documents never see each other's glyphs and each PDF still
embeds only the characters it prints.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

__all__ = ["FONT_FILE", "FONT_PACKAGE", "FontMissing", "add_japanese_font", "japanese_font"]

FONT_PACKAGE = "japanize_matplotlib"
FONT_FILE = Path("fonts") / "ipaexg.ttf"


class FontMissing(RuntimeError):
    """The bundled Japanese font is not installed."""


@cache
def japanese_font() -> Path:
    """Path of the bundled ``ipaexg.ttf``.

    Raises:
        FontMissing: the wheel that bundles it is not installed (run ``make setup``).
    """
    spec = importlib.util.find_spec(FONT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / FONT_FILE
        if candidate.is_file():
            return candidate
    raise FontMissing(
        f"The Japanese font ({FONT_FILE.name}, IPAexGothic) was not found: the package {FONT_PACKAGE!r} "
        "that bundles it is missing. Run `make setup` (uv sync) to install it."
    )


_PARSED_LOCK = threading.Lock()
_PARSED: dict[Path, tuple[bytes, TTFFont]] = {}


def _parsed(path: Path) -> tuple[bytes, TTFFont]:
    """The font file's bytes and fpdf2's parsed face of it, made once per process and path."""
    with _PARSED_LOCK:
        found = _PARSED.get(path)
        if found is None:
            from fpdf import FPDF  # noqa: PLC0415 - fpdf2 pulls in fontTools and Pillow: only when a PDF is drawn
            from fpdf.fonts import TTFFont  # noqa: PLC0415

            scratch = FPDF()
            scratch.add_font("kyodo-parsed", "", str(path))
            face = scratch.fonts["kyodo-parsed"]
            assert isinstance(face, TTFFont)
            face.close()
            found = (path.read_bytes(), face)
            if len(_PARSED) >= 4:  # a few cut copies at most (reports cut one per batch)
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[path] = found
        return found


def add_japanese_font(pdf: FPDF, family: str, style: str = "", *, path: Path | None = None) -> None:
    """Register the Japanese font (or the font file ``path``) in ``pdf`` as ``family`` / ``style``.

    What ``pdf.add_font(family, style, path)`` does, without parsing the file
    again: the face parsed once per process is copied for this document with
    a fresh subset and a fresh, lazily read font file (the subsetting at
    output changes that file's tables in place).
    """
    from fontTools import ttLib  # noqa: PLC0415
    from fpdf.enums import TextEmphasis  # noqa: PLC0415
    from fpdf.fonts import SubsetMap  # noqa: PLC0415

    data, parsed = _parsed((path or japanese_font()).resolve())
    fontkey = f"{family.lower()}{style.upper()}"
    face = copy.copy(parsed)
    face.i = len(pdf.fonts) + 1
    face.fontkey = fontkey
    face.emphasis = TextEmphasis.coerce(style.upper())
    face.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
    face._hbfont = None
    face.biggest_size_pt = 0
    face.missing_glyphs = []
    face.subset = SubsetMap(face)
    face.desc = copy.copy(parsed.desc)  # the PDF object output numbers and fills in
    pdf.fonts[fontkey] = face
