"""Build the corpus: contract PDFs written by the programs members really export from.

Every file is generated here, from source text kept in this module, by programs the
project installs itself: LibreOffice, Ghostscript and qpdf from Debian
(``deploy/install-system-deps.sh``), reportlab, fpdf2, WeasyPrint, img2pdf, pikepdf
and pyHanko from ``uv.lock``. No PDF is committed or downloaded. Each producer lays
out pages its own way (one shared resource dictionary, per-page resources, a box
inherited from the page tree, object streams …), and the rewrites give pages the
shapes that upset placement: rotation, offset crop boxes, ``/UserUnit``, inherited
attributes and content arrays.

Every document carries Japanese text (業務委託契約書, 髙橋, 﨑, ｶﾀｶﾅ) away from the
lower-left corner, where the tests put their text boxes; only the Ghostscript
file is in Latin letters (PostScript has no simple way to a Japanese font with a
ToUnicode map). Build it with::

    .venv/bin/python -m tests.corpus.producers [DIR]

which prints every entry with its pages and the time each producer took.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

from signing.fonts import japanese_font_path

__all__ = ["CATALOGUE", "MANIFEST", "SIGNED", "Corpus", "Entry", "build", "ensure_corpus"]

MANIFEST = "manifest.json"
TITLE = "業務委託契約書"
NAMES = "受託者　株式会社髙橋建設 代表取締役 山﨑太郎（ｶﾀｶﾅ ﾃｽﾄ）"
A4 = (595.28, 841.89)
A3_LANDSCAPE = (1190.55, 841.89)
B5_JIS = (515.91, 728.5)
PROGRAM_TIMEOUT = 180.0

SIGNED = "signed-by-contractor"

CATALOGUE: tuple[tuple[str, str, str, str | None], ...] = (
    (
        "libreoffice-writer",
        "LibreOffice Writer",
        "3 pages, A4 landscape annex; one /Resources shared by all pages",
        TITLE,
    ),
    ("libreoffice-calc", "LibreOffice Calc", "spreadsheet over 2+ pages; shared /Resources", "庁舎清掃第1区画"),
    (
        "libreoffice-writer-pdfa2b",
        "LibreOffice Writer (PDF/A-2b)",
        "PDF/A-2b: XMP metadata, output intent, everything embedded",
        TITLE,
    ),
    (
        "libreoffice-writer-linearized",
        "LibreOffice Writer + qpdf --linearize",
        "linearized (hint stream, first-page xref)",
        TITLE,
    ),
    (
        "ghostscript",
        "Ghostscript ps2pdf",
        "PostScript through pdfwrite; resources per page; Latin only",
        "GyomuItakuKeiyakusho",
    ),
    ("reportlab", "reportlab (IPAexGothic TTF)", "one /Font dictionary shared by every page", TITLE),
    ("reportlab-acroform", "reportlab AcroForm", "an existing AcroForm with a filled text field", TITLE),
    ("reportlab-objstm", "reportlab + pikepdf", "object streams and a cross-reference stream", TITLE),
    ("fpdf2", "fpdf2 (IPAexGothic TTF)", "resources per page, MediaBox inherited from /Pages", TITLE),
    ("fpdf2-mixed-sizes", "fpdf2", "A4 portrait, A3 landscape and B5 (JIS) in one file", TITLE),
    ("fpdf2-rotate-90", "fpdf2 + pikepdf", "/Rotate 90 on every page", TITLE),
    ("fpdf2-rotate-180", "fpdf2 + pikepdf", "/Rotate 180 on every page", TITLE),
    ("fpdf2-rotate-270", "fpdf2 + pikepdf", "/Rotate 270 on every page", TITLE),
    ("fpdf2-cropbox", "fpdf2 + pikepdf", "MediaBox [0 0 700 900], CropBox [50 60 645 902] (past the top)", TITLE),
    ("fpdf2-userunit-2", "fpdf2 + pikepdf", "/UserUnit 2 (a unit is 1/36 inch)", TITLE),
    ("fpdf2-content-array", "fpdf2 + pikepdf", "/Contents an array of 5 streams, q and Q in different ones", TITLE),
    ("weasyprint", "WeasyPrint (HTML, @font-face)", "one /Resources shared by all pages", TITLE),
    (
        "weasyprint-inherited",
        "WeasyPrint + pikepdf",
        "/Resources, /MediaBox and /Rotate 90 only on the /Pages node",
        TITLE,
    ),
    ("img2pdf-scan", "Pillow + img2pdf", "scanned pages: a JPEG image per page, no text", None),
    ("signed-by-contractor", "reportlab + pyHanko", "already signed with a self-signed certificate: refused", TITLE),
)
"""Every entry: name, producer, what it exercises, text the producer wrote on page 1 (None: a scan)."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One corpus file: what made it and what it exercises."""

    name: str
    """Short name, used as the test id."""
    producer: str
    """The program (and library) that wrote the file."""
    exercises: str
    """What about the file matters to the sealer."""
    file: str
    """File name inside the corpus directory."""
    text: str | None
    """Words the producer wrote on the first page (spaces removed); None for a scan."""
    signed: bool = False
    """Already signed by someone else: only for checking refusal."""
    seconds: float = 0.0
    """Time taken to produce it (wall clock; LibreOffice entries share one conversion)."""


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The files of one build and the manifest that lists them."""

    directory: Path
    entries: tuple[Entry, ...]
    seconds: float
    """Wall-clock time of the whole build."""

    def path(self, entry: Entry) -> Path:
        return self.directory / entry.file

    def data(self, entry: Entry) -> bytes:
        return self.path(entry).read_bytes()

    def entry(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def save(self) -> None:
        """Write the manifest last and atomically: its presence means the build is complete."""
        body = {"seconds": self.seconds, "entries": [dataclasses.asdict(e) for e in self.entries]}
        tmp = self.directory / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.directory / MANIFEST)

    @classmethod
    def load(cls, directory: Path) -> Corpus:
        body = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return cls(directory, tuple(Entry(**e) for e in body["entries"]), float(body["seconds"]))


# -- LibreOffice -------------------------------------------------------------------------------

_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"'
)
_ODF_FONT = """<office:font-face-decls>
 <style:font-face style:name="IPAexGothic" svg:font-family="IPAexGothic"/>
