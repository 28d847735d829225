"""What the corpus tests place on each page and how they read it back.

Boxes are placed in the page as displayed (see :class:`signing.TextBoxFill`): user-space
units from the lower-left corner of the visible area (CropBox clipped to the MediaBox)
after /Rotate, y upwards; the displayed size is what pypdfium2 reports.

Reading back: ``pdftotext -cropbox -bbox`` gives word boxes in the displayed page,
origin at the TOP-left corner of the visible area, y downwards, in user-space units
(poppler ignores /UserUnit). Without ``-cropbox`` the origin is the top-left corner of
the rotated MediaBox instead, so crop boxes that do not start at 0,0 would shift every
word. The ``<page width height>`` it prints are those of the unrotated box; the
displayed size is taken from pdfium.
"""

from __future__ import annotations

import html
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from pypdf import PdfReader

from signing import TextBoxFill
from tests.corpus.producers import CATALOGUE, SIGNED

__all__ = [
    "BOTTOM",
    "CIRCULATED",
    "HEIGHT",
    "LEFT",
    "SEALABLE",
    "WIDTH",
    "Word",
    "box_text",
    "boxes_for",
    "find_value",
    "shapes",
    "words",
]

SEALABLE = [name for name, *_ in CATALOGUE if name != SIGNED]
CIRCULATED = [
    "libreoffice-writer",
    "ghostscript",
    "reportlab-objstm",
    "fpdf2-cropbox",
    "weasyprint-inherited",
    "img2pdf-scan",
]
"""Taken through a whole circulation, to keep the run short: every PDF engine once (LibreOffice's
export, Ghostscript, reportlab, fpdf2, WeasyPrint, img2pdf); reportlab, fpdf2 and WeasyPrint through
a rewrite (object streams, offset crop box, resources and /Rotate 90 inherited from the page tree)."""

LEFT, BOTTOM, WIDTH, HEIGHT = 40.0, 80.0, 260.0, 24.0
"""Each page's box, in the displayed page: 40 from the left, 80 from the bottom."""


def box_text(page: int) -> str:
    """A different value on every page, with characters outside JIS X 0208."""
    return f"髙橋一郎 p{page + 1} 﨑"


@dataclass(frozen=True)
class Word:
    """A word of ``pdftotext -bbox``: displayed page, origin top-left, y downwards."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float


_PAGE = re.compile(r"<page [^>]*>(.*?)</page>", re.DOTALL)
_WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>')


def words(pdf: bytes, tmp_path: Path) -> list[list[Word]]:
    """Every page's words, as poppler places them in the displayed (cropped, rotated) page."""
    path = tmp_path / "words.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-cropbox", "-bbox", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    return [
        [Word(html.unescape(m[4]), float(m[0]), float(m[1]), float(m[2]), float(m[3])) for m in _WORD.findall(page)]
        for page in _PAGE.findall(out)
    ]


def shapes(pdf: bytes) -> list[tuple[float, float, int, float]]:
    """Displayed width, height, /Rotate and /UserUnit of every page."""
    units = [float(page.user_unit) for page in PdfReader(io.BytesIO(pdf)).pages]
    doc = pdfium.PdfDocument(pdf)
    try:
        pages = [doc[i] for i in range(len(doc))]
        return [
            (round(p.get_width(), 2), round(p.get_height(), 2), p.get_rotation(), unit)
            for p, unit in zip(pages, units, strict=True)
        ]
    finally:
        doc.close()


def boxes_for(pdf: bytes) -> list[TextBoxFill]:
    return [
        TextBoxFill(page=i, x=LEFT, y=BOTTOM, width=WIDTH, height=HEIGHT, text=box_text(i))
        for i in range(len(shapes(pdf)))
    ]


def find_value(page: list[Word], value: str) -> list[Word] | None:
    """The run of consecutive words that spells ``value`` (spaces ignored), if any."""
    target = value.replace(" ", "")
    for start in range(len(page)):
        run: list[Word] = []
        spelled = ""
        for word in page[start:]:
            if not target.startswith(spelled + word.text):
                break
            run.append(word)
            spelled += word.text
            if spelled == target:
                return run
    return None
