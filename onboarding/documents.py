"""Invoices as PDF (fpdf2, Japanese font IPAexGothic) and as CSV.

Both are rendered from the issued (immutable) rows, so a download today and one
in five years show the same figures and the same issuer, registration number and
bank account, whatever the settings say by then. An invoice shows what a qualified
invoice (適格請求書, 消費税法 57条の4) must: the issuer and its registration number,
the month billed, each line with its tax rate, the totals and consumption tax per
rate, the recipient; and the payment due date and the account to pay into.
Dates on the PDF are in 令和; the CSV keeps ISO dates for other systems.

The font comes from the ``japanize-matplotlib`` wheel, which bundles IPAexGothic
(``japanize_matplotlib/fonts/ipaexg.ttf``, IPA Font License); it is found without
importing matplotlib.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import TYPE_CHECKING

from core import spreadsheet
from core.dates import month_end
from core.fonts import FontMissing, add_japanese_font, japanese_font, pdf_bytes
from core.i18n import format_date, japanese_era
from onboarding.billing import REDUCED_TAX_RATE_PERCENT, invoice_number, rate_totals
from onboarding.models import Invoice, InvoiceKind, InvoiceLine

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = [
    "CSV_COLUMNS",
    "FontMissing",
    "bank_account_text",
    "invoice_csv",
    "invoice_pdf",
    "japanese_font",
    "totals_of",
]


def _yen(value: Decimal | int) -> str:
    return f"{int(value):,}円"


def _title(invoice: Invoice) -> str:
    return "請求書（適格請求書）" if invoice.kind is InvoiceKind.INVOICE else "クレジットノート（適格返還請求書）"


def _kind(invoice: Invoice) -> str:
    return "請求書" if invoice.kind is InvoiceKind.INVOICE else "クレジットノート（請求取消）"


def _wareki(day: dt.date) -> str:
    return format_date(day, era=True, locale="ja")


def _wareki_month(first: dt.date) -> str:
    name, year = japanese_era(first)
    return f"{name}{'元' if year == 1 else year}年{first.month}月"


def _rate(line: InvoiceLine) -> str:
    return f"{line.tax_rate}%※" if line.tax_rate == REDUCED_TAX_RATE_PERCENT else f"{line.tax_rate}%"


def totals_of(invoice: Invoice, lines: list[InvoiceLine]) -> list[dict[str, int]]:
    """Subtotal and tax per rate as issued (invoices from before per-rate totals: worked out from their lines)."""
    return invoice.rate_totals or rate_totals((x.tax_rate, Decimal(x.amount)) for x in lines)


def bank_account_text(invoice: Invoice) -> str:
    """振込先 as printed: bank, branch, type, number and holder ('' when the invoice has none)."""
    parts = (
        invoice.bank_name,
        invoice.bank_branch,
        invoice.bank_account_type,
        invoice.bank_account_number,
        invoice.bank_account_holder,
    )
    return " ".join(p for p in parts if p)


def invoice_pdf(invoice: Invoice, lines: list[InvoiceLine]) -> bytes:
    """The invoice as a one-or-more-page A4 PDF."""
    # fpdf2 pulls in fontTools and Pillow: loaded on the first PDF, not at every start-up.
    from fpdf import FPDF  # noqa: PLC0415

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    # Parsed once per process. IPAexGothic has one weight; table headings ask for bold, so the same face serves.
    add_japanese_font(pdf, "IPAexGothic")
    add_japanese_font(pdf, "IPAexGothic", "B")
    pdf.set_title(f"{_title(invoice)} No.{invoice_number(invoice)}")
    pdf.add_page()
    _pdf_heading(pdf, invoice)
    widths = (38, 72, 13, 22, 25, 15)
    pdf.set_font("IPAexGothic", size=9)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["団体", "内容", "数量", "単価", "金額（税抜）", "税率"])
        for line in lines:
            table.row(
                [
                    line.member_name,
                    line.description,
                    str(line.quantity),
                    _yen(line.unit_price),
                    _yen(line.amount),
                    _rate(line),
                ]
            )
    _pdf_totals(pdf, invoice, lines)
    return pdf_bytes(pdf)


def _pdf_heading(pdf: FPDF, invoice: Invoice) -> None:
    """Title, recipient, number and dates on the left, the issuer and its registration number on the right."""
    pdf.set_font("IPAexGothic", size=18)
    pdf.cell(0, 12, _title(invoice), new_x="LMARGIN", new_y="NEXT", align="C")
    top = pdf.get_y()
    pdf.set_font("IPAexGothic", size=13)
    pdf.cell(88, 9, f"{invoice.payer_name} 御中", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("IPAexGothic", size=10)
    for text in (
        f"請求番号: {invoice_number(invoice)}",
        f"発行日: {_wareki(invoice.issued_on)}",
        f"取引年月: {_wareki_month(invoice.month)}分",
        f"（{_wareki(invoice.month)}～{_wareki(month_end(invoice.month))}）",
    ):
        pdf.cell(88, 6, text, new_x="LMARGIN", new_y="NEXT")
    if invoice.due_on is not None:
        pdf.set_font("IPAexGothic", size=11)
        pdf.cell(88, 7, f"お支払期限: {_wareki(invoice.due_on)}", new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    pdf.set_xy(100, top)
    registration = f"登録番号: {invoice.registration_number}" if invoice.registration_number else ""
    for text, size in ((invoice.issuer_name, 10), (invoice.issuer_address, 9), (registration, 10)):
        if text:
            pdf.set_font("IPAexGothic", size=size)
            pdf.set_x(100)
            pdf.multi_cell(100, 5.5, text, new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(left_bottom, pdf.get_y()) + 3)
    pdf.set_font("IPAexGothic", size=12)
    pdf.cell(0, 8, f"ご請求金額（税込）: {_yen(invoice.total)}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _pdf_totals(pdf: FPDF, invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """Totals and tax per rate, the account to pay into, how the tax was worked out."""
    pdf.ln(3)
    pdf.set_font("IPAexGothic", size=10)
    rows: list[tuple[str, Decimal | int]] = []
    for entry in totals_of(invoice, lines):
        rows.append((f"{entry['rate']}%対象 小計（税抜）", entry["subtotal"]))
        rows.append((f"消費税（{entry['rate']}%）", entry["tax"]))
    rows += [("小計（税抜）", invoice.subtotal), ("消費税 合計", invoice.tax), ("合計（税込）", invoice.total)]
    for label, value in rows:
        pdf.cell(150, 6.5, label, align="R")
        pdf.cell(35, 6.5, _yen(value), new_x="LMARGIN", new_y="NEXT", align="R")
    if invoice.due_on is not None and (bank := bank_account_text(invoice)):
        pdf.ln(3)
        pdf.set_font("IPAexGothic", size=10)
        pdf.multi_cell(0, 6, f"お振込先: {bank}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("IPAexGothic", size=8)
        pdf.multi_cell(
            0, 5, "振込手数料はご負担ください。お振込の際は請求番号をお知らせください。", new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(2)
    pdf.set_font("IPAexGothic", size=8)
    pdf.multi_cell(
        0,
        5,
        "消費税は税率ごとに税抜合計額に税率を乗じ、1円未満の端数を切り捨てて計算しています（請求書ごとに1回）。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    if any(x.tax_rate == REDUCED_TAX_RATE_PERCENT for x in lines):
        pdf.multi_cell(0, 5, "※は軽減税率（8%）対象です。", new_x="LMARGIN", new_y="NEXT")
    if invoice.note:
        pdf.multi_cell(0, 5, f"備考: {invoice.note}", new_x="LMARGIN", new_y="NEXT")


CSV_COLUMNS = (
    "請求番号",
    "種別",
    "発行日",
    "対象月",
    "支払期限",
    "請求先",
    "発行者",
    "登録番号",
    "振込先",
    "団体",
    "内容",
    "数量",
    "単価",
    "金額",
    "税率",
)


def invoice_csv(invoice: Invoice, lines: list[InvoiceLine]) -> bytes:
    """The invoice as CSV (UTF-8 with BOM, so Excel opens it correctly): its lines, then the totals per rate."""
    buffer = io.StringIO(newline="")
    writer = spreadsheet.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    head = [
        invoice_number(invoice),
        _kind(invoice),
        invoice.issued_on.isoformat(),
        f"{invoice.month:%Y-%m}",
        invoice.due_on.isoformat() if invoice.due_on else "",
        invoice.payer_name,
        invoice.issuer_name,
        invoice.registration_number,
        bank_account_text(invoice) if invoice.due_on else "",
    ]
    for line in lines:
        writer.writerow(
            [
                *head,
                line.member_name,
                line.description,
                line.quantity,
                int(line.unit_price),
                int(line.amount),
                f"{line.tax_rate}%",
            ]
        )
    totals: list[tuple[str, Decimal | int, str]] = []
    for entry in totals_of(invoice, lines):
        rate = f"{entry['rate']}%"
        totals += [(f"{rate}対象 小計", entry["subtotal"], rate), (f"消費税（{rate}）", entry["tax"], rate)]
    totals += [("小計", invoice.subtotal, ""), ("消費税", invoice.tax, ""), ("合計", invoice.total, "")]
    for label, value, rate in totals:
        writer.writerow([*head, "", label, "", "", int(value), rate])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
