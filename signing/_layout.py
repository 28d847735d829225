"""Private: draw filled text boxes into page content with an embedded Japanese font.

The values become part of the page itself (content stream + embedded font
subset), not form fields or annotations, so the certification signature that
follows freezes them and no viewer can show anything else.

Why not pyHanko's ``GlyphAccumulator``: it re-parses the 6 MB CJK font with
fontTools and runs the fontTools subsetter on every document, ~200 ms per seal,
more than the whole B-LTA signature. Japanese and Latin text need no complex
shaping (no ligatures or reordering; glyph advance widths are the layout), so
this module parses the TrueType tables once per process and cuts a subset per
document by copying the raw ``glyf`` records of the glyphs used, keeping glyph
ids (CIDToGIDMap /Identity) so no outline or instruction is rewritten. The
result is a standard Type0/CIDFontType2 font with a ToUnicode map, so text
stays searchable and copyable.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from ._truetype import TrueTypeFont, load_font
from .errors import (
    SealingInputError,
    TextOverflowError,
    UnsupportedCharactersError,
)
from .fonts import japanese_font_path

__all__ = [
    "PageGeometry",
    "TextBoxFill",
    "TrueTypeFont",
    "check_fill",
    "draw_text_boxes",
    "load_font",
    "page_geometry",
]

MIN_FONT_SIZE = 5.0
"""Smallest size the fitting loop tries before declaring an overflow (pt)."""

DEFAULT_MAX_FONT_SIZE = 11.0
LINE_SPACING = 1.25
PADDING = 1.5
_FONT_RESOURCE = "/KyodoJP"

# Characters that must not start a line in Japanese typesetting (kinsoku shori).
_NO_LINE_START = set(
    "、。，．,.・：；？！:;?!゛゜ヽヾゝゞ々ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ）］｝」』】〕〉》’”)]}%％"
)
# Runs kept on one line when possible: Latin words, numbers (also full-width).
_TOKEN = re.compile(r"[A-Za-z0-9@#&+\-_.,:/%$'\"０-９Ａ-Ｚａ-ｚ，．]+|\s|.", re.DOTALL)


@dataclass(frozen=True)
class TextBoxFill:
    """One text box value to draw into the document before sealing.

    Coordinates are in the page as displayed (see :class:`PageGeometry`):
    user-space units (points, unless the page sets ``/UserUnit``) from the
    lower-left corner of the visible area after rotation, y upwards — the
    coordinates of the page preview. Converting from screen pixels is the
    caller's job.
    """

    page: int
    """Zero-based page index."""
    x: float
    """Left edge of the box."""
    y: float
    """Bottom edge of the box."""
    width: float
    """Box width (> 0)."""
    height: float
    """Box height (> 0)."""
    text: str
    """Value to draw; Japanese allowed, ``\\n`` starts a new line."""
    font_size: float | None = None
    """Largest font size to use; the text shrinks (down to 5 pt) until it fits."""
    align: Literal["left", "center", "right"] = "left"
    """Horizontal alignment inside the box."""
    ref: str | None = None
    """The caller's id of the box (e.g. the text box row), carried by errors about it."""


# -- the font ------------------------------------------------------------------------------


def _width(text: str, font: TrueTypeFont) -> float:
    return sum(font.advance_em.get(ord(c), 1.0) for c in text)


def _wrap(paragraph: str, max_em: float, font: TrueTypeFont) -> list[str] | None:
    """Greedy line breaking; Latin words stay whole when they can."""
    lines: list[str] = []
    current = ""
    for token in _TOKEN.findall(paragraph):
        if _width((current + token).rstrip(), font) <= max_em:
            current += token
            continue
        if token.isspace():
            lines.append(current.rstrip())
            current = ""
            continue
        if current.strip():
            # Kinsoku: carry the last character over rather than start a line
            # with a closing bracket, a comma or a small kana.
            if token[0] in _NO_LINE_START and len(current) > 1:
                lines.append(current[:-1].rstrip())
                current = current[-1]
            else:
                lines.append(current.rstrip())
                current = ""
        if _width(current + token, font) <= max_em:
            current += token
            continue
        # A single word wider than the box: break it character by character.
        for ch in token:
            if _width(current + ch, font) > max_em:
                if not current:
                    return None
                lines.append(current)
                current = ""
            current += ch
    lines.append(current.rstrip())
    return lines


