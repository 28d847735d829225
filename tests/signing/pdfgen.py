"""Build small, valid test PDFs without any PDF library.

The sealer must cope with PDFs produced elsewhere, so the fixtures are written
by hand (classic xref table, one content stream per page, Helvetica) rather
than by pyHanko itself. ``filler_bytes`` adds an uncompressed image of random
pixels to the first page, which is how a scanned 20 MB contract looks to the
signer: incompressible bytes that must all be hashed.
"""

from __future__ import annotations

import math
import os

__all__ = ["make_pdf", "make_shaped_pdf"]

A4 = (595, 842)


def make_pdf(pages: int = 1, *, filler_bytes: int = 0, title: str = "Contract") -> bytes:
    """Return a PDF with ``pages`` A4 pages and an optional random-pixel image."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    image = 0
    if filler_bytes:
        side = max(1, math.isqrt(filler_bytes))
        data = os.urandom(side * side)
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
            b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n"
            % (side, side, len(data))
            + data
            + b"\nendstream"
        )
    kids = []
    for n in range(pages):
        text = f"{title} page {n + 1} of {pages}".encode("ascii")
        ops = b"BT /F1 14 Tf 72 770 Td (" + text + b") Tj ET"
        if image and n == 0:
            ops = b"q 451 0 0 451 72 200 cm /Im1 Do Q " + ops
        content = add(b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream")
        xobj = b" /XObject << /Im1 %d 0 R >>" % image if image and n == 0 else b""
        page = add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 %d 0 R >>%s >> /Contents %d 0 R >>"
            % (pages_obj, A4[0], A4[1], font, xobj, content)
        )
        kids.append(page)
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )

    return _serialise(objects, catalog)


def _serialise(objects: list[bytes], catalog: int) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref_at,
    )
    return bytes(out)


def make_shaped_pdf(  # noqa: PLR0912 - one branch per page attribute, read top to bottom
    pages: list[dict[str, object]],
    *,
    shared_resources: bool = False,
    inherit: dict[str, bytes] | None = None,
) -> bytes:
    """A PDF whose pages take the shapes real producers give them.

    Each page spec may set ``media`` (MediaBox numbers), ``crop`` (CropBox),
    ``rotate``, ``unit`` (/UserUnit) and ``contents`` (how many content streams;
    more than one makes /Contents an array). ``shared_resources`` gives every
    page ONE indirect resource dictionary, as reportlab and LibreOffice do;
    ``inherit`` puts raw entries (``/Resources``, ``/MediaBox``, ``/Rotate``) on
    the page-tree node instead of the pages (``/Resources`` given as ``b"shared"``
    means the shared dictionary).
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    # Our own name, already taken: drawing must not reuse or overwrite it.
    taken = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
    shared = add(b"<< /Font << /F1 %d 0 R /KyodoJP %d 0 R >> >>" % (font, taken))
    inherit = dict(inherit or {})
    if inherit.get("/Resources") == b"shared":
        inherit["/Resources"] = b"%d 0 R" % shared
    kids = []
    for n, spec in enumerate(pages):
        streams = []
        count = int(spec.get("contents", 1))  # type: ignore[call-overload]
        for part in range(count):
            ops = b"BT /F1 12 Tf 30 30 Td (Producer page %d part %d) Tj ET" % (n + 1, part + 1)
            streams.append(add(b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream"))
        entries = [b"/Type /Page", b"/Parent %d 0 R" % pages_obj]
        if "media" in spec:
            entries.append(b"/MediaBox [%s]" % b" ".join(b"%g" % v for v in spec["media"]))  # type: ignore[attr-defined]
        elif "/MediaBox" not in inherit:
            entries.append(b"/MediaBox [0 0 595 842]")
        if "crop" in spec:
            entries.append(b"/CropBox [%s]" % b" ".join(b"%g" % v for v in spec["crop"]))  # type: ignore[attr-defined]
        if "rotate" in spec:
            entries.append(b"/Rotate %d" % int(spec["rotate"]))  # type: ignore[call-overload]
        if "unit" in spec:
            entries.append(b"/UserUnit %g" % float(spec["unit"]))  # type: ignore[arg-type]
        if "/Resources" not in inherit:
            if shared_resources:
                entries.append(b"/Resources %d 0 R" % shared)
            else:
                entries.append(b"/Resources << /Font << /F1 %d 0 R >> >>" % font)
        if count == 1:
            entries.append(b"/Contents %d 0 R" % streams[0])
        else:
            entries.append(b"/Contents [%s]" % b" ".join(b"%d 0 R" % s for s in streams))
        kids.append(add(b"<< " + b" ".join(entries) + b" >>"))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    tree = b" ".join(k.encode() + b" " + v for k, v in inherit.items())
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d %s >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
        tree,
    )
    return _serialise(objects, catalog)
