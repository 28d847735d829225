"""The TrueType font the seal draws with: glyph lookup, widths and a subset for embedding.

fontTools reads the font once per process (:func:`load_font` is cached); the
subset keeps only the glyph tables a PDF viewer needs (``glyf``-flavoured fonts
only: a CFF font is refused with a configuration error).
"""

from __future__ import annotations

import functools
import io
import re
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

from fontTools import ttLib

from core.fonts import sfnt

from .errors import SigningConfigurationError
from .fonts import font_bytes

__all__ = ["TrueTypeFont", "load_font"]


_KEEP_TABLES = ("cvt ", "fpgm", "glyf", "head", "hhea", "hmtx", "loca", "maxp", "prep")
# Composite glyph flags (OpenType 'glyf' spec).
_ARG_WORDS, _HAS_SCALE, _MORE, _XY_SCALE, _TWO_BY_TWO = 0x1, 0x8, 0x20, 0x40, 0x80


class TrueTypeFont:
    """A TrueType (glyf) font parsed once per process, able to cut subsets fast."""

    def __init__(self, path: Path) -> None:
        """Parse the tables needed for layout and embedding.

        :raises SigningConfigurationError: for CFF-flavoured OpenType fonts,
            which this embedder does not handle (use a .ttf such as IPAexGothic).
        """
        data = font_bytes(path)
        tt = ttLib.TTFont(io.BytesIO(data), lazy=True)
        if "glyf" not in tt:
            raise SigningConfigurationError(f"{path} has CFF outlines; a TrueType (glyf) font is required")
        self.path = path
        self.raw: dict[str, bytes] = {tag: tt.reader[tag] for tag in _KEEP_TABLES if tag in tt.reader.tables}
        head, hhea = tt["head"], tt["hhea"]
        self.units_per_em: int = head.unitsPerEm
        self.bbox = (head.xMin, head.yMin, head.xMax, head.yMax)
        self.ascent: float = hhea.ascent / self.units_per_em
        self.descent: float = hhea.descent / self.units_per_em
        self.cap_height = tt["OS/2"].sCapHeight if "OS/2" in tt and hasattr(tt["OS/2"], "sCapHeight") else hhea.ascent
        self.ps_name = re.sub(r"[^A-Za-z0-9-]", "", tt["name"].getDebugName(6) or "KyodoFont")
        num_glyphs = tt["maxp"].numGlyphs
        self.num_glyphs = num_glyphs
        # loca as absolute offsets, whatever the stored format.
        loca = self.raw["loca"]
        if head.indexToLocFormat == 0:
            self._loca: list[int] = [2 * v for v in struct.unpack(f">{num_glyphs + 1}H", loca[: 2 * (num_glyphs + 1)])]
        else:
            self._loca = list(struct.unpack(f">{num_glyphs + 1}I", loca[: 4 * (num_glyphs + 1)]))
        n_metrics = hhea.numberOfHMetrics
        self._n_metrics = n_metrics
        raw_hmtx = self.raw["hmtx"]
        pairs = struct.unpack(f">{2 * n_metrics}H", raw_hmtx[: 4 * n_metrics])
        advances: list[int] = list(pairs[0::2])
        advances += [advances[-1]] * (num_glyphs - n_metrics)
        self._advance_units = advances
        glyph_ids = {name: i for i, name in enumerate(tt.getGlyphOrder())}
        self.gid_of: dict[int, int] = {
            cp: glyph_ids[name] for cp, name in tt.getBestCmap().items() if name in glyph_ids
        }
        self.advance_em: dict[int, float] = {cp: advances[gid] / self.units_per_em for cp, gid in self.gid_of.items()}

    def advance(self, gid: int) -> int:
        """Advance width of a glyph in font units."""
        return self._advance_units[gid]

    def _glyph(self, gid: int) -> bytes:
        return self.raw["glyf"][self._loca[gid] : self._loca[gid + 1]]

    def _closure(self, gids: Iterable[int]) -> list[int]:
        todo = {0, *gids}  # .notdef is mandatory in every font program
        done: set[int] = set()
        while todo:
            gid = todo.pop()
            done.add(gid)
            data = self._glyph(gid)
            if len(data) >= 10 and struct.unpack(">h", data[:2])[0] < 0:
                pos = 10
                while True:
                    flags, comp = struct.unpack(">HH", data[pos : pos + 4])
                    if comp not in done:
                        todo.add(comp)
                    pos += 4 + (4 if flags & _ARG_WORDS else 2)
                    if flags & _HAS_SCALE:
                        pos += 2
                    elif flags & _XY_SCALE:
                        pos += 4
                    elif flags & _TWO_BY_TWO:
                        pos += 8
                    if not flags & _MORE:
                        break
        return sorted(done)

    def subset_program(self, gids: Iterable[int]) -> bytes:
        """A TrueType font program holding only ``gids`` (ids unchanged)."""
        keep = set(self._closure(gids))
        glyf = bytearray()
        offsets: list[int] = []
        for gid in range(self.num_glyphs):
            offsets.append(len(glyf))
            if gid in keep:
                glyf += self._glyph(gid)
                glyf += b"\0" * (-len(glyf) % 4)
        offsets.append(len(glyf))
        tables = dict(self.raw)
        tables["glyf"] = bytes(glyf)
        tables["loca"] = struct.pack(f">{len(offsets)}I", *offsets)
        # Viewers take widths from the PDF /W array; zeroing the metrics of
        # absent glyphs lets the 48 KB hmtx table compress to almost nothing.
        raw_hmtx = self.raw["hmtx"]
        hmtx = bytearray(len(raw_hmtx))
        tail = 4 * self._n_metrics
        for gid in keep:
            if gid < self._n_metrics:
                hmtx[4 * gid : 4 * gid + 4] = raw_hmtx[4 * gid : 4 * gid + 4]
            else:
                pos = tail + 2 * (gid - self._n_metrics)
                hmtx[pos : pos + 2] = raw_hmtx[pos : pos + 2]
        tables["hmtx"] = bytes(hmtx)
        head = bytearray(tables["head"])
        head[8:12] = b"\0\0\0\0"  # checkSumAdjustment: not used by PDF consumers
        head[50:52] = struct.pack(">h", 1)  # indexToLocFormat: long offsets
        tables["head"] = bytes(head)
        return sfnt(tables)


_fonts_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_font_cached(path: Path) -> TrueTypeFont:
    return TrueTypeFont(path)


def load_font(path: Path) -> TrueTypeFont:
    """The parsed font for ``path``, shared by all seals of this process."""
    with _fonts_lock:  # fontTools' lazy tables are not thread-safe while loading
        return _load_font_cached(path)


# -- layout ----------------------------------------------------------------------------------
