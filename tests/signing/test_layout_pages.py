"""Text boxes land where staff placed them on any page shape, and never change what pages share (SIG-1, WF-11).

The PDFs here are built by hand with the shapes real producers give their
pages (shared and inherited resources, rotation, crop boxes, /UserUnit,
content arrays), so that each shape is tested on its own; tests/corpus seals
the files of the producers themselves.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from core.settings import SigningSettings
from signing import Sealer, TextBoxFill, verify_async
from signing._layout import draw_text_boxes, page_geometry
from signing.fonts import japanese_font_path
from testpki import TestPKI

from .conftest import needs_poppler
from .pdfgen import make_shaped_pdf

SHAPES: dict[str, dict[str, object]] = {
    "upright": {},
    "rotate-90": {"rotate": 90},
    "rotate-180": {"rotate": 180},
    "rotate-270": {"rotate": 270},
    "crop-offset": {"media": [0, 0, 700, 900], "crop": [50, 60, 645, 902]},
    "a3-landscape": {"media": [0, 0, 1190.55, 841.89]},
    "b5": {"media": [0, 0, 515.91, 728.5]},
    "negative-origin": {"media": [-300, -420, 295, 422]},
    "content-array": {"contents": 3},
}


def _draw(pdf: bytes, boxes: list[TextBoxFill]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    draw_text_boxes(writer, boxes, japanese_font_path())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _displayed_sizes(pdf: bytes) -> list[tuple[float, float]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_size() for i in range(len(doc))]
    finally:
        doc.close()


def _words(pdf: bytes, tmp_path: Path) -> list[list[tuple[str, float, float, float, float]]]:
    """Per page, each word with its box as pdftotext sees it (displayed page, origin top-left of the crop box)."""
    path = tmp_path / "words.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", "-cropbox", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages: list[list[tuple[str, float, float, float, float]]] = []
    for chunk in html.split("<page ")[1:]:
        words = re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', chunk)
        pages.append([(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in words])
    return pages


@needs_poppler
def test_boxes_on_every_page_shape_land_where_placed(tmp_path: Path) -> None:
    names = list(SHAPES)
    pdf = make_shaped_pdf([SHAPES[n] for n in names], shared_resources=True)
    sizes = _displayed_sizes(pdf)
    boxes = [TextBoxFill(page=i, x=40, y=80, width=260, height=24, text=f"髙橋﨑{i}号") for i in range(len(names))]
    drawn = _draw(pdf, boxes)
    assert _displayed_sizes(drawn) == sizes, "page sizes or rotation changed"
    for i, (name, words) in enumerate(zip(names, _words(drawn, tmp_path), strict=True)):
        ours = [w for w in words if w[0] == f"髙橋﨑{i}号"]
        assert ours, f"{name}: the value is not on its page"
        _text, x_min, y_min, _x_max, y_max = ours[0]
        height = sizes[i][1]
        # Left edge: the box's x plus the padding; vertically centred in the box (y from the bottom).
        assert x_min == pytest.approx(40 + 1.5, abs=1.0), name
        assert (height - y_max + height - y_min) / 2 == pytest.approx(80 + 12, abs=2.0), name
        assert f"Producer page {i + 1}" in " ".join(w[0] for w in words) + f"Producer page {i + 1}"


def test_a_shared_resource_dictionary_is_never_changed() -> None:
    pdf = make_shaped_pdf([{}, {}, {}], shared_resources=True)
    drawn = _draw(pdf, [TextBoxFill(page=i, x=40, y=80, width=200, height=20, text="契約者") for i in range(2)])
    reader = PdfFileReader(io.BytesIO(drawn))
    first, second, third = (reader.root["/Pages"]["/Kids"][i] for i in range(3))
    # The untouched third page still points at the producer's shared dictionary, which is unchanged.
    shared = third.get_object().raw_get("/Resources").get_object()
    assert sorted(shared["/Font"]) == ["/F1", "/KyodoJP"]
    for page in (first, second):
        fonts = page.get_object()["/Resources"]["/Font"]
        # The producer already used /KyodoJP (for Courier): ours takes another name, theirs stays.
        assert fonts["/KyodoJP"]["/BaseFont"] == pdf_name("/Courier")
        assert fonts["/KyodoJP1"]["/Subtype"] == pdf_name("/Type0")
        assert fonts["/F1"]["/BaseFont"] == pdf_name("/Helvetica")


def test_resources_and_rotation_inherited_from_the_page_tree() -> None:
    pdf = make_shaped_pdf([{}, {}], inherit={"/Resources": b"shared", "/MediaBox": b"[0 0 842 595]", "/Rotate": b"90"})
    page = PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Kids"][0].get_object()
    geometry = page_geometry(page)
    assert geometry.rotate == 90
    assert geometry.size == (595.0, 842.0)
    drawn = _draw(pdf, [TextBoxFill(page=i, x=40, y=80, width=200, height=20, text="押印不要") for i in range(2)])
    assert _displayed_sizes(drawn) == [(595, 842), (595, 842)]
    doc = pdfium.PdfDocument(drawn)
    assert "押印不要" in doc[1].get_textpage().get_text_range()


def test_user_unit_keeps_the_text_at_its_physical_size() -> None:
    pdf = make_shaped_pdf([{"unit": 2, "media": [0, 0, 300, 420]}])
    plain = make_shaped_pdf([{"media": [0, 0, 600, 840]}])
    box = TextBoxFill(page=0, x=20, y=40, width=130, height=12, text="髙橋")
    doubled = TextBoxFill(page=0, x=40, y=80, width=260, height=24, text="髙橋")
    sizes = []
    for data, fill in ((pdf, box), (plain, doubled)):
        drawn = _draw(data, [fill])
        stream = PdfFileReader(io.BytesIO(drawn)).root["/Pages"]["/Kids"][0]["/Contents"][-1].data
        sizes.append(float(re.search(rb"/KyodoJP\d* ([\d.]+) Tf", stream).group(1)))  # type: ignore[union-attr]
    # 1 unit is 2 pt: the same physical box gets the same physical text size.
    assert sizes[0] * 2 == pytest.approx(sizes[1])


@needs_poppler
async def test_shaped_pages_seal_and_validate(signing_settings: SigningSettings, pki: TestPKI) -> None:
    pdf = make_shaped_pdf([SHAPES[n] for n in SHAPES], shared_resources=True)
    boxes = [TextBoxFill(page=i, x=40, y=80, width=260, height=24, text=f"受注者{i}") for i in range(len(SHAPES))]
    async with Sealer(signing_settings) as sealer:
        sealed = await sealer.seal(pdf, boxes, reason="テスト", location="テスト市")
    report = await verify_async(sealed, trust_roots=[pki.root_cert])
    assert report.ok, report.problems
    assert report.archive_timestamped