</office:font-face-decls>"""
_JA_TEXT_PROPERTIES = (
    '<style:text-properties style:font-name="IPAexGothic" style:font-name-asian="IPAexGothic" '
    'fo:font-size="{size}" style:font-size-asian="{size}" fo:language="ja" fo:country="JP" '
    'style:language-asian="ja" style:country-asian="JP"/>'
)


def _p(text: str, style: str | None = None) -> str:
    attr = f' text:style-name="{style}"' if style else ""
    return f"<text:p{attr}>{escape(text)}</text:p>"


def writer_document(title: str) -> str:
    """A flat ODF text document: A4 portrait, an A4 landscape annex, a portrait signature page."""
    clauses = [
        "第1条（目的）　発注者は、庁舎清掃業務を受託者に委託し、受託者はこれを受託する。",
        "第2条（期間）　委託期間は、令和7年4月1日から令和8年3月31日までとする。",
        "第3条（委託料）　委託料は、金１，２３４，５６７円（消費税及び地方消費税を含む。）とする。",
        "第4条（再委託）　受託者は、発注者の承諾なく業務を第三者に委託してはならない。",
    ]
    annex = [f"別紙　業務仕様書（横向き）　区画{n}：ｶﾀｶﾅ表記 ﾃｽﾄ　週{n}回　髙橋・山﨑 担当" for n in range(1, 7)]
    body = "\n".join(
        [
            _p(title, "Title"),
            _p(NAMES),
            *(_p(c) for c in clauses),
            _p(annex[0], "Landscape"),
            *(_p(a) for a in annex[1:]),
            _p("記名押印欄　発注者　盛岡市長　内舘 茂", "Portrait"),
            _p("本契約の締結を証するため、電子契約により本書を作成する。"),
        ]
    )
    text_properties = _JA_TEXT_PROPERTIES.format(size="12pt")
    title_properties = _JA_TEXT_PROPERTIES.format(size="20pt")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_ODF_NS} office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
{_ODF_FONT}
<office:styles>
 <style:default-style style:family="paragraph">{text_properties}</style:default-style>
</office:styles>
<office:automatic-styles>
 <style:page-layout style:name="pmPortrait">
  <style:page-layout-properties fo:page-width="210mm" fo:page-height="297mm" style:print-orientation="portrait"
   fo:margin-top="20mm" fo:margin-bottom="60mm" fo:margin-left="25mm" fo:margin-right="20mm"/>
 </style:page-layout>
 <style:page-layout style:name="pmLandscape">
  <style:page-layout-properties fo:page-width="297mm" fo:page-height="210mm" style:print-orientation="landscape"
   fo:margin-top="20mm" fo:margin-bottom="60mm" fo:margin-left="25mm" fo:margin-right="20mm"/>
 </style:page-layout>
 <style:style style:name="Title" style:family="paragraph">
  <style:paragraph-properties fo:text-align="center" fo:margin-bottom="8mm"/>{title_properties}
 </style:style>
 <style:style style:name="Landscape" style:family="paragraph" style:master-page-name="Landscape"/>
 <style:style style:name="Portrait" style:family="paragraph" style:master-page-name="Standard"/>
</office:automatic-styles>
<office:master-styles>
 <style:master-page style:name="Standard" style:page-layout-name="pmPortrait"/>
 <style:master-page style:name="Landscape" style:page-layout-name="pmLandscape"/>
</office:master-styles>
<office:body><office:text>
{body}
</office:text></office:body>
</office:document>
"""