def _fit(box: TextBoxFill, font: TrueTypeFont, unit: float = 1.0) -> tuple[float, list[str]]:
    """Font size (in user-space units) and lines; sizes are physical points divided by ``/UserUnit``."""
    padding = PADDING / unit
    smallest = MIN_FONT_SIZE / unit
    inner_w = box.width - 2 * padding
    inner_h = box.height - 2 * padding
    if inner_w <= 0 or inner_h <= 0:
        raise SealingInputError(f"text box on page {box.page} is too small", reason="area", page=box.page, ref=box.ref)
    largest = box.font_size / unit if box.font_size else min(DEFAULT_MAX_FONT_SIZE / unit, inner_h / LINE_SPACING)
    size = max(largest, smallest)
    step = 0.5 / unit
    while size >= smallest - 1e-9:
        lines: list[str] = []
        for paragraph in box.text.split("\n"):
            wrapped = _wrap(paragraph, inner_w / size, font)
            if wrapped is None:
                break
            lines.extend(wrapped)
        else:
            if len(lines) * size * LINE_SPACING <= inner_h + 1e-6:
                return size, lines
        size -= step
    raise TextOverflowError(
        f"text does not fit its box on page {box.page} even at {MIN_FONT_SIZE} pt: {box.text[:40]!r}",
        reason="overflow",
        page=box.page,
        ref=box.ref,
    )


def _check_boxes(writer: IncrementalPdfFileWriter, boxes: Sequence[TextBoxFill], font: TrueTypeFont) -> None:
    pages = int(writer.root["/Pages"]["/Count"])
    for box in boxes:
        if not 0 <= box.page < pages:
            raise SealingInputError(
                f"text box page {box.page} outside 0..{pages - 1}", reason="page", page=box.page, ref=box.ref
            )
        if box.width <= 0 or box.height <= 0:
            raise SealingInputError(
                f"text box on page {box.page} has no area", reason="area", page=box.page, ref=box.ref
            )
        missing = sorted({c for c in box.text if c != "\n" and ord(c) not in font.gid_of})
        if missing:
            raise UnsupportedCharactersError(
                "the embedded font cannot draw: " + " ".join(f"{c!r} U+{ord(c):04X}" for c in missing),
                reason="characters",
                page=box.page,
                ref=box.ref,
                characters="".join(missing),
            )


def check_fill(box: TextBoxFill, font_path: Path | None = None) -> None:
    """Raise the :class:`SealingInputError` that sealing ``box`` would raise, without a PDF.

    Used when a party submits a value, so that a character the font lacks or a
    value too long for its box is corrected on the form instead of stopping
    the seal after everyone agreed. (A page's ``/UserUnit`` is only known from
    the PDF; the seal checks again.)
    """
    font = load_font(font_path or japanese_font_path())
    missing = sorted({c for c in box.text if c != "\n" and ord(c) not in font.gid_of})
    if missing:
        raise UnsupportedCharactersError(
            "the embedded font cannot draw: " + " ".join(f"U+{ord(c):04X}" for c in missing),
            reason="characters",
            page=box.page,
            ref=box.ref,
            characters="".join(missing),
        )
    _fit(box, font)


# -- page geometry and resources -----------------------------------------------------------


