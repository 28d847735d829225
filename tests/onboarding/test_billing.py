"""Monthly invoices from agreements and metered usage (ONB-3, ONB-4, MOR-8), figures worked out by hand."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker, create_async_engine

from core.dates import JST, today_jst
from core.i18n import format_date
from core.scope import elevated
from core.settings import InvoiceSettings, Settings, to_psycopg_url
from onboarding import billing, stages
from onboarding.documents import invoice_csv, invoice_pdf
from onboarding.metering import record_conclusion
from onboarding.models import Invoice, InvoiceKind, InvoiceLine, UsageEvent
from tenants.models import Member, MemberStatus
from tests import factories as f
from tests.conftest import PROJECT_DIR, TwoMembers, _session_maker, csrf_token, sign_in
from tests.onboarding.test_leaving import _kyodo

OCTOBER = dt.date(2026, 10, 1)  # 31 days


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, tzinfo=JST)


async def _conclude(session: AsyncSession, member: Member, day: int, n: int) -> None:
    for i in range(n):
        await record_conclusion(session, member, uuid.uuid4(), occurred_at=at(day, 9 + i % 8))


async def _scenario(session: AsyncSession, two: TwoMembers) -> Member:
    """Morioka (A) live all month with a price change on the 16th, Hachimantai (B) going live on
    the 10th, Takizawa (C) still in the sandbox."""
    async with elevated(session):  # the test writes rows of several members
        return await _write_scenario(session, two)


async def _write_scenario(session: AsyncSession, two: TwoMembers) -> Member:
    a, b = two.a, two.b
    b.status = MemberStatus.TRIAL
    c = await f.member(session, two.consortium, "032166", "滝沢市", status=MemberStatus.SANDBOX)
    by = "test"
    # A: 50,000 yen a month, 10 contracts included, 1,000 yen per extra contract …
    await billing.add_agreement_version(
        session, a, effective_from=dt.date(2026, 4, 1), start_date=dt.date(2026, 4, 1), end_date=dt.date(2031, 3, 31),
        monthly_fee=Decimal(50000), included_contracts=10, extra_contract_price=Decimal(1000), by=by,
    )  # fmt: skip
    # … lowered to 40,000 yen and 800 yen per extra contract from 16 October.
    await billing.add_agreement_version(
        session, a, effective_from=dt.date(2026, 10, 16), start_date=dt.date(2026, 4, 1), end_date=dt.date(2031, 3, 31),
        monthly_fee=Decimal(40000), included_contracts=10, extra_contract_price=Decimal(800), by=by,
    )  # fmt: skip
    # B: 30,000 yen, 5 included, 500 yen per extra; agreement from 1 October, live from the 10th.
    await billing.add_agreement_version(
        session, b, effective_from=dt.date(2026, 10, 1), start_date=dt.date(2026, 10, 1), end_date=dt.date(2031, 3, 31),
        monthly_fee=Decimal(30000), included_contracts=5, extra_contract_price=Decimal(500), by=by,
    )  # fmt: skip
    # C: has an agreement but is still in the sandbox: never billed.
    await billing.add_agreement_version(
        session, c, effective_from=dt.date(2026, 10, 1), start_date=dt.date(2026, 10, 1), end_date=dt.date(2031, 3, 31),
        monthly_fee=Decimal(20000), included_contracts=0, extra_contract_price=Decimal(300), by=by,
    )  # fmt: skip

    # B's trial runs before going live: test events, cleared at promotion.
    await _conclude(session, b, 3, 4)
    await stages.transition(session, b, MemberStatus.LIVE, by=by, effective_on=dt.date(2026, 10, 10))
    # A concludes 6 contracts on the 5th and 7 on the 20th (13 in all, live).
    await _conclude(session, a, 5, 6)
    await _conclude(session, a, 20, 7)
    # B concludes 7 contracts on the 12th (live now).
    await _conclude(session, b, 12, 7)
    # C concludes 9 in its sandbox (test).
    await _conclude(session, c, 15, 9)
    return c


async def test_month_charges_follow_the_hand_worked_figures(db_session: AsyncSession, two_members: TwoMembers) -> None:
    await _scenario(db_session, two_members)
    charges = await billing.compute_month(db_session, two_members.consortium.id, OCTOBER)
    got = [(c.member.name, c.quantity, int(c.unit_price), int(c.amount)) for c in charges]
    assert got == [
        # A, 1-15 Oct under the old price: floor(50,000 × 15 / 31) = floor(24,193.5…) = 24,193
        ("盛岡市", 1, 24193, 24193),
        # A, 16-31 Oct under the new price: floor(40,000 × 16 / 31) = floor(20,645.1…) = 20,645
        ("盛岡市", 1, 20645, 20645),
        # A concluded 13; the allowance on the last day (new terms) is 10. In order: 6 on the
        # 5th and 4 of the 20th are included; the other 3 (on the 20th) cost 800 each = 2,400
        ("盛岡市", 3, 800, 2400),
        # B, live 10-31 Oct = 22 days: floor(30,000 × 22 / 31) = floor(21,290.3…) = 21,290
        ("八幡平市", 1, 21290, 21290),
        # B concluded 7 live (its 4 trial runs were cleared at go-live); 5 included, 2 × 500 = 1,000
        ("八幡平市", 2, 500, 1000),
        # C (sandbox) has no line at all.
    ]


async def test_consolidated_invoice_numbered_without_gaps_and_immutable(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _scenario(db_session, two_members)
    group = two_members.consortium.id
    await billing.set_payer(db_session, group, two_members.a.id)  # Morioka pays for all (MOR-8)
    issued = await billing.issue_month(db_session, group, OCTOBER, by="test", issued_on=dt.date(2026, 11, 1))
    assert len(issued) == 1
    invoice = issued[0]
    assert invoice.number == 1
    assert invoice.payer_name == "盛岡市"
    # Subtotal: A 24,193 + 20,645 + 2,400 = 47,238; B 21,290 + 1,000 = 22,290; together 69,528.
    # Tax per invoice: floor(69,528 × 10 / 100) = floor(6,952.8) = 6,952. Total 76,480.
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal(69528), Decimal(6952), Decimal(76480))
    lines = (
        await db_session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.position)
        )
    ).all()
    assert [x.member_name for x in lines] == ["盛岡市", "盛岡市", "盛岡市", "八幡平市", "八幡平市"]
    assert "滝沢市" not in {x.member_name for x in lines}

    # Issuing the month again issues nothing.
    assert await billing.issue_month(db_session, group, OCTOBER, by="test") == []

    # A correction: a credit note (number 2) reverses it, then the month is issued again (number 3).
    credit = await billing.issue_credit_note(db_session, invoice.id, by="test", note="請求先の誤り")
    assert (credit.number, credit.kind, credit.total) == (2, InvoiceKind.CREDIT_NOTE, Decimal(-76480))
    await billing.set_payer(db_session, group, None)
    again = await billing.issue_month(db_session, group, OCTOBER, by="test")
    # Now each member pays for itself: A 47,238 + tax 4,723 (4,723.8 truncated) = 51,961;
    # B 22,290 + tax 2,229 = 24,519.
    assert sorted((i.number, i.payer_name, int(i.total)) for i in again) == [
        (3, "盛岡市", 51961),
        (4, "八幡平市", 24519),
    ]

    # A price change may not reach back into an invoiced month.
    with pytest.raises(billing.AgreementError, match="請求済み"):
        await billing.add_agreement_version(
            db_session, two_members.a, effective_from=dt.date(2026, 10, 20), start_date=dt.date(2026, 4, 1),
            end_date=dt.date(2031, 3, 31), monthly_fee=Decimal(1), included_contracts=0,
            extra_contract_price=Decimal(1), by="test",
        )  # fmt: skip
    with pytest.raises(billing.AgreementError, match="令和13年3月31日"):
        await billing.add_agreement_version(
            db_session, two_members.a, effective_from=dt.date(2026, 12, 1), start_date=dt.date(2026, 4, 1),
            end_date=dt.date(2031, 4, 1), monthly_fee=Decimal(1), included_contracts=0,
            extra_contract_price=Decimal(1), by="test",
        )  # fmt: skip

    # The application role cannot change an issued invoice.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db_session.begin_nested():
            await db_session.execute(
                Invoice.__table__.update().where(Invoice.id == invoice.id).values(total=0)  # type: ignore[attr-defined]
            )


def _pdf_text(pdf: bytes) -> str:
    shown = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return shown.stdout.decode()


def _amount_after(label: str, text: str) -> str:
    """The amount printed on the line of ``label`` in the PDF's text."""
    line = next(x for x in text.splitlines() if label in x)
    return line.split(label, 1)[1].split()[0]