def _cell(value: str | int) -> str:
    if isinstance(value, int):
        kind = f'office:value-type="float" office:value="{value}"'
        return f"<table:table-cell {kind}><text:p>{value}</text:p></table:table-cell>"
    return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'


def calc_document(rows: int = 90) -> str:
    """A flat ODF spreadsheet: a price list long enough for two or more A4 pages."""
    lines: list[list[str | int]] = [["番号", "品目", "数量", "単価", "金額"]]
    lines += [
        [n, f"庁舎清掃 第{n}区画 ｶﾀｶﾅ（髙橋・山﨑）", n % 7 + 1, 1200 + n, (n % 7 + 1) * (1200 + n)]
        for n in range(1, rows + 1)
    ]
    table = "\n".join("<table:table-row>" + "".join(_cell(v) for v in row) + "</table:table-row>" for row in lines)
    text_properties = _JA_TEXT_PROPERTIES.format(size="10pt")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_ODF_NS} office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.spreadsheet">
{_ODF_FONT}
<office:styles>
 <style:default-style style:family="table-cell">{text_properties}</style:default-style>
</office:styles>
<office:automatic-styles>
 <style:page-layout style:name="pm1">
  <style:page-layout-properties fo:page-width="210mm" fo:page-height="297mm" style:print-orientation="portrait"
   fo:margin-top="20mm" fo:margin-bottom="60mm" fo:margin-left="25mm" fo:margin-right="20mm"/>
 </style:page-layout>
 <style:style style:name="co1" style:family="table-column">
  <style:table-column-properties style:column-width="20mm"/>
 </style:style>
 <style:style style:name="co2" style:family="table-column">
  <style:table-column-properties style:column-width="75mm"/>
 </style:style>
</office:automatic-styles>
<office:master-styles>
 <style:master-page style:name="Default" style:page-layout-name="pm1">
  <style:header style:display="false"/><style:footer style:display="false"/>
 </style:master-page>
</office:master-styles>
<office:body><office:spreadsheet>
<table:table table:name="委託料明細">
<table:table-column table:style-name="co1"/><table:table-column table:style-name="co2"/>
<table:table-column table:style-name="co1" table:number-columns-repeated="3"/>
{table}
</table:table>
</office:spreadsheet></office:body>
</office:document>
"""


class _Program:
    """An external program running while the Python producers work; its own wall time is kept."""

    def __init__(self, what: str, argv: list[str], outputs: list[Path], env: dict[str, str] | None = None) -> None:
        self.what = what
        self.outputs = outputs
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.log = b""
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        self._watch = threading.Thread(target=self._wait, daemon=True)
        self._watch.start()

    def _wait(self) -> None:
        self.log, _ = self.proc.communicate()
        self.seconds = time.perf_counter() - self.started

    def finish(self) -> None:
        """Wait for the program; raise if it failed or left an output missing."""
        self._watch.join(PROGRAM_TIMEOUT)
        if self._watch.is_alive():
            self.kill()
            self._watch.join()
        missing = [p.name for p in self.outputs if not p.is_file()]
        if self.proc.returncode or missing:
            log = self.log.decode(errors="replace")
            raise RuntimeError(f"{self.what} failed (exit {self.proc.returncode}, missing {missing}):\n{log}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _soffice(work: Path, profile: str, convert_to: str, sources: list[Path]) -> _Program:
    """Headless LibreOffice with a profile of its own, so that parallel runs never share one."""
    out = work / profile
    out.mkdir(parents=True, exist_ok=True)
    argv = [
        "soffice",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--nodefault",
        f"-env:UserInstallation={(work / (profile + '-profile')).as_uri()}",
        "--convert-to",
        convert_to,
        "--outdir",
        str(out),
        *map(str, sources),
    ]
    outputs = [out / (source.stem + ".pdf") for source in sources]
    return _Program(f"LibreOffice ({profile})", argv, outputs, env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"})


# -- Ghostscript -------------------------------------------------------------------------------


def postscript_document() -> str:
    """Two A4 pages of DSC-conforming PostScript, Helvetica (Latin letters only)."""
    pages = []
    for n in (1, 2):
        pages.append(
            f"""%%Page: {n} {n}