def _inherited(page: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """A page attribute, looked up the page tree when the page does not set it (ISO 32000-1, 7.7.3.4)."""
    node: generic.DictionaryObject | None = page
    depth = 0
    while node is not None and depth < 64:  # a page tree deeper than this is not a real document
        if key in node:
            found: generic.PdfObject = node.raw_get(key)
            return found
        parent = node.raw_get("/Parent") if "/Parent" in node else None
        if isinstance(parent, generic.IndirectObject):
            parent = parent.get_object()
        node = parent if isinstance(parent, generic.DictionaryObject) else None
        depth += 1
    return None


def _rectangle(value: generic.PdfObject | None) -> tuple[float, float, float, float] | None:
    if isinstance(value, generic.IndirectObject):
        value = value.get_object()
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@dataclass(frozen=True)
class PageGeometry:
    """How the page is displayed: the visible area, its rotation and its unit.

    Text box coordinates are given in the *displayed* page: user-space units
    measured from the lower-left corner of the visible area (CropBox clipped to
    the MediaBox) after the page's ``/Rotate``, y upwards. That is what a viewer
    and the page preview show, so boxes placed on the preview land where the
    person placing them saw them, on any page of any producer.
    """

    visible: tuple[float, float, float, float]
    rotate: int
    """Clockwise display rotation: 0, 90, 180 or 270."""
    unit: float
    """``/UserUnit``: size of one user-space unit in 1/72 inch (1 for almost every file)."""

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the page as displayed, in user-space units."""
        x0, y0, x1, y1 = self.visible
        w, h = x1 - x0, y1 - y0
        return (h, w) if self.rotate in (90, 270) else (w, h)

    def matrix(self) -> tuple[float, float, float, float, float, float]:
        """The ``cm`` matrix from displayed coordinates to the page's user space."""
        x0, y0, x1, y1 = self.visible
        if self.rotate == 90:
            return (0, 1, -1, 0, x1, y0)
        if self.rotate == 180:
            return (-1, 0, 0, -1, x1, y1)
        if self.rotate == 270:
            return (0, -1, 1, 0, x0, y1)
        return (1, 0, 0, 1, x0, y0)


def page_geometry(page: generic.DictionaryObject) -> PageGeometry:
    """The display geometry of a page dictionary (inherited attributes included)."""
    media = _rectangle(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)  # the spec's default: Letter
    crop = _rectangle(_inherited(page, "/CropBox")) or media
    visible = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
    if visible[2] <= visible[0] or visible[3] <= visible[1]:
        visible = media
    raw_rotate = _inherited(page, "/Rotate")
    if isinstance(raw_rotate, generic.IndirectObject):
        raw_rotate = raw_rotate.get_object()
    rotate = int(raw_rotate) if isinstance(raw_rotate, (int, float)) else 0
    rotate = (rotate // 90 * 90) % 360 if rotate % 90 == 0 else 0
    raw_unit = page["/UserUnit"] if "/UserUnit" in page else None  # noqa: SIM401 - [] resolves a reference
    unit = float(raw_unit) if isinstance(raw_unit, (int, float)) else 1.0
    return PageGeometry(visible=visible, rotate=rotate, unit=unit if unit > 0 else 1.0)


def _dictionary(value: generic.PdfObject | None) -> generic.DictionaryObject:
    if isinstance(value, generic.IndirectObject):
        value = value.get_object()
    return value if isinstance(value, generic.DictionaryObject) else generic.DictionaryObject()


def _own_resources(page: generic.DictionaryObject, font_ref: generic.IndirectObject) -> str:
    """Give the page a resource dictionary of its own that names our font; the name used.

    Producers such as reportlab and LibreOffice share one (indirect) resource
    dictionary, or one /Font dictionary, between all pages, and a page may
    inherit its resources from the page tree. Those shared objects are never
    changed: the page gets a new direct /Resources holding the same entries
    (references to the same fonts, images and forms) and a new /Font
    dictionary with our font under a name none of the page's fonts uses.
    """
    inherited = _dictionary(_inherited(page, "/Resources"))
    resources = generic.DictionaryObject({key: inherited.raw_get(key) for key in inherited})
    fonts_in = _dictionary(inherited.raw_get("/Font") if "/Font" in inherited else None)
    fonts = generic.DictionaryObject({key: fonts_in.raw_get(key) for key in fonts_in})
    name, n = _FONT_RESOURCE, 0
    while pdf_name(name) in fonts:
        n += 1
        name = f"{_FONT_RESOURCE}{n}"
    fonts[pdf_name(name)] = font_ref
    resources[pdf_name("/Font")] = fonts
    page[pdf_name("/Resources")] = resources
    return name


def _content_refs(page: generic.DictionaryObject) -> list[generic.PdfObject]:
    """The page's content streams as references, without touching a (possibly shared) array."""
    raw = page.raw_get("/Contents") if "/Contents" in page else None
    target = raw.get_object() if isinstance(raw, generic.IndirectObject) else raw
    if isinstance(target, generic.ArrayObject):
        return [target.raw_get(i) for i in range(len(target))]
    if raw is None:
        return []
    return [raw]


# -- PDF objects -------------------------------------------------------------------------------


def _to_unicode(cid_to_text: dict[int, str]) -> generic.StreamObject:
    entries = sorted(cid_to_text.items())
    body = []
    for i in range(0, len(entries), 100):
        chunk = entries[i : i + 100]
        body.append(f"{len(chunk)} beginbfchar")
        body.extend(f"<{cid:04X}> <{text.encode('utf-16-be').hex().upper()}>" for cid, text in chunk)
        body.append("endbfchar")
    cmap = "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            "<0000> <FFFF>",
            "endcodespacerange",
            *body,
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )
    stream = generic.StreamObject(stream_data=cmap.encode("ascii"))
    stream.compress()
    return stream


def _embed_font(writer: IncrementalPdfFileWriter, font: TrueTypeFont, used: dict[int, str]) -> generic.IndirectObject:
    tag = "".join(secrets.choice(string.ascii_uppercase) for _ in range(6))
    name = f"{tag}+{font.ps_name}"
    program = font.subset_program(used)
    file_stream = generic.StreamObject({pdf_name("/Length1"): generic.NumberObject(len(program))}, stream_data=program)
    file_stream.compress()
    scale = 1000 / font.units_per_em

    def n(v: float) -> generic.NumberObject:
        return generic.NumberObject(round(v * scale))

    descriptor = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/FontDescriptor"),
            pdf_name("/FontName"): pdf_name("/" + name),
            pdf_name("/Flags"): generic.NumberObject(4),  # symbolic: glyphs outside Latin
            pdf_name("/FontBBox"): generic.ArrayObject([n(v) for v in font.bbox]),
            pdf_name("/ItalicAngle"): generic.NumberObject(0),
            pdf_name("/Ascent"): n(font.ascent * font.units_per_em),
            pdf_name("/Descent"): n(font.descent * font.units_per_em),
            pdf_name("/CapHeight"): n(font.cap_height),
            pdf_name("/StemV"): generic.NumberObject(80),
            pdf_name("/FontFile2"): writer.add_object(file_stream),
        }
    )
    widths = generic.ArrayObject()
    for gid in sorted(used):
        widths.append(generic.NumberObject(gid))
        widths.append(generic.ArrayObject([n(font.advance(gid))]))
    cid_font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
            pdf_name("/BaseFont"): pdf_name("/" + name),
            pdf_name("/CIDSystemInfo"): generic.DictionaryObject(
                {
                    pdf_name("/Registry"): generic.TextStringObject("Adobe"),
                    pdf_name("/Ordering"): generic.TextStringObject("Identity"),
                    pdf_name("/Supplement"): generic.NumberObject(0),
                }
            ),
            pdf_name("/FontDescriptor"): writer.add_object(descriptor),
            pdf_name("/W"): widths,
            pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
        }
    )
    type0 = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type0"),
            pdf_name("/BaseFont"): pdf_name("/" + name),
            pdf_name("/Encoding"): pdf_name("/Identity-H"),
            pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(cid_font)]),
            pdf_name("/ToUnicode"): writer.add_object(_to_unicode(used)),
        }
    )
    return writer.add_object(type0)


