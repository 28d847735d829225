"""The certificate of conclusion (締結証明書, WF-12) as a PDF.

It lists the contract's metadata, every party in order, each party's agreement
(who, e-mail, time, IP address), forwarding, and the SHA-256 of each sealed
file, so that one page ties the sealed PDFs to the people who agreed (SIG-4).
The PDF is rendered with fpdf2 and the IPAexGothic font, then sealed like the
contract itself. It is always in Japanese, and a party's status or an event is
named as the screens and the audit log name it (:mod:`signing.labels`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from core.dates import JST
from core.fonts import add_japanese_font, pdf_bytes
from core.i18n import format_date
from signing.fonts import japanese_font_path
from signing.labels import audit_kind_label, party_status_label, speaking
from signing.models import AuditKind, PartyStatus

__all__ = ["AgreementLine", "CertificateData", "PartyLine", "SealedFileLine", "render_certificate"]


@dataclass(frozen=True)
class PartyLine:
    """One party as listed on the certificate."""

    order: int
    role: str
    """契約者 (contractor) or the member's contract title."""
    company: str
    name: str
    email: str
    status: PartyStatus | str
    """The party's status (named as on the screens), or a text printed as it is."""


@dataclass(frozen=True)
class AgreementLine:
    """One event of the circulation worth certifying: agreement, forwarding, decline."""

    when: dt.datetime
    what: AuditKind | str
    """The kind of event (named as in the audit log), or a text printed as it is."""
    who: str
    email: str
    ip: str


@dataclass(frozen=True)
class SealedFileLine:
    """One sealed file and its fingerprint."""

    file_name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class CertificateData:
    """Everything printed on the certificate."""

    member_name: str
    title_formal_name: str
    subject: str
    contract_number: str
    amount: int | None
    transaction_date: dt.date | None
    counterparty: str
    concluded_at: dt.datetime
    contract_id: str
    parties: Sequence[PartyLine] = field(default_factory=tuple)
    events: Sequence[AgreementLine] = field(default_factory=tuple)
    files: Sequence[SealedFileLine] = field(default_factory=tuple)
    test_environment: bool = False


def _status(value: PartyStatus | str) -> str:
    try:
        return party_status_label(PartyStatus(value))
    except ValueError:
        return str(value)


def _event(value: AuditKind | str) -> str:
    try:
        return audit_kind_label(AuditKind(value))
    except ValueError:
        return str(value)


def _jst(moment: dt.datetime) -> str:
    local = moment.astimezone(JST)
    return f"{format_date(local, era=True, locale='ja')} {local:%H:%M:%S}"


