"""PDFs embed a subset of the Japanese font cut from a per-process index, the same font program fpdf2 would cut."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from fpdf import FPDF
from pypdf import PdfReader

from core.fonts import add_japanese_font, pdf_bytes

TEXT = "契約書　株式会社髙橋建設　山﨑太郎　ｶﾀｶﾅ ﾃｽﾄ　ＡＢＣ123"


def _document(text: str, path: Path | None = None) -> FPDF:
    pdf = FPDF(format="A4")
    add_japanese_font(pdf, "IPAexGothic", path=path)
    pdf.add_page()
    pdf.set_font("IPAexGothic", size=12)
    pdf.multi_cell(0, 8, text)
    return pdf


def _embedded(pdf: bytes) -> tuple[TTFont, Any]:
    reader = PdfReader(io.BytesIO(pdf))
    (font,) = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]  # type: ignore[index]
    descendant = font["/DescendantFonts"][0].get_object()
    program = TTFont(io.BytesIO(descendant["/FontDescriptor"]["/FontFile2"].get_data()))
    return program, (descendant["/CIDToGIDMap"].get_data(), font["/ToUnicode"].get_data(), descendant["/W"])


def test_the_subset_is_the_font_program_fpdf2_cuts_from_the_whole_font() -> None:
    fast = _document(TEXT)
    fast_pdf = pdf_bytes(fast)
    slow_pdf = bytes(_document(TEXT).output())
    assert TEXT.replace("　", "") in PdfReader(io.BytesIO(fast_pdf)).pages[0].extract_text().replace("　", "")
    ours, our_maps = _embedded(fast_pdf)
    theirs, their_maps = _embedded(slow_pdf)
    assert our_maps == their_maps  # character codes, glyph ids, ToUnicode and widths
    assert "BASE" in theirs
    assert "BASE" not in ours, "cut from the index, not from the whole font"
    assert ours.getGlyphOrder() == theirs.getGlyphOrder()
    assert len(ours.getGlyphOrder()) < 60, "only the printed glyphs"
    for tag in sorted(set(theirs.keys()) - {"GlyphOrder", "BASE"}):  # BASE (baselines) only serves layout
        if tag == "head":
            ours[tag].checkSumAdjustment = theirs[tag].checkSumAdjustment
        assert ours[tag].compile(ours) == theirs[tag].compile(theirs), tag


def test_documents_cut_their_own_subsets() -> None:
    first = _embedded(pdf_bytes(_document("株式会社鬱蒼")))[0].getBestCmap()
    second = _embedded(pdf_bytes(_document("有限会社薔薇")))[0].getBestCmap()
    assert ord("鬱") in first
    assert ord("鬱") not in second
    assert ord("薔") in second
    assert ord("薔") not in first


def _font_with_a_composite(path: Path) -> None:
    """A small TrueType font whose "Å" is a composite of "A" and "ring", which come after the first four glyphs."""
    glyphs: dict[str, Any] = {}
    for name, box in (
        (".notdef", (50, 0, 450, 700)),
        ("space", None),
        ("B", (0, 0, 400, 700)),
        ("C", (0, 0, 450, 700)),
        ("A", (0, 0, 500, 700)),
        ("ring", (150, 750, 350, 900)),
    ):
        pen = TTGlyphPen(None)
        if box:
            x0, y0, x1, y1 = box
            pen.moveTo((x0, y0))
            pen.lineTo((x1, y0))
            pen.lineTo((x1, y1))
            pen.closePath()
        glyphs[name] = pen.glyph()
    pen = TTGlyphPen(glyphs)
    pen.addComponent("A", (1, 0, 0, 1, 0, 0))
    pen.addComponent("ring", (1, 0, 0, 1, 0, 0))
    glyphs["Aring"] = pen.glyph()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(list(glyphs))
    builder.setupCharacterMap({0x20: "space", 0x41: "A", 0x42: "B", 0x43: "C", 0x2DA: "ring", 0xC5: "Aring"})
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(dict.fromkeys(glyphs, (600, 0)))
    builder.setupHorizontalHeader(ascent=900, descent=-100)
    builder.setupNameTable({"familyName": "Kyodo Test", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=900, usWinAscent=900, usWinDescent=100)
    builder.setupPost()
    builder.save(str(path))


def test_a_font_with_composite_glyphs_is_subset_by_fpdf2(tmp_path: Path) -> None:
    path = tmp_path / "composite.ttf"
    _font_with_a_composite(path)
    pdf = _document("Å", path=path)
    program, _maps = _embedded(pdf_bytes(pdf))
    glyf: Any = program["glyf"]
    aring = glyf[program.getBestCmap()[0xC5]]
    assert aring.isComposite()
    assert len(aring.getComponentNames(glyf)) == 2  # "A" and the ring above it, both embedded
    assert len(program.getGlyphOrder()) == 7  # the first four, "A", the ring and "Å"
