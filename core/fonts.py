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

Cutting that subset is the other large cost: fpdf2 hands the whole font to
fontTools' subsetter, which decodes every table sized by the 12,000 glyphs
(character map, glyph names, metrics, outlines) on each PDF, about 100 ms.
:func:`pdf_bytes` writes the PDF instead from a per-process index of the raw
tables (glyph offsets, metrics, reverse character map): it copies the printed
glyphs' outlines into a small font and lets fpdf2 subset that one as usual, so
the embedded font program is the same, in a few milliseconds.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

__all__ = [
    "FONT_FILE",
    "FONT_PACKAGE",
    "FontMissing",
    "add_japanese_font",
    "japanese_font",
    "load_japanese_font",
    "pdf_bytes",
    "sfnt",
]

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
_INDEXES: dict[str, _Index | None] = {}
"""The raw-table index of each font file a face was added from (None: not a plain TrueType font)."""


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
            data = path.read_bytes()
            _INDEXES[str(face.ttffile)] = _Index.of(face.ttfont, data)
            face.close()
            found = (data, face)
            if len(_PARSED) >= 4:  # a few font files at most (the bundled one, an override)
                _INDEXES.pop(str(_PARSED.pop(next(iter(_PARSED)))[1].ttffile), None)
            _PARSED[path] = found
        return found


def load_japanese_font(path: Path | None = None) -> None:
    """Parse the Japanese font (or ``path``) now, so that the first PDF of this process does not wait for it.

    Called when a worker process starts; parsing and indexing take about 0.3 s.
    """
    _parsed((path or japanese_font()).resolve())


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


# -- writing the PDF with a fast subset -------------------------------------------------------

_COPIED_TABLES = ("OS/2", "name", "cvt ", "fpgm", "prep", "gasp")
"""Tables the small font takes over unchanged (those fontTools' subsetter keeps as they are)."""


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    words: tuple[int, ...] = struct.unpack(f">{len(padded) // 4}I", padded)
    return sum(words) & 0xFFFFFFFF


