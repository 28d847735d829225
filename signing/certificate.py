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
from fpdf.fonts import FontFace

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


_HEADINGS = FontFace(emphasis="")
"""Table headings in the regular face (the font has one weight)."""


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


def _table(
    pdf: FPDF, headings: list[str], rows: list[list[str]], widths: list[int], small_columns: set[int] | None = None
) -> None:
    pdf.set_font("IPAexGothic", size=9)
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=5.5, first_row_as_headings=True, headings_style=_HEADINGS
    ) as table:
        header = table.row()
        for heading in headings:
            header.cell(heading)
        for values in rows:
            row = table.row()
            for index, value in enumerate(values):
                if small_columns and index in small_columns:
                    pdf.set_font("IPAexGothic", size=7)
                    row.cell(value)
                    pdf.set_font("IPAexGothic", size=9)
                else:
                    row.cell(value)