def _expected_due(issued_on: dt.date) -> dt.date:
    """支払期限 of an October invoice: 30 November, or the end of the month after a later issue day."""
    if issued_on <= dt.date(2026, 11, 30):
        return dt.date(2026, 11, 30)
    following = (issued_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return (following + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


async def test_test_environment_usage_is_never_billed(db_session: AsyncSession, two_members: TwoMembers) -> None:
    c = await _scenario(db_session, two_members)
    async with elevated(db_session):
        events = (await db_session.scalars(select(UsageEvent).where(UsageEvent.member_id == c.id))).all()
    assert len(events) == 9
    assert {e.environment.value for e in events} == {"test"}
    charges = await billing.compute_month(db_session, two_members.consortium.id, OCTOBER)
    assert c.id not in {x.member.id for x in charges}


async def _assert_qualified_documents(client: AsyncTestClient, morioka: Invoice, due: str) -> None:
    """Morioka's October invoice, downloaded as PDF and CSV, is a qualified invoice with the same number."""
    pdf = await client.get(f"/secretariat/billing/invoices/{morioka.id}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="invoice-000001.pdf"' in pdf.headers["content-disposition"]
    shown = _pdf_text(pdf.content)
    assert "盛岡市 御中" in shown
    assert "請求書（適格請求書）" in shown
    assert "請求番号: 000001" in shown
    assert "共同電子契約サービス株式会社（デモ）" in shown
    assert "〒100-0000 東京都千代田区霞が関0丁目0番0号（デモ）" in shown
    assert "登録番号: T7123456789012" in shown
    assert "取引年月: 令和8年10月分" in shown
    assert f"お支払期限: {due}" in shown
    assert "お振込先: デモ銀行 本店営業部 普通 1234567 キョウドウデンシケイヤクサービス（カ" in shown
    # Per rate (every line of the service is 10 %): 47,238, tax floor(4,723.8) = 4,723; total 51,961.
    assert _amount_after("10%対象 小計（税抜）", shown) == "47,238円"
    assert _amount_after("消費税（10%）", shown) == "4,723円"
    assert _amount_after("合計（税込）", shown) == "51,961円"
    assert "8%対象" not in shown  # no reduced-rate line, no reduced-rate total
    assert "1円未満の端数を切り捨て" in shown

    download = await client.get(f"/secretariat/billing/invoices/{morioka.id}/csv")
    assert 'filename="invoice-000001.csv"' in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {r["請求番号"] for r in rows} == {"000001"}
    assert {r["登録番号"] for r in rows} == {"T7123456789012"}
    assert {r["支払期限"] for r in rows} == {_expected_due(morioka.issued_on).isoformat()}
    assert {r["振込先"] for r in rows} == {"デモ銀行 本店営業部 普通 1234567 キョウドウデンシケイヤクサービス（カ"}
    assert [(r["内容"], r["金額"], r["税率"]) for r in rows if not r["団体"]] == [
        ("10%対象 小計", "47238", "10%"),
        ("消費税（10%）", "4723", "10%"),
        ("小計", "47238", ""),
        ("消費税", "4723", ""),
        ("合計", "51961", ""),
    ]
    assert {r["税率"] for r in rows if r["団体"]} == {"10%"}


async def test_secretariat_issues_and_downloads_invoices(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _scenario(db_session, two_members)
    await sign_in(client, "jimukyoku")
    page = await client.get("/secretariat/billing/")
    assert page.status_code == 200
    assert "滝沢市" in page.text
    run = await client.post(
        "/secretariat/billing/run", data={"month": "2026-10", "_csrf_token": await csrf_token(client)}
    )
    assert run.status_code == 200
    invoices = (await db_session.scalars(select(Invoice).order_by(Invoice.number))).all()
    assert [(i.number, i.payer_name) for i in invoices] == [(1, "盛岡市"), (2, "八幡平市")]
    morioka = invoices[0]
    # The issuer as the settings say (the demo's), due at the end of the month after October,
    # or, issued after that day, at the end of the month after the day it was issued.
    assert morioka.registration_number == "T7123456789012"
    assert morioka.due_on == _expected_due(morioka.issued_on)
    due = format_date(_expected_due(morioka.issued_on), era=True, locale="ja")
    listing = await client.get("/secretariat/billing/")
    assert "T7123456789012" in listing.text
    assert "<td>000001</td>" in listing.text
    assert "<td>000002</td>" in listing.text
    assert due in listing.text

    await _assert_qualified_documents(client, morioka, due)

    # Another consortium's secretariat sees none of it.
    other = await f.consortium(db_session, "群馬県電子契約共同利用", slug="gunma")
    await f.secretariat(db_session, other, "gunma-jimukyoku")
    await sign_in(client, "gunma-jimukyoku")
    token = await csrf_token(client)
    assert (await client.get(f"/secretariat/billing/invoices/{invoices[0].id}/pdf")).status_code == 404
    assert (await client.get(f"/secretariat/billing/invoices/{invoices[0].id}/csv")).status_code == 404
    listing = await client.get("/secretariat/billing/")
    assert "盛岡市" not in listing.text
    credit = await client.post(
        f"/secretariat/billing/invoices/{invoices[0].id}/credit", data={"note": "x", "_csrf_token": token}
    )
    assert credit.status_code == 404
    agreement = await client.post(
        f"/secretariat/billing/agreements/{two_members.a.id}",
        data={
            "effective_from": "2026-12-01", "start_date": "2026-12-01", "end_date": "2027-03-31",
            "monthly_fee": "1", "included_contracts": "0", "extra_contract_price": "1", "_csrf_token": token,
        },
    )  # fmt: skip
    assert agreement.status_code == 404
    payer = await client.post("/secretariat/billing/payer", data={"payer": str(two_members.a.id), "_csrf_token": token})
    assert payer.status_code == 404
    # Running November for its own consortium issues nothing for Morioka's consortium.
    await client.post("/secretariat/billing/run", data={"month": "2026-11", "_csrf_token": token})
    assert await db_session.scalar(select(func.count()).select_from(Invoice)) == 2
    # Member staff never reach billing.
    await sign_in(client, "morioka-admin")
    assert (await client.get("/secretariat/billing/")).status_code == 403
    assert (await client.get(f"/secretariat/billing/invoices/{invoices[0].id}/pdf")).status_code == 403


def _kyodo_with(settings: Settings, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``kyodo …`` against ``settings``' database with some variables changed."""
    return subprocess.run(
        [sys.executable, "-m", "kyodo", *args],
        env={
            **os.environ,
            "KYODO_DATABASE_URL": settings.database.url,
            "KYODO_DATABASE_ADMIN_URL": settings.database.admin_url,
            "KYODO_REDIS_URL": settings.redis.url,
            "KYODO_DATA_DIR": str(settings.app.data_dir),
            **env,
        },
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def test_invoices_are_issued_on_the_first_in_japan() -> None:
    from celery.schedules import crontab

    from kyodo.celery_app import celery

    entry = celery.conf.beat_schedule["issue-invoices"]
    assert entry["task"] == "onboarding.issue_previous_month"
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)
    assert vars(schedule)["day_of_month"] == {1}
    assert str(celery.conf.timezone) == "Asia/Tokyo"


async def test_billing_run_command_issues_once(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with maker() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            await billing.add_agreement_version(
                session, a, effective_from=dt.date(2026, 4, 1), start_date=dt.date(2026, 4, 1),
                end_date=dt.date(2031, 3, 31), monthly_fee=Decimal(50000), included_contracts=10,
                extra_contract_price=Decimal(1000), by="test",
            )  # fmt: skip
            await session.commit()
        # Without a registration number: a plain refusal from the command (the other cases: test_issuer_settings_…).
        refused = _kyodo_with(
            fresh_database, {"KYODO_INVOICE_REGISTRATION_NUMBER": ""}, "billing", "run", "--month", "2026-10"
        )
        assert refused.returncode == 1, refused.stdout
        assert "請求書は発行できません" in refused.stderr
        assert "登録番号（KYODO_INVOICE_REGISTRATION_NUMBER）が設定されていません" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        first = _kyodo(fresh_database, "billing", "run", "--month", "2026-10")
        assert first.returncode == 0, first.stderr
        # 50,000 + tax 5,000 = 55,000
        assert "000001  盛岡市  55,000 円" in first.stdout
        again = _kyodo(fresh_database, "billing", "run", "--month", "2026-10")
        assert "0 invoice(s) issued for 2026-10" in again.stdout
        bad = _kyodo(fresh_database, "billing", "run", "--month", "October")
        assert bad.returncode != 0
        assert "YYYY-MM" in bad.stderr
        # A month that has not ended (or not begun) is never invoiced: a plain refusal, exit 1.
        this_month = today_jst().replace(day=1)
        for month in (this_month, dt.date(this_month.year + 1, 2, 1)):
            early = _kyodo(fresh_database, "billing", "run", "--month", f"{month:%Y-%m}")
            assert early.returncode == 1, early.stdout
            assert "once the month is over" in early.stderr or "終わって" in early.stderr, early.stderr
            assert "Traceback" not in early.stderr
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- qualified invoices


@pytest.mark.parametrize(
    ("unset", "said"),
    [
        ({"KYODO_INVOICE_REGISTRATION_NUMBER": "T8123456789012"}, "検査用数字が合いません"),
        ({"KYODO_INVOICE_REGISTRATION_NUMBER": "8123456789012"}, "T と13桁の数字"),
        ({"KYODO_INVOICE_BANK_ACCOUNT_NUMBER": ""}, "振込先口座が揃っていません。KYODO_INVOICE_BANK_ACCOUNT_NUMBER"),
        ({"KYODO_INVOICE_BANK_ACCOUNT_TYPE": "貯蓄"}, "「普通」か「当座」"),
    ],
)
def test_issuer_settings_that_cannot_make_a_qualified_invoice_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, unset: dict[str, str], said: str
) -> None:
    for name, value in unset.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(billing.IssuerIncomplete) as refused:
        billing.check_issuer(InvoiceSettings())
    assert "請求書は発行できません" in refused.value.message
    assert said in refused.value.message, refused.value.message


def test_registration_numbers_are_checked() -> None:
    # T and 13 digits; the first digit checks the other twelve (国税庁's 法人番号 7000012050002 is one).
    for good in ("T7123456789012", "T7000012050002", "Ｔ７１２３４５６７８９０１２", "T7-1234-5678-9012"):
        assert billing.registration_number_problem(good) is None, good
    assert "検査用数字が合いません" in (billing.registration_number_problem("T1123456789012") or "")
    assert "検査用数字が合いません" in (billing.registration_number_problem("T7123456789021") or "")
    for bad in ("7123456789012", "T712345678901", "T71234567890123", "X7123456789012", "T712345678901A"):
        assert "T と13桁の数字" in (billing.registration_number_problem(bad) or ""), bad


def test_tax_is_rounded_once_per_rate_and_each_rate_is_shown() -> None:
    # 10 %: 1,001 + 999 = 2,000 → 200. 8 %: 1,234 + 5 = 1,239 → floor(99.12) = 99
    # (rounding each line would give floor(98.72) + floor(0.4) = 98).
    lines = [(10, Decimal(1001)), (8, Decimal(1234)), (10, Decimal(999)), (8, Decimal(5))]
    assert billing.rate_totals(lines) == [
        {"rate": 10, "subtotal": 2000, "tax": 200},
        {"rate": 8, "subtotal": 1239, "tax": 99},
    ]
    # A credit note reverses with the same figures, negative.
    assert billing.rate_totals((r, -a) for r, a in lines) == [
        {"rate": 10, "subtotal": -2000, "tax": -200},
        {"rate": 8, "subtotal": -1239, "tax": -99},
    ]
    invoice = Invoice(
        number=7, kind=InvoiceKind.INVOICE, month=OCTOBER, payer_name="盛岡市", subtotal=Decimal(3239),
        tax=Decimal(299), total=Decimal(3538), issued_on=dt.date(2026, 11, 1), issued_by="test", note="",
        rate_totals=billing.rate_totals(lines), due_on=dt.date(2026, 11, 30), issuer_name="発行者",
        issuer_address="", registration_number="T7123456789012", bank_name="デモ銀行", bank_branch="本店",
        bank_account_type="当座", bank_account_number="7654321", bank_account_holder="ハッコウシャ",
    )  # fmt: skip
    rows = [
        InvoiceLine(position=i, member_ref_id=uuid.uuid4(), member_name="盛岡市", description=f"品目{i}",
                    quantity=1, unit_price=amount, amount=amount, tax_rate=rate)
        for i, (rate, amount) in enumerate(lines, start=1)
    ]  # fmt: skip
    shown = _pdf_text(invoice_pdf(invoice, rows))
    assert "請求番号: 000007" in shown
    assert _amount_after("10%対象 小計（税抜）", shown) == "2,000円"
    assert _amount_after("消費税（10%）", shown) == "200円"
    assert _amount_after("8%対象 小計（税抜）", shown) == "1,239円"
    assert _amount_after("消費税（8%）", shown) == "99円"
    assert _amount_after("合計（税込）", shown) == "3,538円"
    assert [line.split()[-1] for line in shown.splitlines() if "品目" in line] == ["10%", "8%※", "10%", "8%※"]
    assert "※は軽減税率（8%）対象です。" in shown
    assert "お振込先: デモ銀行 本店 当座 7654321 ハッコウシャ" in shown
    table = list(csv.DictReader(io.StringIO(invoice_csv(invoice, rows).decode("utf-8-sig"))))
    assert [r["税率"] for r in table if r["団体"]] == ["10%", "8%", "10%", "8%"]
    assert [(r["内容"], r["金額"]) for r in table if not r["団体"]][:4] == [
        ("10%対象 小計", "2000"), ("消費税（10%）", "200"), ("8%対象 小計", "1239"), ("消費税（8%）", "99"),
    ]  # fmt: skip
    assert {r["請求番号"] for r in table} == {"000007"}


def test_payment_is_due_at_the_end_of_the_following_month() -> None:
    assert billing.due_date(OCTOBER, dt.date(2026, 11, 1)) == dt.date(2026, 11, 30)
    assert billing.due_date(OCTOBER, dt.date(2026, 11, 30)) == dt.date(2026, 11, 30)
    assert billing.due_date(OCTOBER, dt.date(2026, 11, 1), 2) == dt.date(2026, 12, 31)
    assert billing.due_date(dt.date(2026, 12, 1), dt.date(2027, 1, 1)) == dt.date(2027, 1, 31)
    # Issued late (after the usual due day): the end of the month after the day it is issued.
    assert billing.due_date(OCTOBER, dt.date(2026, 12, 5)) == dt.date(2027, 1, 31)
    assert billing.due_date(dt.date(2027, 1, 1), dt.date(2027, 3, 2)) == dt.date(2027, 4, 30)


async def test_an_issued_invoice_keeps_the_issuer_it_was_issued_with(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _scenario(db_session, two_members)
    group = two_members.consortium.id
    then = InvoiceSettings(
        issuer_name="旧商号株式会社", issuer_address="岩手県紫波郡", registration_number="T7000012050002",
        bank_name="旧銀行", bank_branch="紫波支店", bank_account_type="当座", bank_account_number="0000123",
        bank_account_holder="キユウシヨウゴウ（カ", due_months=2,
    )  # fmt: skip
    issued = await billing.issue_month(
        db_session, group, OCTOBER, by="test", issued_on=dt.date(2026, 11, 2), issuer=then
    )
    invoice = next(i for i in issued if i.payer_name == "盛岡市")
    assert invoice.due_on == dt.date(2026, 12, 31)  # two months after October
    # The settings have changed since (the app runs with the demo's): the download shows what was issued.
    await sign_in(client, "jimukyoku")
    shown = _pdf_text((await client.get(f"/secretariat/billing/invoices/{invoice.id}/pdf")).content)
    assert "旧商号株式会社" in shown
    assert "登録番号: T7000012050002" in shown
    assert "お支払期限: 令和8年12月31日" in shown
    assert "発行日: 令和8年11月2日" in shown
    assert "お振込先: 旧銀行 紫波支店 当座 0000123 キユウシヨウゴウ（カ" in shown
    assert "T7123456789012" not in shown
    assert "デモ銀行" not in shown
    # A credit note today names the issuer as it is now, and asks for no payment.
    credit = await billing.issue_credit_note(db_session, invoice.id, by="test", note="商号変更前の請求")
    assert credit.registration_number == "T7123456789012"
    assert credit.due_on is None
    assert credit.rate_totals == [{"rate": 10, "subtotal": -47238, "tax": -4723}]
    credit_shown = _pdf_text((await client.get(f"/secretariat/billing/invoices/{credit.id}/pdf")).content)
    assert "クレジットノート（適格返還請求書）" in credit_shown
    assert "登録番号: T7123456789012" in credit_shown
    assert "お振込先" not in credit_shown
    assert "お支払期限" not in credit_shown
    assert _amount_after("消費税（10%）", credit_shown) == "-4,723円"


async def test_nothing_is_issued_without_a_registration_number(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _scenario(db_session, two_members)
    missing = InvoiceSettings(
        issuer_name="提供事業者", registration_number="", bank_name="", bank_branch="", bank_account_number="",
        bank_account_holder="",
    )  # fmt: skip
    with pytest.raises(billing.IssuerIncomplete) as refused:
        await billing.issue_month(db_session, two_members.consortium.id, OCTOBER, by="test", issuer=missing)
    assert "登録番号（KYODO_INVOICE_REGISTRATION_NUMBER）が設定されていません" in refused.value.message
    assert "振込先口座が揃っていません" in refused.value.message
    assert "KYODO_INVOICE_BANK_NAME" in refused.value.message
    assert await db_session.scalar(select(func.count()).select_from(Invoice)) == 0


async def test_the_secretariat_sees_why_invoices_cannot_be_issued(
    db_session: AsyncSession, db_connection: AsyncConnection, settings: Settings, two_members: TwoMembers
) -> None:
    from kyodo.app import create_app

    await _scenario(db_session, two_members)
    unregistered = dataclasses.replace(
        settings, invoice=dataclasses.replace(settings.invoice, registration_number="T7123456789013")
    )
    app = create_app(unregistered, session_maker=_session_maker(db_connection))
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "jimukyoku")
        page = await client.get("/secretariat/billing/")
        assert "登録番号「T7123456789013」は正しくありません" in page.text
        run = await client.post(
            "/secretariat/billing/run", data={"month": "2026-10", "_csrf_token": await csrf_token(client)}
        )
        assert run.status_code == 400
        assert "請求書は発行できません" in run.text
        assert "検査用数字が合いません" in run.text
        assert "Traceback" not in run.text
    assert await db_session.scalar(select(func.count()).select_from(Invoice)) == 0
