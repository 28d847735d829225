"""Benchmark: CPU time of the PDFs the platform draws with the Japanese font, on their real code paths.

Run on demand (not collected by pytest)::

    .venv/bin/python -m tests.bench.bench_pdf_render [--runs 30]

Each document is drawn by its own function (certificate of conclusion, invoice,
deletion report, monthly report) and written twice: as the platform writes it
(:func:`core.fonts.pdf_bytes`, the subset cut from the per-process index) and
with fpdf2's own subsetting of the whole font (``bytes(pdf.output())``, what
the same function did before), next to a bare fpdf2 page with a built-in font
and nothing embedded. Figures are CPU time (``time.process_time``), the median
of runs interleaved round-robin, so a busy shared machine slows every variant
alike; the first run of each (parsing the font, building the index) is left
out and reported apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import ModuleType

from fpdf import FPDF

import onboarding.documents
import reporting.render
import signing.certificate
import signing.exit
from core.fonts import pdf_bytes
from core.settings import get_settings
from onboarding.models import DeletionReport, Invoice, InvoiceKind, InvoiceLine
from reporting.figures import DEFAULT_TARGETS, DayFigures, IncidentLine, MemberMonth
from reporting.render import render_pdf, report_language
from signing.certificate import AgreementLine, CertificateData, PartyLine, SealedFileLine, render_certificate

JST = dt.timezone(dt.timedelta(hours=9))

CERTIFICATE = CertificateData(
    member_name="盛岡市",
    title_formal_name="盛岡市長 内舘 茂",
    subject="盛岡市立図書館空調設備改修工事（髙橋・山﨑 ｶﾀｶﾅ）",
    contract_number="R8-契-0042",
    amount=12_345_000,
    transaction_date=dt.date(2026, 11, 20),
    counterparty="株式会社岩手建設",
    concluded_at=dt.datetime(2026, 11, 21, 9, 30, tzinfo=JST),
    contract_id=str(uuid.UUID(int=42)),
    parties=[
        PartyLine(1, "契約者", "株式会社岩手建設", "岩手太郎", "taro@iwate-kensetsu.example.jp", "合意済み"),
        PartyLine(2, "盛岡市長", "盛岡市", "盛岡花子", "hanako@city.morioka.lg.jp", "合意済み"),
    ],
    events=[
        AgreementLine(dt.datetime(2026, 11, 20, 15, tzinfo=JST), "合意", "岩手太郎", "taro@example.jp", "203.0.113.8"),
        AgreementLine(dt.datetime(2026, 11, 21, 9, tzinfo=JST), "合意", "盛岡花子", "hanako@example.jp", "192.0.2.1"),
    ],
    files=[SealedFileLine("契約書.pdf", "ab" * 32, 123_456)],
)


def _invoice() -> bytes:
    invoice = Invoice(
        number=7, kind=InvoiceKind.INVOICE, month=dt.date(2026, 10, 1), payer_name="盛岡市", subtotal=Decimal(3000),
        tax=Decimal(300), total=Decimal(3300), issued_on=dt.date(2026, 11, 1), issued_by="bench", note="",
        rate_totals=[{"rate": 10, "subtotal": 3000, "tax": 300}], due_on=dt.date(2026, 11, 30), issuer_name="発行者",
        issuer_address="岩手県盛岡市内丸12-2", registration_number="T7123456789012", bank_name="デモ銀行",
        bank_branch="本店", bank_account_type="当座", bank_account_number="7654321", bank_account_holder="ﾊｯｺｳｼｬ",
    )  # fmt: skip
    lines = [
        InvoiceLine(position=i, member_ref_id=uuid.UUID(int=i), member_name="盛岡市", description=f"電子契約 {i}件",
                    quantity=1, unit_price=Decimal(1000), amount=Decimal(1000), tax_rate=10)
        for i in range(1, 4)
    ]  # fmt: skip
    return onboarding.documents.invoice_pdf(invoice, lines)


def _deletion_report() -> bytes:
    report = DeletionReport(
        id=uuid.UUID(int=7), consortium_id=uuid.UUID(int=1), member_ref_id=uuid.UUID(int=2), member_name="八幡平市",
        lg_code="032140", deleted_at=dt.datetime(2027, 4, 1, 10, tzinfo=JST), deleted_by="事務局 髙橋",
        row_counts={"contract": 1200, "audit_event": 34_000, "staff": 80}, blob_files=2400, blob_bytes=3_000_000_000,
        export_sha256="cd" * 32, requested_by="八幡平市 総務課 山﨑", backups_until=dt.date(2027, 5, 1),
    )  # fmt: skip
    return signing.exit.render_deletion_report(report, get_settings())


def _monthly_report() -> bytes:
    start = dt.datetime(2026, 10, 1, tzinfo=JST)
    recovered = start + dt.timedelta(minutes=35)
    incident = IncidentLine("遅延", start, start, None, recovered, 35, 3, True, "画面が遅い", "負荷", "増強")
    days = [DayFigures(dt.date(2026, 10, d), 99.9 + d / 1000, 420.0 + d, 40_000 + d) for d in range(1, 32)]
    figures = MemberMonth(
        member_id=uuid.UUID(int=3), member_name="八幡平市", lg_code="032140", month=dt.date(2026, 10, 1),
        window_start=start, window_end=start + dt.timedelta(days=31), targets=DEFAULT_TARGETS,
        window_minutes=11_880, maintenance_minutes=0, downtime_minutes=3, probe_failed_minutes=3,
        availability_percent=Decimal("99.975"), availability_met=True, maintenance=[],
        incidents=[incident],
        requests=1_250_000, server_errors=12, p50_ms=180.0, p95_ms=430.0, p99_ms=900.0, response_met=True,
        recovery_met=True, contracts_by_department=[("総務課", 12), ("建設課", 30)],
        contracts_by_title=[("市長", 42)], security={"sign_in_failed": 3}, days=days,
    )  # fmt: skip
    with report_language("ja"):
        return render_pdf(figures, era=True, issued_at=start + dt.timedelta(days=32))


def _bare_page() -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    for _ in range(30):
        pdf.cell(0, 6, "Certificate of conclusion - a line of Latin text", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@contextmanager
def _fpdf2_subsetting(module: ModuleType) -> Iterator[None]:
    """Write ``module``'s PDFs with fpdf2's own subsetting of the whole font (the reference)."""
    fast = getattr(module, "pdf_bytes")  # noqa: B009 - each module imports it from core.fonts
    setattr(module, "pdf_bytes", lambda pdf: bytes(pdf.output()))  # noqa: B010
    try:
        yield
    finally:
        setattr(module, "pdf_bytes", fast)  # noqa: B010


def _cpu_ms(draw: Callable[[], bytes], module: ModuleType, *, reference: bool) -> float:
    began = time.process_time()
    if reference:
        with _fpdf2_subsetting(module):
            draw()
    else:
        draw()
    return (time.process_time() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    documents: list[tuple[str, Callable[[], bytes], ModuleType]] = [
        ("certificate of conclusion", lambda: render_certificate(CERTIFICATE), signing.certificate),
        ("invoice", _invoice, onboarding.documents),
        ("deletion report", _deletion_report, signing.exit),
        ("monthly report", _monthly_report, reporting.render),
    ]
    assert all(getattr(module, "pdf_bytes") is pdf_bytes for _name, _draw, module in documents)  # noqa: B009
    first = {name: _cpu_ms(draw, module, reference=False) for name, draw, module in documents}
    samples: dict[tuple[str, bool], list[float]] = {}
    bare: list[float] = []
    for _ in range(args.runs):
        for name, draw, module in documents:
            for reference in (False, True):
                samples.setdefault((name, reference), []).append(_cpu_ms(draw, module, reference=reference))
        began = time.process_time()
        _bare_page()
        bare.append((time.process_time() - began) * 1000)
    print(f"CPU ms per PDF, median of {args.runs} runs (first run, with parsing and indexing the font, apart)")
    print(f"{'document':28} {'as written now':>15} {'fpdf2 subsetting':>17} {'first run':>10}")
    for name, _draw, _module in documents:
        now = statistics.median(samples[(name, False)])
        before = statistics.median(samples[(name, True)])
        print(f"{name:28} {now:15.1f} {before:17.1f} {first[name]:10.0f}")
    print(f"{'bare fpdf2 page (Helvetica)':28} {statistics.median(bare):15.1f}")


if __name__ == "__main__":
    main()
