"""The screens a clerk uses without training, in a real browser: axe-core on every page, screenshots for review.

* a signer's start page lists the contract waiting for them; concluding asks first and names the title;
* a refused form keeps every entry and shows the reason next to its field;
* a contractor on a phone finds the certificate of conclusion of a concluded contract.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

import psycopg
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.settings import to_psycopg_url
from tenants.models import ContractTitle, Member, Staff
from tests import factories as f
from tests.e2e.conftest import ADMIN, Live, checked, horizontal_overflow
from tests.scope import system_access

SIGNER = "e2e-shocho"
CONTRACTOR_PASSWORD = "tel-5521-ok"


async def _signer(live: Live) -> str:
    """A staff member who concludes under the seeded title (市長); their id."""
    engine = create_async_engine(to_psycopg_url(live.settings.database.url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await system_access(session)
            title = await session.get(ContractTitle, uuid.UUID(live.title_id))
            assert title is not None
            member = await session.get(Member, title.member_id)
            assert member is not None
            existing = await session.scalar(select(Staff).where(Staff.login_id == SIGNER))
            if existing is not None:
                return str(existing.id)
            signer = await f.staff(session, member, SIGNER, roles=("signer",), name="盛岡 市長")
            await f.grant(session, signer, title)
            await session.commit()
            return str(signer.id)
    finally:
        await engine.dispose()


async def _contract(live: Live, subject: str, party: dict[str, object]) -> str:
    fields = {
        "subject": subject,
        "contract_number": f"R8-{secrets.randbelow(9000) + 1000}",
        "amount": "3300000",
        "transaction_date": "2026-12-01",
        "counterparty": "盛岡建設株式会社",
    }
    contract_id, _party_id = await live.contract(fields, ("契約書.pdf", f.pdf(1)), party)
    return contract_id


async def _sign_in(page: Page, live: Live, login_id: str) -> None:
    await page.goto(f"{live.url}/login")
    await checked(page, "login")
    await page.get_by_label("ログインID").fill(login_id)
    await page.get_by_label("パスワード", exact=True).fill(f.PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page.get_by_role("button", name="ログアウト")).to_be_visible()


async def test_a_signer_is_told_what_waits_and_confirms_before_concluding(live: Live, browser: Browser) -> None:
    signer_id = await _signer(live)
    contract_id = await _contract(
        live,
        "市道補修工事請負契約",
        {"kind": "staff", "staff_id": signer_id, "title_id": live.title_id},
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await _sign_in(page, live, SIGNER)
    # The start page is a to-do list: the contract waits for this signer's conclusion.
    await expect(page.get_by_role("heading", name="名義で締結する契約")).to_be_visible()
    waiting = page.locator("#todo-sign .todo-items a", has_text="市道補修工事請負契約")
    await expect(waiting).to_be_visible()
    await checked(page, "start-signer")

    await waiting.click()
    await expect(page.locator("#my-title")).to_contain_text("盛岡市長 内舘 茂")
    await checked(page, "contract-signer")
    await page.get_by_role("button", name="「市長」名義で締結する").click()
    # Asked first: what happens and under which title; nothing done yet.
    await expect(page.get_by_role("heading", level=1)).to_contain_text("を締結しますか")
    await expect(page.locator("#confirm-who")).to_contain_text("盛岡市長 内舘 茂")
    await checked(page, "confirm-sign")
    await page.locator("#confirm-button").click()
    await expect(page.locator("#flash")).to_contain_text("契約名義で締結しました")
    await checked(page, "contract-signed")
    await context.close()
    with psycopg.connect(live.settings.database.admin_url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT status FROM contract WHERE id = %s", (contract_id,)).fetchone()
    assert row == ("sealing",)


async def test_a_refused_form_keeps_every_entry(live: Live, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    await _sign_in(page, live, ADMIN)
    await checked(page, "start-admin")
    await page.goto(f"{live.url}/admin/staff")
    await checked(page, "staff")
    await page.locator("#s-login").fill(ADMIN)  # already taken
    await page.locator("#s-name").fill("重複 太郎")
    await page.locator("#s-email").fill("choufuku@example.lg.jp")
    await page.locator('form[action="/admin/staff"] button[type=submit]').click()
    error = page.locator(".field-error")
    await expect(error).to_contain_text(ADMIN)
    login = page.locator("#s-login")
    await expect(login).to_have_attribute("aria-invalid", "true")
    assert await login.get_attribute("aria-describedby") == await error.get_attribute("id")
    # Nothing typed is lost, and the page is the same form.
    await expect(login).to_have_value(ADMIN)
    await expect(page.locator("#s-name")).to_have_value("重複 太郎")
    await expect(page.locator("#s-email")).to_have_value("choufuku@example.lg.jp")
    assert page.url.endswith("/admin/staff")
    await checked(page, "staff-refused")
    await context.close()


async def test_a_contractor_finds_the_certificate_on_a_phone(live: Live, browser: Browser) -> None:
    contract_id = await _contract(
        live,
        "学校備品購入契約",
        {
            "kind": "contractor",
            "company": "盛岡建設株式会社",
            "name": "盛岡 次郎",
            "email": "jiro@morioka-kensetsu.example.jp",
            "password": CONTRACTOR_PASSWORD,
        },
    )
    # The contract as it is once sealed (the seal itself is tested with the sealing service): concluded,
    # and a link of the contractor's own that the conclusion mail would carry.
    token = secrets.token_urlsafe(32)
    with psycopg.connect(live.settings.database.admin_url.replace("+psycopg", "")) as conn:
        conn.execute(
            "UPDATE contract_party SET status = 'agreed', token_hash = %s, "
            "token_expires_at = now() + interval '30 days' WHERE contract_id = %s",
            (hashlib.sha256(token.encode()).hexdigest(), contract_id),
        )
        conn.execute("UPDATE contract SET status = 'concluded', concluded_at = now() WHERE id = %s", (contract_id,))
    async with async_playwright() as playwright:
        phone = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    context = await browser.new_context(**phone, locale="ja-JP")
    page = await context.new_page()
    await page.goto(f"{live.url}/c/{token}")
    await expect(page.locator("#who-asks")).to_contain_text("盛岡市")
    await checked(page, "contractor-gate-phone")
    await page.get_by_label("アクセスパスワード").fill(CONTRACTOR_PASSWORD)
    await page.get_by_role("button", name="契約書を開く").tap()
    link = page.locator("#certificate-link")
    await expect(link).to_be_visible()
    await expect(link).to_have_attribute("href", f"/c/{token}/certificate")
    assert await horizontal_overflow(page) is None
    await checked(page, "contractor-concluded-phone")
    await context.close()