def draw_text_boxes(writer: IncrementalPdfFileWriter, boxes: Sequence[TextBoxFill], font_path: Path) -> None:
    """Append the boxes' text to their pages' content in ``writer``.

    Works on any valid page: rotated, cropped, with a ``/UserUnit``, with
    resources inherited or shared with other pages, with one content stream or
    an array of them. Shared objects are never modified (see :func:`_own_resources`).

    :raises SealingInputError: page out of range, empty box, text that does not
        fit, or characters missing from the font. Nothing is drawn then.
    """
    if not boxes:
        return
    font = load_font(font_path)
    _check_boxes(writer, boxes, font)
    pages: dict[int, tuple[generic.IndirectObject, generic.DictionaryObject, PageGeometry]] = {}
    for box in boxes:
        if box.page not in pages:
            page_ref, _res = writer.find_page_for_modification(box.page)
            page = page_ref.get_object()
            pages[box.page] = (page_ref, page, page_geometry(page))
    layouts = [(box, *_fit(box, font, pages[box.page][2].unit)) for box in boxes]

    used: dict[int, str] = {}
    by_page: dict[int, list[bytes]] = {}
    for box, size, lines in layouts:
        x0, y0 = box.x, box.y
        leading = size * LINE_SPACING
        padding = PADDING / pages[box.page][2].unit
        # Centre the block vertically: boxes are usually drawn one line high.
        top = y0 + (box.height + len(lines) * leading) / 2
        ops = [b"q %.3f %.3f %.3f %.3f re W n 0 g" % (x0, y0, box.width, box.height)]
        for i, line in enumerate(lines):
            if not line:
                continue
            width = _width(line, font) * size
            if box.align == "center":
                x = x0 + (box.width - width) / 2
            elif box.align == "right":
                x = x0 + box.width - padding - width
            else:
                x = x0 + padding
            baseline = top - i * leading - (leading - size) / 2 - font.ascent * size
            gids = [font.gid_of[ord(c)] for c in line]
            for c, gid in zip(line, gids, strict=True):
                used.setdefault(gid, c)
            hex_gids = "".join(f"{g:04X}" for g in gids).encode("ascii")
            ops.append(b"BT %%FONT%% %.3f Tf 1 0 0 1 %.3f %.3f Tm <%s> Tj ET" % (size, x, baseline, hex_gids))
        ops.append(b"Q")
        by_page.setdefault(box.page, []).append(b"\n".join(ops))

    font_ref = _embed_font(writer, font, used)
    # Wrap the original content in q/Q so that a graphics state it leaves
    # behind (an unbalanced cm, a colour) cannot move or recolour our text.
    opening = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
    for index, chunks in by_page.items():
        page_ref, page, geometry = pages[index]
        name = _own_resources(page, font_ref)
        matrix = b" ".join(b"%.4f" % v for v in geometry.matrix())
        body = b"\n".join(chunks).replace(b"%FONT%", name.encode("ascii"))
        stream = generic.StreamObject(stream_data=b"\nQ\nq " + matrix + b" cm\n" + body + b"\nQ\n")
        stream.compress()
        page[pdf_name("/Contents")] = generic.ArrayObject([opening, *_content_refs(page), writer.add_object(stream)])
        writer.mark_update(page_ref)