<< /PageSize [595 842] >> setpagedevice
/Helvetica-Bold findfont 18 scalefont setfont
150 700 moveto (Gyomu Itaku Keiyakusho) show
/Helvetica findfont 11 scalefont setfont
150 670 moveto (Service agreement R7-0123, page {n} of 2) show
150 650 moveto (Contractor: Takahashi Kensetsu K.K., Yamasaki Taro) show
0.5 setgray 150 630 moveto 445 630 lineto stroke
showpage
"""
        )
    return "%!PS-Adobe-3.0\n%%Pages: 2\n%%BoundingBox: 0 0 595 842\n%%EndComments\n" + "".join(pages) + "%%EOF\n"


# -- Python producers ----------------------------------------------------------------------------


def reportlab_document(*, form_field: bool = False) -> bytes:
    """Two A4 pages with IPAexGothic embedded; reportlab gives all pages ONE /Font dictionary."""
    from reportlab.lib.pagesizes import A4 as RL_A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "IPAexGothic" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("IPAexGothic", str(japanese_font_path())))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=RL_A4)
    c.setTitle(TITLE)
    for n in (1, 2):
        c.setFont("IPAexGothic", 20)
        c.drawString(150, 720, TITLE if n == 1 else f"{TITLE}（第{n}頁）")
        c.setFont("IPAexGothic", 11)
        c.drawString(150, 690, "受託者　株式会社髙橋建設")
        c.drawString(150, 672, "代表取締役　山﨑太郎（ｶﾀｶﾅ）")
        c.setFont("Helvetica", 10)
        c.drawString(150, 650, f"reportlab page {n} of 2")
        if form_field and n == 1:
            c.setFont("IPAexGothic", 11)
            c.drawString(150, 600, "契約番号：")
            c.acroForm.textfield(
                name="contract_number",
                tooltip="Contract number",
                value="R7-0123",
                x=220,
                y=592,
                width=160,
                height=22,
                fontName="Helvetica",
                fontSize=11,
                borderStyle="inset",
            )
        c.showPage()
    c.save()
    return out.getvalue()


def fpdf2_document(sizes: list[tuple[float, float]] | None = None, *, label: str = "fpdf2") -> bytes:
    """Pages (A4 twice by default) with IPAexGothic embedded; fpdf2 gives each page its own resources."""
    from fpdf import FPDF

    sizes = sizes or [A4, A4]
    pdf = FPDF(unit="pt", format=sizes[0])
    pdf.set_title(TITLE)
    pdf.add_font("IPAexGothic", fname=str(japanese_font_path()))
    for n, size in enumerate(sizes, start=1):
        pdf.add_page(format=size)
        # In the middle of the page: text boxes go near the corners of every rotation.
        top = size[1] / 2 - 60
        pdf.set_font("IPAexGothic", size=18)
        pdf.text(150, top, TITLE if n == 1 else f"{TITLE}（第{n}頁）")
        pdf.set_font("IPAexGothic", size=11)
        pdf.text(150, top + 26, "受託者　株式会社髙橋建設")
        pdf.text(150, top + 44, "代表取締役　山﨑太郎（ｶﾀｶﾅ）")
        pdf.text(150, top + 62, f"{label} page {n} of {len(sizes)}")
    return bytes(pdf.output())


def weasyprint_document() -> bytes:
    """HTML with an @font-face on IPAexGothic, two A4 pages; WeasyPrint shares one /Resources."""
    import weasyprint  # type: ignore[import-untyped]

    font = japanese_font_path().as_uri()
    html = f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{TITLE}</title>
<style>
@font-face {{ font-family: "Kyodo IPAexGothic"; src: url("{font}"); }}
@page {{ size: A4; margin: 20mm 20mm 60mm 25mm; }}
body {{ font-family: "Kyodo IPAexGothic"; font-size: 11pt; }}
h1 {{ font-size: 20pt; text-align: center; }}
.annex {{ break-before: page; }}
table {{ border-collapse: collapse; }} td {{ border: 0.5pt solid #666; padding: 2pt 6pt; }}
</style></head>
<body>
<h1>{TITLE}</h1>
<p>{NAMES}</p>
<p>第1条（目的）発注者は、庁舎清掃業務を受託者に委託し、受託者はこれを受託する。</p>
<div class="annex"><h2>別紙　業務仕様書</h2>
<table>{"".join(f"<tr><td>区画{n}</td><td>ｶﾀｶﾅ ﾃｽﾄ 髙橋・山﨑</td><td>週{n}回</td></tr>" for n in range(1, 6))}</table>
</div>
</body></html>"""
    return bytes(weasyprint.HTML(string=html).write_pdf())


