"""Invoices as PDF (fpdf2, Japanese font IPAexGothic) and as CSV.

Both are rendered from the issued (immutable) rows, so a download today and one
in five years show the same figures.

The font comes from the ``japanize-matplotlib`` wheel, which bundles IPAexGothic
(``japanize_matplotlib/fonts/ipaexg.ttf``, IPA Font License); it is found without
importing matplotlib.
"""

from __future__ import annotations

import io
from decimal import Decimal

from core import spreadsheet
from core.fonts import FontMissing, add_japanese_font, japanese_font
from onboarding.billing import TAX_RATE_PERCENT
from onboarding.models import Invoice, InvoiceKind, InvoiceLine

__all__ = ["FontMissing", "invoice_csv", "invoice_pdf", "japanese_font"]


def _yen(value: Decimal) -> str:
    return f"{int(value):,}円"


def _title(invoice: Invoice) -> str:
    return "請求書" if invoice.kind is InvoiceKind.INVOICE else "クレジットノート（請求取消）"


def invoice_pdf(invoice: Invoice, lines: list[InvoiceLine], *, issuer: str) -> bytes:
    """The invoice as a one-or-more-page A4 PDF."""
    # fpdf2 pulls in fontTools and Pillow: loaded on the first PDF, not at every start-up.
    from fpdf import FPDF  # noqa: PLC0415

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    # Parsed once per process. IPAexGothic has one weight; table headings ask for bold, so the same face serves.
    add_japanese_font(pdf, "IPAexGothic")
    add_japanese_font(pdf, "IPAexGothic", "B")
    pdf.set_title(f"{_title(invoice)} No.{invoice.number}")
    pdf.add_page()
    pdf.set_font("IPAexGothic", size=18)
    pdf.cell(0, 12, _title(invoice), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("IPAexGothic", size=11)
    pdf.cell(0, 7, f"{invoice.payer_name} 御中", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0, 7, f"請求番号: {invoice.number:06d}　発行日: {invoice.issued_on:%Y年%m月%d日}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.cell(0, 7, f"対象月: {invoice.month:%Y年%m月}　発行者: {issuer}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = (45, 80, 15, 20, 25)
    pdf.set_font("IPAexGothic", size=9)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["団体", "内容", "数量", "単価", "金額"])
        for line in lines:
            table.row(
                [line.member_name, line.description, str(line.quantity), _yen(line.unit_price), _yen(line.amount)]
            )
    pdf.ln(3)
    pdf.set_font("IPAexGothic", size=11)
    for label, value in (
        ("小計（税抜）", invoice.subtotal),
        (f"消費税（{TAX_RATE_PERCENT}%）", invoice.tax),
        ("合計（税込）", invoice.total),
    ):
        pdf.cell(150, 7, label, align="R")
        pdf.cell(35, 7, _yen(value), new_x="LMARGIN", new_y="NEXT", align="R")
    pdf.ln(2)
    pdf.set_font("IPAexGothic", size=8)
    pdf.multi_cell(0, 5, "消費税は請求書ごとに税抜合計額に10%を乗じ、1円未満の端数を切り捨てて計算しています。")
    if invoice.note:
        pdf.multi_cell(0, 5, f"備考: {invoice.note}")
    return bytes(pdf.output())


def invoice_csv(invoice: Invoice, lines: list[InvoiceLine]) -> bytes:
    """The invoice as CSV (UTF-8 with BOM, so Excel opens it correctly)."""
    buffer = io.StringIO(newline="")
    writer = spreadsheet.writer(buffer, lineterminator="\r\n")
    writer.writerow(["請求番号", "種別", "対象月", "請求先", "団体", "内容", "数量", "単価", "金額"])
    kind = _title(invoice)
    for line in lines:
        writer.writerow(
            [
                invoice.number,
                kind,
                f"{invoice.month:%Y-%m}",
                invoice.payer_name,
                line.member_name,
                line.description,
                line.quantity,
                int(line.unit_price),
                int(line.amount),
            ]
        )
    for label, value in (("小計", invoice.subtotal), ("消費税", invoice.tax), ("合計", invoice.total)):
        writer.writerow(
            [invoice.number, kind, f"{invoice.month:%Y-%m}", invoice.payer_name, "", label, "", "", int(value)]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