class _Certificate(FPDF):
    def __init__(self, test_environment: bool) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.test_environment = test_environment
        # Parsed once per process (core.fonts). IPAexGothic has one weight, so table
        # headings use the regular face too: one font to subset and embed, not two.
        add_japanese_font(self, "IPAexGothic", path=japanese_font_path())
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title("締結証明書")
        self.set_creator("Kyodo")
        self.set_lang("ja")

    def header(self) -> None:
        if self.test_environment:
            self.set_font("IPAexGothic", size=9)
            self.set_text_color(176, 0, 32)
            self.cell(
                0, 6, "【テスト環境】この証明書は試験用であり、効力を持ちません。", new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("IPAexGothic", size=8)
        self.cell(0, 6, f"{self.page_no()} / {{nb}}", align="C")


def render_certificate(data: CertificateData) -> bytes:
    """The certificate as PDF bytes (not yet sealed), in Japanese."""
    with speaking("ja"):
        return _render(data)


def _render(data: CertificateData) -> bytes:
    pdf = _Certificate(data.test_environment)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("IPAexGothic", size=18)
    pdf.cell(0, 14, "締結証明書", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("IPAexGothic", size=10)
    pdf.multi_cell(
        0,
        6,
        "下記の契約が、記載の当事者の合意により電子契約サービス「共同」上で締結されたことを証明します。"
        "締結された各ファイルにはサービス提供者の電子署名とタイムスタンプが付与されています。",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)
    amount = f"{data.amount:,}円" if data.amount is not None else "—"
    rows = [
        ("団体", data.member_name),
        ("契約名義", data.title_formal_name),
        ("件名", data.subject),
        ("契約番号", data.contract_number or "—"),
        ("契約金額", amount),
        ("取引年月日", format_date(data.transaction_date, era=True, locale="ja") if data.transaction_date else "—"),
        ("相手方", data.counterparty or "—"),
        ("締結日時", _jst(data.concluded_at)),
        ("契約ID", data.contract_id),
    ]
    _table(pdf, ["項目", "内容"], [list(r) for r in rows], [35, 145])
    pdf.ln(4)
    _heading(pdf, "当事者")
    _table(
        pdf,
        ["順", "区分", "事業者・名義", "氏名", "メールアドレス", "状態"],
        [[str(p.order), p.role, p.company, p.name, p.email, _status(p.status)] for p in data.parties],
        [10, 24, 42, 30, 50, 24],
    )
    pdf.ln(4)
    _heading(pdf, "合意の記録")
    _table(
        pdf,
        ["日時（日本時間）", "内容", "氏名", "メールアドレス", "IPアドレス"],
        [[_jst(e.when), _event(e.what), e.who, e.email, e.ip] for e in data.events],
        [44, 26, 34, 48, 28],
    )
    pdf.ln(4)
    _heading(pdf, "締結済みファイル")
    _table(
        pdf,
        ["ファイル名", "SHA-256", "サイズ"],
        [[f.file_name, f.sha256, f"{f.size:,} B"] for f in data.files],
        [50, 104, 26],
        small_columns={1},
    )
    return pdf_bytes(pdf)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("IPAexGothic", size=12)
    pdf.cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("IPAexGothic", size=9)


_LINE_HEIGHT = 5.5
"""Height of a table line (mm), as fpdf2's tables had it."""


def _table(
    pdf: FPDF, headings: list[str], rows: list[list[str]], widths: list[int], small_columns: set[int] | None = None
) -> None:
    """A bordered table, its headings again at the top of each page a row spills onto.

    Drawn with ``FPDF.text`` line by line rather than with ``FPDF.table``, whose
    cells are each laid out twice by ``multi_cell`` (once to measure, once to
    draw): half the time of a certificate. A cell breaks before the character
    that would cross its right edge, and at a space when a Latin word would be
    cut; forced breaks (``\n``) are kept. No cell has more than a few lines.
    """
    scale = pdf.epw / sum(widths)
    columns = [w * scale for w in widths]
    small = small_columns or set()

    def laid_out(values: Sequence[str], sizes: list[float]) -> list[list[str]]:
        return [_lines(pdf, value, width, size) for value, width, size in zip(values, columns, sizes, strict=True)]

    heading_sizes = [9.0] * len(columns)
    row_sizes = [7.0 if index in small else 9.0 for index in range(len(columns))]
    heading_lines = laid_out(headings, heading_sizes)

    def draw(cells: list[list[str]], sizes: list[float], height: float) -> None:
        x, y = pdf.l_margin, pdf.get_y()
        for lines, width, size in zip(cells, columns, sizes, strict=True):
            pdf.rect(x, y, width, height)
            pdf.set_font_size(size)
            top = y + (height - len(lines) * _LINE_HEIGHT) / 2  # in the middle, as fpdf2's tables
            for number, line in enumerate(lines):
                if line:
                    pdf.text(x + pdf.c_margin, top + (number + 0.5) * _LINE_HEIGHT + 0.3 * pdf.font_size, line)
            x += width
        pdf.set_xy(pdf.l_margin, y + height)

    def height_of(cells: list[list[str]]) -> float:
        return max(len(lines) for lines in cells) * _LINE_HEIGHT

    draw(heading_lines, heading_sizes, height_of(heading_lines))
    for values in rows:
        cells = laid_out(values, row_sizes)
        height = height_of(cells)
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            draw(heading_lines, heading_sizes, height_of(heading_lines))
        draw(cells, row_sizes, height)
    pdf.set_font_size(9)


def _lines(pdf: FPDF, text: str, width: float, size_pt: float) -> list[str]:
    """``text`` broken into lines that fit ``width`` (mm) at ``size_pt``, by the font's advance widths."""
    face = pdf.current_font
    assert isinstance(face, TTFFont)  # the Japanese TrueType font, always
    widths = face.cw
    room = (width - 2 * pdf.c_margin) * pdf.k * 1000 / size_pt  # in the font's thousandths of an em
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for char in paragraph:
            advance = widths[ord(char)]
            if line and used + advance > room:
                cut = line.rfind(" ")
                if char.isascii() and char.isalnum() and line[-1:].isascii() and line[-1:].isalnum() and cut > 0:
                    # Do not cut a Latin word: carry it over from the last space.
                    lines.append(line[:cut])
                    line = line[cut + 1 :]
                    used = sum(widths[ord(c)] for c in line)
                else:
                    lines.append(line.rstrip(" "))
                    line, used = "", 0.0
                    if char == " ":
                        continue
            line += char
            used += advance
        lines.append(line)
    return lines