def scan_document() -> bytes:
    """Two grayscale JPEG "scans" (150 dpi, Japanese drawn with the TTF) wrapped by img2pdf."""
    import img2pdf  # type: ignore[import-untyped]
    from PIL import Image, ImageDraw, ImageFont

    dpi = 150
    width, height = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    big = ImageFont.truetype(str(japanese_font_path()), 48)
    small = ImageFont.truetype(str(japanese_font_path()), 28)
    images = []
    for n in (1, 2):
        image = Image.new("L", (width, height), 248)
        draw = ImageDraw.Draw(image)
        draw.text((300, 300), TITLE if n == 1 else f"{TITLE}（第{n}頁）", font=big, fill=20)
        draw.text((300, 400), "受託者　株式会社髙橋建設　代表取締役　山﨑太郎", font=small, fill=40)
        draw.text((300, 450), "ｶﾀｶﾅ ﾃｽﾄ　スキャン画像", font=small, fill=40)
        draw.rectangle((280, 280, width - 280, 520), outline=90, width=3)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=70, dpi=(dpi, dpi))
        images.append(out.getvalue())
    return bytes(img2pdf.convert(images, layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))))


def _self_signed() -> tuple[object, object]:
    """A throwaway key and self-signed certificate (asn1crypto objects, as pyHanko wants them)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "株式会社髙橋建設 (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(der_key),
    )


def signed_document(pdf: bytes) -> bytes:
    """``pdf`` signed by a contractor with its own (self-signed) certificate, using pyHanko."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    cert, key = _self_signed()
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key, cert_registry=SimpleCertificateStore())  # type: ignore[no-untyped-call]
    meta = signers.PdfSignatureMetadata(field_name="Contractor", reason="受託者の署名", md_algorithm="sha256")

    def sign() -> bytes:
        out = io.BytesIO()
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer, output=out)
        return out.getvalue()

    # pyHanko's synchronous API runs its own event loop: keep it off any running one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(sign).result()


# -- rewrites --------------------------------------------------------------------------------------


def _rewrite(pdf: bytes, change: Callable[[object], None], **save: object) -> bytes:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        change(doc)
        out = io.BytesIO()
        doc.save(out, **save)  # type: ignore[arg-type]
    return out.getvalue()


