"""Monthly reports as PDF (fpdf2, IPAexGothic embedded) and CSV (UTF-8 with BOM, for Excel).

Charts are drawn with fpdf2's own vector primitives (rectangles and lines), not
rendered by matplotlib: a chart is thirty bars, vector output stays sharp when
printed, and it costs milliseconds, which matters when a hundred reports are
produced on the 1st of the month (see ``tests/bench/bench_monthly_reports.py``).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from core import spreadsheet
from core.fonts import add_japanese_font, pdf_bytes
from core.i18n import current_locale, format_date, japanese_era, pgettext
from core.i18n import gettext as _
from reporting.figures import JST, MemberMonth
from reporting.models import Incident, IncidentProgress

__all__ = [
    "availability_definition",
    "draft_label",
    "format_month",
    "not_applicable",
    "render_csv",
    "render_incident_report",
    "render_pdf",
    "report_language",
    "unmeasured_definition",
]

FONT = "ipaexg"
ITEM_LABELS: dict[str, Callable[[], str]] = {
    "availability": lambda: _("Availability"),
    "recovery": lambda: _("Time to recover from incidents"),
    "response": lambda: _("Screen response time (95th percentile)"),
}
DOWNLOADER_LABELS: dict[str, Callable[[], str]] = {
    "staff": lambda: _("Staff"),
    "contractor": lambda: _("Contractors"),
    "api": lambda: _("Other systems (API)"),
}
SECURITY_LABELS: dict[str, Callable[[], str]] = {
    "login_failed": lambda: _("Wrong passwords at sign-in"),
    "account_locked": lambda: _("Accounts locked"),
    "ip_refused": lambda: _("Access refused from networks not allowed"),
    "api_key_refused": lambda: _("API keys refused"),
    "contractor_password_failed": lambda: _("Wrong contractor passwords"),
    "contractor_locked": lambda: _("Contractor links locked"),
}


def availability_definition() -> str:
    """How availability and response time are measured, printed in every report."""
    return _(
        "Availability = (minutes in the service window − announced maintenance minutes − downtime minutes) "
        "÷ (minutes in the service window − announced maintenance minutes). The service window is the month "
        "(Japan time) from the go-live date. Downtime is every minute in which the synthetic check failed or an "
        "incident affected this member, counted once; emergency maintenance counts as downtime. Response time "
        "is measured on the server for every screen and API request; the target applies to the 95th percentile."
    )


def draft_label() -> str:
    """What every page of a report not yet issued says."""
    return _("DRAFT (not issued; the figures may still change)")


def unmeasured_definition() -> str:
    """Why a minute without any probe result is not available, printed in every report."""
    return _(
        "A minute with no result of the synthetic check at all (the check, the web servers or the database "
        "stopped: an outage the check could not record) is unmeasured and counted as downtime, unless it lies "
        "in announced maintenance."
    )


@contextmanager
def report_language(locale: str) -> Iterator[None]:
    """Write the report in ``locale`` (``ja`` or ``en``) whatever the request's language."""
    token = current_locale.set(locale)
    try:
        yield
    finally:
        current_locale.reset(token)


def format_month(month: dt.date, *, era: bool = False) -> str:
    """令和8年10月 / 2026年10月 / October 2026."""
    if current_locale.get() == "ja":
        if era:
            name, year = japanese_era(month)
            return f"{name}{'元' if year == 1 else year}年{month.month}月"
        return f"{month.year}年{month.month}月"
    return month.strftime("%B %Y")


def _when(at: dt.datetime | None, *, era: bool) -> str:
    if at is None:
        return "—"
    local = at.astimezone(JST)
    return f"{format_date(local, era=era)} {local:%H:%M}"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return _("over 60 s")
    return _("up to {seconds} s").format(seconds=f"{value / 1000:g}")


def _duration(minutes: int | None) -> str:
    if minutes is None:
        return _("not recovered yet")
    hours, rest = divmod(minutes, 60)
    return _("{hours} h {minutes} min").format(hours=hours, minutes=rest)


def _result(met: bool | None) -> str:
    if met is None:
        return _("no data")
    return _("met") if met else _("missed")