def sfnt(tables: dict[str, bytes]) -> bytes:
    """A TrueType file holding ``tables`` (raw bytes by tag), with its table directory and checksums."""
    tags = sorted(tables)
    count = len(tags)
    selector = max(i for i in range(16) if 2**i <= count)
    search_range = 16 * 2**selector
    out = bytearray(struct.pack(">IHHHH", 0x00010000, count, search_range, selector, 16 * count - search_range))
    offset = 12 + 16 * count
    body = bytearray()
    for tag in tags:
        data = tables[tag]
        out += struct.pack(">4sIII", tag.encode("latin-1"), _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    return bytes(out + body)


def _metrics(raw: bytes, long_count: int, glyphs: int) -> list[bytes]:
    """Each glyph's (advance, side bearing) as 4 raw bytes, from an hmtx or vmtx table."""
    entries = [raw[4 * i : 4 * i + 4] for i in range(long_count)]
    last_advance = entries[-1][:2]
    tail = 4 * long_count
    entries += [last_advance + raw[tail + 2 * i : tail + 2 * i + 2] for i in range(glyphs - long_count)]
    return entries


def _extents(glyphs: list[tuple[tuple[int, int], int, int]]) -> tuple[int, int, int]:
    """Smallest leading and trailing bearing, largest extent: ((advance, bearing), low, high) of each outlined glyph."""
    if not glyphs:
        return (0, 0, 0)
    return (
        min(bearing for (_advance, bearing), _low, _high in glyphs),
        min(advance - bearing - (high - low) for (advance, bearing), low, high in glyphs),
        max(bearing + high - low for (_advance, bearing), low, high in glyphs),
    )


@dataclass(frozen=True)
class _Outlines:
    """The outlines of some glyphs as a glyf table, and what fontTools would recompute from them."""

    glyf: bytes
    offsets: list[int]
    boxes: list[tuple[int, int, int, int, int]]
    """Glyph id, xMin, yMin, xMax, yMax of each glyph that has an outline."""
    points: int
    contours: int


@dataclass(frozen=True)
class _Index:
    """What cutting a small font needs from the full one, read once per process and font file."""

    tables: dict[str, bytes]
    """The raw tables other than the outlines."""
    outlines: memoryview
    """The glyf table, within the font file's bytes (not a copy)."""
    glyph_order: list[str]
    glyph_id: dict[str, int]
    loca: list[int]
    hmtx: list[bytes]
    vmtx: list[bytes] | None
    codepoints: dict[str, list[int]]
    """The Unicode characters that map to each glyph name (the best character map, reversed)."""

    @classmethod
    def of(cls, ttfont: TTFont, data: bytes) -> _Index | None:
        """The index of a TrueType (glyf) font; None for other outlines, which fpdf2 subsets itself."""
        try:
            return cls._read(ttfont, data)
        except (KeyError, IndexError, struct.error):  # an unusual font: fpdf2 subsets it itself
            return None

    @classmethod
    def _read(cls, ttfont: TTFont, data: bytes) -> _Index | None:
        directory = ttfont.reader.tables
        if "glyf" not in directory or "loca" not in directory or "CFF " in directory:
            return None
        tables = {tag: ttfont.reader[tag] for tag in directory if tag != "glyf"}
        glyf = directory["glyf"]
        glyph_order = ttfont.getGlyphOrder()
        count = len(glyph_order)
        if count != struct.unpack(">H", tables["maxp"][4:6])[0]:
            return None  # fpdf2 drew a .notdef the file lacks
        raw_loca = tables["loca"]
        if struct.unpack(">h", tables["head"][50:52])[0] == 0:
            loca = [2 * v for v in struct.unpack(f">{count + 1}H", raw_loca[: 2 * (count + 1)])]
        else:
            loca = list(struct.unpack(f">{count + 1}I", raw_loca[: 4 * (count + 1)]))
        (long_h,) = struct.unpack(">H", tables["hhea"][34:36])
        vmtx = None
        if "vmtx" in tables and "vhea" in tables:
            (long_v,) = struct.unpack(">H", tables["vhea"][34:36])
            vmtx = _metrics(tables["vmtx"], long_v, count)
        codepoints: dict[str, list[int]] = {}
        for codepoint, name in (ttfont.getBestCmap() or {}).items():
            codepoints.setdefault(name, []).append(codepoint)
        return cls(
            tables=tables,
            outlines=memoryview(data)[glyf.offset : glyf.offset + glyf.length],
            glyph_order=glyph_order,
            glyph_id={name: gid for gid, name in enumerate(glyph_order)},
            loca=loca,
            hmtx=_metrics(tables["hmtx"], long_h, count),
            vmtx=vmtx,
            codepoints=codepoints,
        )

    def _outlines(self, gids: list[int]) -> _Outlines | None:
        """The glyf table of ``gids``; None if one of them is a composite (its parts would need renumbering)."""
        glyf = bytearray()
        offsets = []
        boxes = []
        points = contours = 0
        for gid in gids:
            outline = self.outlines[self.loca[gid] : self.loca[gid + 1]]
            if len(outline) >= 10:
                n, x_min, y_min, x_max, y_max = struct.unpack(">hhhhh", outline[:10])
                if n < 0:
                    return None
                if n:
                    boxes.append((gid, x_min, y_min, x_max, y_max))
                    (last_point,) = struct.unpack(">H", outline[8 + 2 * n : 10 + 2 * n])
                    points, contours = max(points, last_point + 1), max(contours, n)
            offsets.append(len(glyf))
            glyf += outline
            glyf += b"\0" * (-len(glyf) % 4)
        offsets.append(len(glyf))
        return _Outlines(bytes(glyf), offsets, boxes, points, contours)

    def _headers(self, gids: list[int], outlines: _Outlines) -> dict[str, bytes]:
        """head, maxp, hhea and vhea for ``gids``: boxes, extents and counts as fontTools would recompute them."""
        count = struct.pack(">H", len(gids))
        boxes = outlines.boxes
        widths = {gid: struct.unpack(">Hh", self.hmtx[gid]) for gid in gids}
        head = bytearray(self.tables["head"])
        head[8:12] = bytes(4)  # checkSumAdjustment: written again when the subset is saved
        (flags,) = struct.unpack(">H", head[16:18])
        lsb_is_x_min = all(widths[g][1] == x0 for g, x0, _y0, _x1, _y1 in boxes)
        head[16:18] = struct.pack(">H", flags | 0x2 if lsb_is_x_min else flags & ~0x2)
        if boxes:
            box = (
                min(b[1] for b in boxes),
                min(b[2] for b in boxes),
                max(b[3] for b in boxes),
                max(b[4] for b in boxes),
            )
        else:
            box = (0, 0, 0, 0)
        head[36:44] = struct.pack(">hhhh", *box)
        head[50:52] = struct.pack(">h", 1)  # long loca offsets
        maxp = bytearray(self.tables["maxp"])
        maxp[4:6] = count
        if len(maxp) >= 32:  # version 1.0: no composites (those fonts are not cut here)
            maxp[6:14] = struct.pack(">HHHH", outlines.points, outlines.contours, 0, 0)
            maxp[28:32] = bytes(4)
        x_extents = _extents([(widths[g], x0, x1) for g, x0, _y0, x1, _y1 in boxes])
        advance = struct.pack(">H", max(widths[g][0] for g in gids))
        hhea = self.tables["hhea"]
        headers = {
            "head": bytes(head),
            "maxp": bytes(maxp),
            "hhea": hhea[:10] + advance + struct.pack(">hhh", *x_extents) + hhea[18:34] + count,
        }
        if self.vmtx is not None:
            heights = {gid: struct.unpack(">Hh", self.vmtx[gid]) for gid in gids}
            y_extents = _extents([(heights[g], y0, y1) for g, _x0, y0, _x1, y1 in boxes])
            advance = struct.pack(">H", max(heights[g][0] for g in gids))
            vhea = self.tables["vhea"]
            headers["vhea"] = vhea[:10] + advance + struct.pack(">hhh", *y_extents) + vhea[18:34] + count
        return headers

    def small_font(self, names: Iterable[str]) -> TTFont | None:
        """A font of only ``names`` (and the first four glyphs), under their own names; None if it cannot be cut.

        Glyphs keep the full font's order, outlines, metrics and hinting, and
        the headers get the bounding boxes and counts fontTools would compute,
        so fontTools' subsetter makes the same font program from it as from
        the full font (less the layout-only BASE table). A composite glyph
        would need its parts renumbered: such fonts are left to fpdf2
        (IPAexGothic has none).
        """
        from fontTools.fontBuilder import buildCmapSubTable  # noqa: PLC0415
        from fontTools.ttLib import TTFont, newTable  # noqa: PLC0415

        wanted = set(range(min(4, len(self.glyph_order))))  # what the subsetter adds itself (recommended_glyphs)
        for name in names:
            gid = self.glyph_id.get(name)
            if gid is None:
                return None
            wanted.add(gid)
        gids = sorted(wanted)
        outlines = self._outlines(gids)
        if outlines is None:
            return None
        tables = {tag: self.tables[tag] for tag in _COPIED_TABLES if tag in self.tables}
        tables |= self._headers(gids, outlines)
        tables["glyf"] = outlines.glyf
        tables["loca"] = struct.pack(f">{len(outlines.offsets)}I", *outlines.offsets)
        tables["hmtx"] = b"".join(self.hmtx[gid] for gid in gids)
        if self.vmtx is not None:
            tables["vmtx"] = b"".join(self.vmtx[gid] for gid in gids)
        tables["post"] = struct.pack(">I", 0x00030000) + self.tables["post"][4:32]  # names: the order set below
        font = TTFont(io.BytesIO(sfnt(tables)), lazy=True, recalcBBoxes=False, recalcTimestamp=False)
        order = [self.glyph_order[gid] for gid in gids]
        font.setGlyphOrder(order)
        mapping = {codepoint: name for name in order for codepoint in self.codepoints.get(name, ())}
        basic = {codepoint: name for codepoint, name in mapping.items() if codepoint <= 0xFFFF}
        cmap: Any = newTable("cmap")
        cmap.tableVersion = 0
        cmap.tables = [buildCmapSubTable(basic, 4, 0, 3), buildCmapSubTable(basic, 4, 3, 1)]
        if len(basic) < len(mapping):
            cmap.tables.append(buildCmapSubTable(mapping, 12, 3, 10))
        font["cmap"] = cmap
        return font


def _cut_small(face: TTFFont) -> None:
    """Give ``face`` a small font of just its printed glyphs to subset, if it was added by :func:`add_japanese_font`."""
    index = _INDEXES.get(str(face.ttffile))
    if index is None or face.color_font:
        return
    small = index.small_font(face.subset.get_all_glyph_names())
    if small is not None:
        face.ttfont.close()
        face.ttfont = small


@cache
def _producer() -> type[Any]:
    from fpdf.fonts import TTFFont  # noqa: PLC0415
    from fpdf.output import OutputProducer  # noqa: PLC0415

    class _FastSubset(OutputProducer):
        def _add_fonts(self, *args: Any, **kwargs: Any) -> Any:
            for face in self.fpdf.fonts.values():
                if isinstance(face, TTFFont):
                    _cut_small(face)
            return super()._add_fonts(*args, **kwargs)

    return _FastSubset


def pdf_bytes(pdf: FPDF) -> bytes:
    """``pdf.output()`` as bytes, subsetting the faces of :func:`add_japanese_font` from the per-process index.

    The embedded font program holds the same glyphs as fpdf2's own subset
    (only the printed characters, with a ToUnicode map); only the way there is
    shorter. Faces added otherwise are subset by fpdf2 as usual.
    """
    return bytes(pdf.output(output_producer_class=_producer()))