def object_streams(pdf: bytes) -> bytes:
    """The same file with objects packed into object streams and a cross-reference stream."""
    import pikepdf

    data = _rewrite(pdf, lambda doc: None, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert b"/ObjStm" in data
    assert b"/XRef" in data
    return data


def linearized(pdf: bytes, work: Path) -> bytes:
    """The same file linearized (fast web view) by ``qpdf --linearize``."""
    src, dst = work / "linearize-in.pdf", work / "linearize-out.pdf"
    src.write_bytes(pdf)
    subprocess.run(["qpdf", "--linearize", str(src), str(dst)], check=True, capture_output=True)
    data = dst.read_bytes()
    assert b"/Linearized" in data[:1024]
    return data


def _pages(doc: object) -> list[object]:
    import pikepdf

    assert isinstance(doc, pikepdf.Pdf)
    return [page.obj for page in doc.pages]


def rotated(pdf: bytes, degrees: int) -> bytes:
    """Every page with ``/Rotate degrees`` (clockwise display rotation)."""
    import pikepdf

    def change(doc: object) -> None:
        for page in _pages(doc):
            assert isinstance(page, pikepdf.Dictionary)
            page.Rotate = degrees

    return _rewrite(pdf, change)


def cropped(pdf: bytes, crop: list[float], *, media: list[float] | None = None) -> bytes:
    """Every page with a CropBox (which may reach past the MediaBox: viewers clip it), and a new MediaBox."""
    import pikepdf

    def change(doc: object) -> None:
        for page in _pages(doc):
            assert isinstance(page, pikepdf.Dictionary)
            if media is not None:
                page.MediaBox = pikepdf.Array(media)
            page.CropBox = pikepdf.Array(crop)

    return _rewrite(pdf, change)


def user_unit(pdf: bytes, unit: float) -> bytes:
    """Every page with ``/UserUnit`` (one user-space unit = ``unit``/72 inch)."""
    import pikepdf

    def change(doc: object) -> None:
        for page in _pages(doc):
            assert isinstance(page, pikepdf.Dictionary)
            page.UserUnit = unit

    return _rewrite(pdf, change)


def inherited(pdf: bytes, rotate: int = 90) -> bytes:
    """/Resources, /MediaBox and /Rotate set once on the /Pages node, on no page.

    ``pdf`` must give all its pages one resource dictionary and one MediaBox
    (WeasyPrint does), so that moving them up changes nothing on display.
    """
    import pikepdf

    def change(doc: object) -> None:
        assert isinstance(doc, pikepdf.Pdf)
        tree = doc.Root.Pages
        kids = list(tree.Kids)
        resources = {k.Resources.objgen for k in kids}
        boxes = {tuple(float(v) for v in k.MediaBox) for k in kids}
        assert len(resources) == 1, resources
        assert len(boxes) == 1, boxes
        tree.Resources = kids[0].Resources
        tree.MediaBox = kids[0].MediaBox
        tree.Rotate = rotate
        for kid in kids:
            for key in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"):
                if key in kid:
                    del kid[key]

    return _rewrite(pdf, change)


def content_arrays(pdf: bytes) -> bytes:
    """Every page's /Contents an array of several streams, split between operators.

    The first stream opens a graphics state that the third closes, and the last
    one leaves a grey fill colour behind: legal, and a trap for text appended later.
    """
    import pikepdf

    def change(doc: object) -> None:
        assert isinstance(doc, pikepdf.Pdf)
        for page in _pages(doc):
            assert isinstance(page, pikepdf.Dictionary)
            pikepdf.Page(page).contents_coalesce()
            data = page.Contents.read_bytes()
            cut = data.find(b"ET\n")
            head, tail = (data[: cut + 3], data[cut + 3 :]) if cut >= 0 else (data, b"")
            streams = [b"q\n", head, tail, b"Q\n", b"0.75 g 150 40 300 6 re f\n"]
            page.Contents = pikepdf.Array([doc.make_stream(s) for s in streams])

    return _rewrite(pdf, change)


# -- the build ------------------------------------------------------------------------------------


@contextmanager
def _timer(times: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        times[name] = time.perf_counter() - start


def _python_producers() -> tuple[dict[str, float], dict[str, bytes]]:
    """The files made in this process (and the rewrites of them): their times and bytes."""
    times: dict[str, float] = {}
    data: dict[str, bytes] = {}
    with _timer(times, "reportlab"):
        data["reportlab"] = reportlab_document()
    with _timer(times, "reportlab-acroform"):
        data["reportlab-acroform"] = reportlab_document(form_field=True)
    with _timer(times, "fpdf2"):
        data["fpdf2"] = fpdf2_document()
    with _timer(times, "fpdf2-mixed-sizes"):
        data["fpdf2-mixed-sizes"] = fpdf2_document([A4, A3_LANDSCAPE, B5_JIS], label="A4 / A3 landscape / B5")
    with _timer(times, "fpdf2-cropbox"):
        data["fpdf2-cropbox"] = cropped(data["fpdf2"], [50, 60, 645, 902], media=[0, 0, 700, 900])
    with _timer(times, "weasyprint"):
        data["weasyprint"] = weasyprint_document()
    with _timer(times, "img2pdf-scan"):
        data["img2pdf-scan"] = scan_document()
    for degrees in (90, 180, 270):
        with _timer(times, f"fpdf2-rotate-{degrees}"):
            data[f"fpdf2-rotate-{degrees}"] = rotated(data["fpdf2"], degrees)
    with _timer(times, "fpdf2-userunit-2"):
        data["fpdf2-userunit-2"] = user_unit(data["fpdf2"], 2)
    with _timer(times, "fpdf2-content-array"):
        data["fpdf2-content-array"] = content_arrays(data["fpdf2"])
    with _timer(times, "weasyprint-inherited"):
        data["weasyprint-inherited"] = inherited(data["weasyprint"])
    with _timer(times, "reportlab-objstm"):
        data["reportlab-objstm"] = object_streams(data["reportlab"])
    with _timer(times, "signed-by-contractor"):
        data["signed-by-contractor"] = signed_document(data["reportlab"])
    return times, data


def build(directory: Path) -> Corpus:
    """Generate every corpus file into ``directory`` and return the (saved) corpus."""
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    work = directory / "work"
    work.mkdir(exist_ok=True)
    sources = {
        "writer": work / "writer.fodt",
        "calc": work / "calc.fods",
        "writer-pdfa": work / "writer-pdfa.fodt",
        "ghostscript": work / "ghostscript.ps",
    }
    sources["writer"].write_text(writer_document(TITLE), encoding="utf-8")
    sources["calc"].write_text(calc_document(), encoding="utf-8")
    sources["writer-pdfa"].write_text(writer_document(TITLE + "（PDF/A-2b）"), encoding="utf-8")
    sources["ghostscript"].write_text(postscript_document(), encoding="ascii")

    # The external programs run while the Python producers work.
    gs_out = work / "ghostscript.pdf"
    pdfa_filter = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'
    programs = {
        "office": _soffice(work, "lo", "pdf", [sources["writer"], sources["calc"]]),
        "pdfa": _soffice(work, "lo-pdfa", pdfa_filter, [sources["writer-pdfa"]]),
        "ghostscript": _Program("ps2pdf", ["ps2pdf", str(sources["ghostscript"]), str(gs_out)], [gs_out]),
    }
    try:
        times, data = _python_producers()
        for program in programs.values():
            program.finish()
    finally:
        for program in programs.values():
            program.kill()
    office, pdfa, ghostscript = programs["office"], programs["pdfa"], programs["ghostscript"]
    data["ghostscript"] = gs_out.read_bytes()
    data["libreoffice-writer"], data["libreoffice-calc"] = (p.read_bytes() for p in office.outputs)
    data["libreoffice-writer-pdfa2b"] = pdfa.outputs[0].read_bytes()
    assert b"<pdfaid:part>2</pdfaid:part>" in data["libreoffice-writer-pdfa2b"]
    times["ghostscript"] = ghostscript.seconds
    times["libreoffice-writer"] = times["libreoffice-calc"] = office.seconds  # one conversion of both
    times["libreoffice-writer-pdfa2b"] = pdfa.seconds
    with _timer(times, "libreoffice-writer-linearized"):
        data["libreoffice-writer-linearized"] = linearized(data["libreoffice-writer"], work)

    entries = []
    for name, producer, exercises, text in CATALOGUE:
        (directory / f"{name}.pdf").write_bytes(data[name])
        entries.append(
            Entry(
                name=name,
                producer=producer,
                exercises=exercises,
                file=f"{name}.pdf",
                text=text,
                signed=name == SIGNED,
                seconds=round(times[name], 3),
            )
        )
    corpus = Corpus(directory, tuple(entries), round(time.perf_counter() - started, 3))
    corpus.save()
    return corpus


def ensure_corpus(directory: Path) -> Corpus:
    """The corpus in ``directory``, built by the first process that asks (others wait for it)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (directory / MANIFEST).is_file():
                return Corpus.load(directory)
            return build(directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> None:
    import pypdfium2 as pdfium

    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="kyodo-corpus-"))
    corpus = build(directory)
    print(f"corpus in {directory}: {len(corpus.entries)} files in {corpus.seconds:.1f} s")
    for entry in corpus.entries:
        doc = pdfium.PdfDocument(corpus.data(entry))
        try:
            pages = [doc[i] for i in range(len(doc))]
            shapes = " ".join(f"{p.get_width():.0f}x{p.get_height():.0f}/{p.get_rotation()}" for p in pages)
        finally:
            doc.close()
        print(f"{entry.name:<32}{entry.seconds:>7.2f}s {len(pages):>3}p  {shapes:<44} {entry.exercises}")


if __name__ == "__main__":
    main()