def _summary_rows(fig: MemberMonth) -> list[tuple[str, str, str, str]]:
    worst = max((i.recovery_minutes or 0 for i in fig.incidents), default=None)
    availability = f"{fig.availability_percent} %" if fig.availability_percent is not None else "—"
    return [
        (
            ITEM_LABELS["availability"](),
            availability,
            _("at least {percent} %").format(percent=format(fig.targets.availability_percent.normalize(), "f")),
            _result(fig.availability_met),
        ),
        (
            ITEM_LABELS["recovery"](),
            _duration(worst) if fig.incidents else _("no incidents"),
            _("within {duration}").format(duration=_duration(fig.targets.recovery_minutes)),
            _result(fig.recovery_met),
        ),
        (
            ITEM_LABELS["response"](),
            _ms(fig.p95_ms),
            _("within {seconds} s").format(seconds=f"{fig.targets.response_ms / 1000:g}"),
            _result(fig.response_met),
        ),
    ]


class _Pdf(FPDF):
    watermark = ""
    """Printed across every page when set (a draft: 下書き)."""

    def header(self) -> None:
        if not self.watermark:
            return
        x, y = self.l_margin, self.t_margin
        self.set_font(FONT, size=11)
        self.set_text_color(200, 0, 0)
        self.cell(0, 6, self.watermark, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=60)
        self.set_text_color(235, 190, 190)
        with self.rotation(35, self.w / 2, self.h / 2):
            self.text(self.w / 2 - 60, self.h / 2, self.watermark.split("（")[0].split(" (")[0])
        self.set_text_color(0, 0, 0)
        self.set_xy(x, y + 7)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(FONT, size=12)
        self.set_fill_color(230, 236, 245)
        self.cell(0, 8, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=9)
        self.ln(1)

    def para(self, text: str) -> None:
        self.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
        # IPAexGothic has no bold face: headings are shaded instead.
        headings = FontFace(emphasis="", fill_color=(240, 240, 240))
        with self.table(col_widths=tuple(widths), text_align="LEFT", line_height=5.5, headings_style=headings) as table:
            head = table.row()
            for text in header:
                head.cell(text)
            for values in rows:
                row = table.row()
                for text in values:
                    row.cell(text)
        self.ln(1)

    def bars(
        self,
        title: str,
        labels: Sequence[str],
        values: Sequence[float | None],
        *,
        low: float,
        high: float,
        target: float,
        unit: str,
        higher_is_better: bool,
    ) -> None:
        """A daily bar chart with a dashed target line; days without data are left empty."""
        self.set_font(FONT, size=9)
        self.cell(0, 5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        x0, y0, width, height = self.l_margin + 12, self.get_y() + 2, self.epw - 14, 38
        if y0 + height + 10 > self.page_break_trigger:
            self.add_page()
            y0 = self.get_y() + 2
        span = (high - low) or 1.0
        self.set_draw_color(120, 120, 120)
        self.rect(x0, y0, width, height)
        self.set_font(FONT, size=6)
        for tick in (low, target, high):
            y = y0 + height - (tick - low) / span * height
            self.text(self.l_margin, y + 1, f"{tick:g}{unit}")
        step = width / max(1, len(values))
        for index, value in enumerate(values):
            if value is None:
                continue
            shown = min(max(value, low), high)
            bar = (shown - low) / span * height
            good = value >= target if higher_is_better else value <= target
            self.set_fill_color(*((70, 130, 180) if good else (200, 60, 60)))
            self.rect(x0 + index * step + step * 0.15, y0 + height - bar, step * 0.7, bar, style="F")
        target_y = y0 + height - (target - low) / span * height
        self.set_draw_color(200, 60, 60)
        self.set_dash_pattern(dash=1, gap=1)
        self.line(x0, target_y, x0 + width, target_y)
        self.set_dash_pattern()
        for index, label in enumerate(labels):
            if index % 5 == 0 or index == len(labels) - 1:
                self.text(x0 + index * step + step * 0.2, y0 + height + 3, label)
        self.set_y(y0 + height + 6)
        self.set_font(FONT, size=9)


def render_pdf(
    fig: MemberMonth, *, era: bool = False, issued_at: dt.datetime | None = None, font: Path | None = None
) -> bytes:
    """The report as a PDF in the current report language (see :func:`report_language`).

    ``font`` is a font file to embed instead of the bundled Japanese one. Either is
    parsed once per process and only the printed glyphs are embedded (:mod:`core.fonts`).
    """
    month = format_month(fig.month, era=era)
    pdf = _Pdf(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.watermark = draft_label() if issued_at is None else ""
    add_japanese_font(pdf, FONT, path=font)
    pdf.set_lang(current_locale.get())
    title = _("Monthly service report")
    pdf.set_title(f"{fig.member_name} {title} {month}")
    pdf.set_creator("Kyodo")
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 10, f"{fig.member_name} {title}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    pdf.para(
        _("Period: {month} ({start} to {end}), local government code {code}").format(
            month=month,
            start=_when(fig.window_start, era=era),
            end=_when(fig.window_end, era=era),
            code=fig.lg_code,
        )
    )
    if issued_at is not None:
        pdf.para(_("Issued: {when}").format(when=_when(issued_at, era=era)))

    _summary(pdf, fig)
    _availability(pdf, fig, era=era)
    _maintenance(pdf, fig, era=era)
    _incidents(pdf, fig, era=era)
    _response(pdf, fig)
    _usage_and_security(pdf, fig)
    _plans(pdf, fig)
    _releases(pdf, fig, era=era)
    _security_measures(pdf, fig)
    return pdf_bytes(pdf)


def _summary(pdf: _Pdf, fig: MemberMonth) -> None:
    pdf.heading(_("1. Service levels against targets"))
    pdf.rows([_("Item"), _("Measured"), _("Target"), _("Result")], _summary_rows(fig), (60, 45, 45, 30))
    pdf.para(availability_definition())
    pdf.para(unmeasured_definition())


def _availability(pdf: _Pdf, fig: MemberMonth, *, era: bool) -> None:
    pdf.heading(_("2. Availability"))
    pdf.rows(
        [_("Figure"), _("Minutes")],
        [
            (_("Minutes in the service window"), str(fig.window_minutes)),
            (_("Excluded: announced maintenance"), str(fig.maintenance_minutes)),
            (_("Downtime"), str(fig.downtime_minutes)),
            (_("of which the synthetic check failed"), str(fig.probe_failed_minutes)),
            (_("of which no synthetic check was recorded (unmeasured)"), str(fig.unmeasured_minutes)),
        ],
        (120, 60),
    )
    labels = [str(d.day.day) for d in fig.days]
    shares = [d.availability_percent for d in fig.days]
    known = [s for s in shares if s is not None]
    target = float(fig.targets.availability_percent)
    low = max(0.0, math.floor(min([*known, target]) * 10) / 10 - 0.2)
    pdf.bars(
        _("Daily availability (%)"), labels, shares, low=low, high=100.0, target=target, unit="", higher_is_better=True
    )


def _maintenance(pdf: _Pdf, fig: MemberMonth, *, era: bool) -> None:
    pdf.heading(_("3. Maintenance"))
    if fig.maintenance:
        pdf.rows(
            [_("Work"), _("From"), _("To"), _("Announced"), _("Minutes")],
            [
                (
                    m.title + (f" ({_('emergency, counted as downtime')})" if m.emergency else ""),
                    _when(m.starts_at, era=era),
                    _when(m.ends_at, era=era),
                    _when(m.announced_at, era=era),
                    str(m.minutes),
                )
                for m in fig.maintenance
            ],
            (55, 35, 35, 35, 20),
        )
    else:
        pdf.para(_("No maintenance this month."))


def _incidents(pdf: _Pdf, fig: MemberMonth, *, era: bool) -> None:
    pdf.heading(_("4. Incidents"))
    if fig.incidents:
        for incident in fig.incidents:
            pdf.rows(
                [incident.title, ""],
                [
                    (_("Started"), _when(incident.started_at, era=era)),
                    (_("Detected"), _when(incident.detected_at, era=era)),
                    (_("First notified"), _when(incident.first_notified_at, era=era)),
                    (_("Recovered"), _when(incident.recovered_at, era=era)),
                    (
                        _("Time to recover"),
                        f"{_duration(incident.recovery_minutes)} ({_result(incident.met)})",
                    ),
                    (_("Downtime this month (minutes)"), str(incident.downtime_minutes)),
                    (_("Symptom"), incident.symptom or "—"),
                    (_("Cause"), incident.cause or "—"),
                    (_("Prevention"), incident.prevention or "—"),
                ],
                (45, 135),
            )
    else:
        pdf.para(_("No incidents this month."))


def _response(pdf: _Pdf, fig: MemberMonth) -> None:
    pdf.heading(_("5. Response time"))
    pdf.rows(
        [_("Figure"), _("Value")],
        [
            (_("Requests"), f"{fig.requests:,}"),
            (_("Server errors"), f"{fig.server_errors:,}"),
            (_("50th percentile"), _ms(fig.p50_ms)),
            (_("95th percentile"), _ms(fig.p95_ms)),
            (_("99th percentile"), _ms(fig.p99_ms)),
        ],
        (120, 60),
    )
    labels = [str(d.day.day) for d in fig.days]
    latencies = [d.p95_ms / 1000 if d.p95_ms is not None and not math.isinf(d.p95_ms) else None for d in fig.days]
    response_target = fig.targets.response_ms / 1000
    top = max([v for v in latencies if v is not None] + [response_target * 1.5])
    pdf.bars(
        _("Daily response time, 95th percentile (s)"),
        labels,
        latencies,
        low=0.0,
        high=top,
        target=response_target,
        unit="",
        higher_is_better=False,
    )


def _usage_and_security(pdf: _Pdf, fig: MemberMonth) -> None:
    pdf.heading(_("6. Contracts concluded"))
    pdf.para(_("Contracts concluded this month: {count}").format(count=fig.contracts_total))
    if fig.contracts_by_department:
        pdf.rows(
            [_("Department"), pgettext("count", "Contracts concluded")],
            [(n or "—", str(c)) for n, c in fig.contracts_by_department],
            (120, 60),
        )
        pdf.rows(
            [_("Contract title"), pgettext("count", "Contracts concluded")],
            [(n or "—", str(c)) for n, c in fig.contracts_by_title],
            (120, 60),
        )
    pdf.para(_("Downloads of concluded contracts and certificates: {count}").format(count=sum(fig.downloads.values())))
    pdf.rows(
        [_("Downloaded by"), _("Count")],
        [(label(), str(fig.downloads.get(who, 0))) for who, label in DOWNLOADER_LABELS.items()],
        (120, 60),
    )

    pdf.heading(_("7. Security"))
    pdf.rows(
        [_("Event"), _("Count")],
        [(label(), str(fig.security.get(kind, 0))) for kind, label in SECURITY_LABELS.items()],
        (120, 60),
    )


def _plans(pdf: _Pdf, fig: MemberMonth) -> None:
    pdf.heading(_("8. Targets missed: reasons and improvement plan"))
    if fig.missed:
        for item in fig.missed:
            reason, plan = fig.plans.get(item, ("", ""))
            pdf.rows(
                [ITEM_LABELS[item](), ""],
                [(_("Reason"), reason or "—"), (_("Improvement plan"), plan or "—")],
                (45, 135),
            )
    else:
        pdf.para(_("Every target was met this month."))


def not_applicable() -> str:
    """What an empty section of a report says (it is printed, never left out)."""
    return _("Not applicable.")


def _releases(pdf: _Pdf, fig: MemberMonth, *, era: bool) -> None:
    pdf.heading(_("9. Releases and changes"))
    if fig.releases:
        pdf.rows(
            [_("Date"), _("What was changed"), _("Impact")],
            [(format_date(r.released_on, era=era), r.change, r.impact or "—") for r in fig.releases],
            (35, 85, 60),
        )
    else:
        pdf.para(not_applicable())


def _security_measures(pdf: _Pdf, fig: MemberMonth) -> None:
    pdf.heading(_("10. Security measures"))
    measures = fig.security_measures
    if measures is None:
        pdf.para(not_applicable())
        return
    pdf.rows(
        [_("Item"), _("Details")],
        [
            (_("What was detected"), measures.detected or not_applicable()),
            (_("What was done"), measures.done or not_applicable()),
            (_("What is planned"), measures.planned or not_applicable()),
        ],
        (45, 135),
    )


def render_csv(fig: MemberMonth, *, era: bool = False) -> bytes:
    """The report's figures as CSV rows (section, item, value, target, result), UTF-8 with BOM."""
    out = io.StringIO()
    writer = spreadsheet.writer(out, lineterminator="\r\n")
    writer.writerow([_("Section"), _("Item"), _("Value"), _("Target"), _("Result")])
    summary = _("Service levels")
    writer.writerow([summary, _("Member"), f"{fig.member_name} ({fig.lg_code})", "", ""])
    writer.writerow([summary, _("Month"), format_month(fig.month, era=era), "", ""])
    for row in _summary_rows(fig):
        writer.writerow([summary, *row])
    section = _("Availability")
    writer.writerow([section, _("Minutes in the service window"), fig.window_minutes, "", ""])
    writer.writerow([section, _("Excluded: announced maintenance"), fig.maintenance_minutes, "", ""])
    writer.writerow([section, _("Downtime"), fig.downtime_minutes, "", ""])
    for m in fig.maintenance:
        writer.writerow(
            [
                _("Maintenance"),
                m.title,
                m.minutes,
                f"{_when(m.starts_at, era=era)} – {_when(m.ends_at, era=era)}",
                _("emergency, counted as downtime") if m.emergency else _("excluded"),
            ]
        )
    for i in fig.incidents:
        writer.writerow(
            [
                _("Incident"),
                i.title,
                _duration(i.recovery_minutes),
                f"{_when(i.started_at, era=era)} – {_when(i.recovered_at, era=era)}",
                _result(i.met),
            ]
        )
    section = _("Response time")
    writer.writerow([section, _("Requests"), fig.requests, "", ""])
    writer.writerow([section, _("Server errors"), fig.server_errors, "", ""])
    for name, value in (("p50", fig.p50_ms), ("p95", fig.p95_ms), ("p99", fig.p99_ms)):
        writer.writerow([section, name, _ms(value), "", ""])
    for group, count in fig.contracts_by_department:
        writer.writerow([_("Contracts by department"), group, count, "", ""])
    for group, count in fig.contracts_by_title:
        writer.writerow([_("Contracts by contract title"), group, count, "", ""])
    for who, label in DOWNLOADER_LABELS.items():
        writer.writerow([_("Downloads"), label(), fig.downloads.get(who, 0), "", ""])
    for kind, label in SECURITY_LABELS.items():
        writer.writerow([_("Security"), label(), fig.security.get(kind, 0), "", ""])
    for day in fig.days:
        writer.writerow(
            [
                _("Daily"),
                day.day.isoformat(),
                "" if day.availability_percent is None else f"{day.availability_percent:.3f}",
                _ms(day.p95_ms),
                day.requests,
            ]
        )
    for item in fig.missed:
        reason, plan = fig.plans.get(item, ("", ""))
        writer.writerow([_("Improvement plan"), ITEM_LABELS[item](), reason, plan, ""])
    for release in fig.releases:
        writer.writerow(
            [_("Releases and changes"), format_date(release.released_on, era=era), release.change, release.impact, ""]
        )
    if fig.security_measures is not None:
        section = _("Security measures")
        writer.writerow([section, _("What was detected"), fig.security_measures.detected, "", ""])
        writer.writerow([section, _("What was done"), fig.security_measures.done, "", ""])
        writer.writerow([section, _("What is planned"), fig.security_measures.planned, "", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def render_incident_report(
    incident: Incident, progress: Sequence[IncidentProgress], *, scope: str, era: bool = True
) -> bytes:
    """The serious-incident report (重大障害報告書, OPS 5.2.1④) of one incident as a PDF, in the report language."""
    pdf = _Pdf(format="A4")
    pdf.set_margins(15, 15, 15)
    add_japanese_font(pdf, FONT)
    pdf.set_lang(current_locale.get())
    title = _("Serious incident report")
    pdf.set_title(f"{title} {incident.title}")
    pdf.set_creator("Kyodo")
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 10, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    recovery = (
        str(math.ceil((incident.recovered_at - incident.started_at).total_seconds() / 60))
        if incident.recovered_at is not None
        else _("not recovered yet")
    )
    severity = {"critical": _("Critical"), "major": _("Major"), "minor": _("Minor")}.get(
        incident.severity, incident.severity
    )
    pdf.heading(_("1. Outline"))
    pdf.rows(
        [_("Item"), _("Details")],
        [
            (_("Incident"), incident.title),
            (_("Severity"), severity),
            (_("Affected"), scope),
            (_("Started"), _when(incident.started_at, era=era)),
            (_("Detected"), _when(incident.detected_at, era=era)),
            (_("Members first told"), _when(incident.first_notified_at, era=era)),
            (_("Recovered"), _when(incident.recovered_at, era=era)),
            (_("Minutes to recover"), recovery),
        ],
        (50, 130),
    )
    pdf.heading(_("2. Symptom"))
    pdf.para(incident.symptom or "—")
    pdf.heading(_("3. Progress"))
    if progress:
        pdf.rows(
            [_("Time"), _("What was found or done"), _("By")],
            [(_when(p.at, era=era), p.note, p.written_by or "—") for p in progress],
            (40, 110, 30),
        )
    else:
        pdf.para("—")
    pdf.heading(_("4. Cause"))
    pdf.para(incident.cause or "—")
    pdf.heading(_("5. Prevention"))
    pdf.para(incident.prevention or "—")
    return pdf_bytes(pdf)
