"""Contractor links lock after KYODO_CONTRACTOR_MAX_ATTEMPTS wrong passwords, also against parallel guesses.

A penetration test sent forty wrong access passwords for one contractor link at
once and every one of them was checked before the link locked: the failure
count on the party was read and written back without a lock. These tests send
the guesses the same way as the staff sign-in tests (tests/tenants/
test_lockout_race.py, whose uvicorn server they use): over real HTTP, at the
same time, to a real server working on a committed database of its own.

How many passwords were checked is read from the answers ("wrong password" is
only ever said after a check) and from the contract's audit trail and the
member's security log (one ``password_failed`` per check, one ``locked``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections import Counter

import httpx
import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Locked
from core.scope import Principal, PrincipalKind
from core.settings import Settings
from signing import services as svc
from signing.audit import Actor, verify_chains
from signing.models import AuditEvent, AuditKind, Party, PartyKind
from tenants import passwords
from tenants.models import Member, SecurityEvent, SecurityEventKind
from tenants.passwords import SecretKind, Verified, verify_password
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.pdfgen import make_pdf
from tests.signing.test_contractor_errors import _links, _sent
from tests.tenants.test_lockout_race import (  # noqa: F401 - the staff lock-out tests' uvicorn server and helpers
    Platform,
    _system_session,
    platform,
)

GUESSES = 20
ACCESS_PASSWORD = "tel-0198-ok"
GUESSED = "guessed@example.co.jp"
COLLEAGUE = "colleague@example.co.jp"
TOO_SHORT = "tel-019"  # 7 characters
REFUSED = "事業者のアクセスパスワードを8文字以上で設定してください。"


@dataclasses.dataclass
class Link:
    """A sent contract and the personal links of its two contractors (in parallel, order 1)."""

    contract_id: uuid.UUID
    member_id: uuid.UUID
    guessed: uuid.UUID
    guessed_token: str
    colleague_token: str


async def _sent_contract(settings: Settings) -> Link:
    """Committed on the platform's database: a contract of 盛岡市 sent to two contractors at once."""
    async with _system_session(settings) as session:
        member = await session.scalar(select(Member).where(Member.lg_code == "032018"))
        assert member is not None
        title = await f.title(session, member, "mayor", "市長", "盛岡市長 内舘 茂")
        drafter = await f.staff(session, member, "morioka-drafter", roles=("drafter",), name="起案 太郎")
        principal = Principal(
            kind=PrincipalKind.STAFF,
            id=drafter.id,
            name=drafter.name,
            consortium_id=member.consortium_id,
            member_id=member.id,
        )
        who = Actor(drafter.name)
        contract = await svc.create_contract(
            session,
            principal,
            svc.ContractInput(
                subject="除雪業務委託契約",
                title_id=title.id,
                amount=1_000_000,
                transaction_date=dt.date(2026, 4, 1),
                counterparty="岩手建設株式会社",
            ),
            who,
        )
        await svc.add_documents(session, settings, contract, [("契約書.pdf", make_pdf(1))], who)
        parties = [
            await svc.add_party(
                session,
                contract,
                svc.PartyInput(
                    order_no=1,
                    kind=PartyKind.CONTRACTOR,
                    company="岩手建設株式会社",
                    name=name,
                    email=email,
                    password=ACCESS_PASSWORD,
                ),
                who,
            )
            for name, email in (("岩手 一郎", GUESSED), ("岩手 花子", COLLEAGUE))
        ]
        await svc.send(session, settings, contract, who)
        # Links of their own (the mailed ones are only in the outbox, signed).
        tokens = [svc.issue_token(settings, party) for party in parties]
        await session.commit()
        return Link(contract.id, member.id, parties[0].id, *tokens)


def _answer(response: httpx.Response) -> str:
    if response.status_code == 303:
        return "opened"
    if response.status_code == 423:
        assert "ロックされました" in response.text, response.text[-1500:]
        return "locked"
    assert response.status_code == 400, (response.status_code, response.text[-6000:])
    assert "パスワードが正しくありません" in response.text, response.text[-1500:]
    return "wrong"


async def _enter_at_once(client: httpx.AsyncClient, token: str, passwords: list[str]) -> Counter[str]:
    """Post every password to the link's gate at the same time; count the answers."""
    csrf = client.cookies.get("kyodo_csrf")
    if csrf is None:
        await client.get(f"/c/{token}")
        csrf = client.cookies["kyodo_csrf"]
    responses = await asyncio.gather(
        *(
            client.post(
                f"/c/{token}/password", data={"password": password, "_csrf_token": csrf}, follow_redirects=False
            )
            for password in passwords
        )
    )
    return Counter(_answer(r) for r in responses)


@dataclasses.dataclass
class Recorded:
    audit: Counter[str]
    attempts: list[int]
    security: Counter[SecurityEventKind]
    failed_attempts: int
    locked: bool


async def _recorded(settings: Settings, link: Link) -> Recorded:
    async with _system_session(settings) as session:
        rows = (await session.scalars(select(AuditEvent).where(AuditEvent.contract_id == link.contract_id))).all()
        gate = {AuditKind.OPENED.value, AuditKind.PASSWORD_FAILED.value, AuditKind.LOCKED.value}
        mine = [r for r in rows if r.kind in gate and r.detail.get("party") == str(link.guessed)]
        security = Counter(await session.scalars(select(SecurityEvent.kind).where(SecurityEvent.subject == GUESSED)))
        party = await session.get(Party, link.guessed)
        assert party is not None
        assert await verify_chains(session, member_id=link.member_id) == []
        return Recorded(
            audit=Counter(r.kind for r in mine),
            attempts=sorted(int(str(r.detail["attempt"])) for r in mine if r.kind == AuditKind.PASSWORD_FAILED.value),
            security=security,
            failed_attempts=party.failed_attempts,
            locked=party.locked,
        )


async def test_parallel_wrong_passwords_lock_a_contractor_link_after_the_limit(
    platform: Platform,  # noqa: F811 - the fixture imported above
) -> None:
    settings = platform.settings
    limit = settings.contracts.contractor_max_attempts
    link = await _sent_contract(settings)
    wrong = [f"guess-{n:04d}" for n in range(GUESSES)]
    async with (
        httpx.AsyncClient(base_url=platform.url, timeout=120.0) as guesser,
        httpx.AsyncClient(base_url=platform.url, timeout=120.0) as colleague,
    ):
        # The other contractor of the same contract opens their link while the guesses are answered.
        answers, other = await asyncio.gather(
            _enter_at_once(guesser, link.guessed_token, wrong),
            _enter_at_once(colleague, link.colleague_token, [ACCESS_PASSWORD]),
        )
        # limit checks: limit - 1 "wrong password", the last of them locks; the rest are never checked.
        assert answers == Counter({"wrong": limit - 1, "locked": GUESSES - (limit - 1)}), answers
        assert other == Counter({"opened": 1})
        recorded = await _recorded(settings, link)
        assert recorded.attempts == list(range(1, limit + 1))
        assert recorded.audit == Counter({AuditKind.PASSWORD_FAILED.value: limit, AuditKind.LOCKED.value: 1})
        assert recorded.security == Counter(
            {SecurityEventKind.CONTRACTOR_PASSWORD_FAILED: limit, SecurityEventKind.CONTRACTOR_LOCKED: 1}
        )
        assert (recorded.failed_attempts, recorded.locked) == (limit, True)

        # The right password, alone or among more guesses, is refused now, and nothing more is counted.
        assert await _enter_at_once(guesser, link.guessed_token, [ACCESS_PASSWORD]) == Counter({"locked": 1})
        assert await _enter_at_once(guesser, link.guessed_token, [ACCESS_PASSWORD, *wrong]) == Counter(
            {"locked": GUESSES + 1}
        )
        assert (await guesser.get(f"/c/{link.guessed_token}")).status_code == 423
        assert await _recorded(settings, link) == recorded


# --------------------------------------------------------------------------- one attempt at a time


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_passwords_are_checked_and_hashed_off_the_event_loop(
    client: AsyncTestClient,
    office: Office,
    db_session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Argon2 takes ~160 ms of CPU: on the event loop, guesses would hold up every other request."""
    contract_id = await _sent(client, office)
    token = (await _links(db_session, settings))["first@example.co.jp"]
    # Whether each Argon2 call ran on an event loop (the test client serves the
    # application on a loop in a thread of its own, so thread identities say nothing).
    checked_on_loop: list[bool] = []
    hashed_on_loop: list[bool] = []

    checks, hashes = passwords._verify, passwords.hash_password

    def checking(password_hash: str | None, password: str, kind: SecretKind, *, rehash: bool) -> Verified:
        checked_on_loop.append(_on_an_event_loop())
        return checks(password_hash, password, kind, rehash=rehash)

    def hashing(password: str, kind: SecretKind = SecretKind.STAFF) -> str:
        hashed_on_loop.append(_on_an_event_loop())
        return hashes(password, kind)

    # Where the link's password check and drafting's password setting end up.
    monkeypatch.setattr(passwords, "_verify", checking)
    monkeypatch.setattr(passwords, "hash_password", hashing)
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    for password, status in (("wrong-one", 400), ("secret-pw", 303)):
        response = await client.post(
            f"/c/{token}/password", data={"password": password, "_csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == status, response.text
    party = await db_session.scalar(select(Party).where(Party.email == "first@example.co.jp"))
    assert party is not None
    reset = await client.post(
        f"/api/v1/contracts/{contract_id}/parties/{party.id}/password",
        headers={"Authorization": f"Bearer {office.key_a}"},
        json={"password": "new-pass-1"},
    )
    assert reset.status_code == 200, reset.text
    assert checked_on_loop == [False, False]
    assert hashed_on_loop == [False]


async def _party(session: AsyncSession, email: str) -> Party:
    await system_access(session)
    session.expire_all()
    party = await session.scalar(select(Party).where(Party.email == email))
    assert party is not None
    return party


async def _attempt(session: AsyncSession, settings: Settings, email: str, password: str) -> bool | None:
    """One attempt through the service; None when the link is locked and nothing was checked."""
    party = await _party(session, email)
    contract = await svc.get_contract(session, party.contract_id)
    party = next(p for p in contract.parties if p.id == party.id)
    try:
        ok = await svc.check_contractor_password(
            session, settings, party=party, contract=contract, password=password, who=Actor("事業者")
        )
    except Locked:
        locked = 423
    else:
        await session.commit()
        return ok
    assert locked == 423
    return None


async def test_the_right_password_resets_the_count_and_the_last_allowed_one_still_opens(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    await _sent(client, office)
    first = "first@example.co.jp"
    limit = settings.contracts.contractor_max_attempts
    for _ in range(limit - 1):
        assert await _attempt(db_session, settings, first, "wrong-one") is False
    assert (await _party(db_session, first)).failed_attempts == limit - 1
    # The last allowed check is the right password: it opens, and the lock its claim set is cleared.
    assert await _attempt(db_session, settings, first, "secret-pw") is True
    party = await _party(db_session, first)
    assert (party.failed_attempts, party.locked) == (0, False)
    for _ in range(limit - 1):
        assert await _attempt(db_session, settings, first, "wrong-one") is False
    assert await _attempt(db_session, settings, first, "wrong-one") is False
    assert await _attempt(db_session, settings, first, "secret-pw") is None
    party = await _party(db_session, first)
    assert (party.failed_attempts, party.locked) == (limit, True)


async def test_a_new_password_clears_a_count_raised_after_the_page_was_read(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    await _sent(client, office)
    party = await _party(db_session, "first@example.co.jp")
    contract = await svc.get_contract(db_session, party.contract_id)
    party = next(p for p in contract.parties if p.id == party.id)
    assert (party.failed_attempts, party.locked) == (0, False)
    # Guesses counted and the link locked by other requests once staff had the contract loaded.
    await db_session.execute(
        update(Party)
        .where(Party.id == party.id)
        .values(failed_attempts=5, locked=True)
        .execution_options(synchronize_session=False)
    )
    await svc.set_party_password(db_session, contract, party, "tel-0422-new", Actor("起案 太郎"))
    await db_session.commit()
    party = await _party(db_session, "first@example.co.jp")
    assert (party.failed_attempts, party.locked) == (0, False)
    assert verify_password(party.password_hash, "tel-0422-new")


# --------------------------------------------------------------------------- eight characters at least


async def _draft(client: AsyncTestClient, office: Office) -> str:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={
            "subject": "備品購入契約",
            "title_id": str(office.title_a.id),
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_seven_character_access_password_is_refused_in_japanese(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    contract_id = await _draft(client, office)

    def contractor(email: str, password: str) -> dict[str, str | int]:
        return {"order_no": 1, "kind": "contractor", "name": "担当", "email": email, "password": password}

    # The API (PartyIn).
    short = await client.post(
        f"/api/v1/contracts/{contract_id}/parties", headers=api, json=contractor("a@example.co.jp", TOO_SHORT)
    )
    assert short.status_code == 400, short.text
    assert short.json()["detail"] == REFUSED
    added = await client.post(
        f"/api/v1/contracts/{contract_id}/parties", headers=api, json=contractor("a@example.co.jp", "tel-0198")
    )
    assert added.status_code == 201, added.text
    party_id = added.json()["id"]

    # The contract page's add-contractor form.
    await sign_in(client, "morioka-drafter")
    csrf = await csrf_token(client)
    form = {"kind": "contractor", "order_no": "2", "name": "担当", "email": "b@example.co.jp", "_csrf_token": csrf}
    refused = await client.post(f"/contracts/{contract_id}/parties", data={**form, "password": TOO_SHORT})
    assert refused.status_code == 400
    assert REFUSED in refused.text
    accepted = await client.post(
        f"/contracts/{contract_id}/parties", data={**form, "password": "tel-0199"}, follow_redirects=False
    )
    assert accepted.status_code == 303, accepted.text

    # The "set a new password" screen (its field says 8 too) and its API.
    screen = f"/contracts/{contract_id}/parties/{party_id}/password"
    page = await client.get(screen)
    field = BeautifulSoup(page.text, "html.parser").find("input", attrs={"name": "password"})
    assert field is not None
    assert field["minlength"] == "8"
    assert "8文字以上" in page.text
    refused = await client.post(screen, data={"password": TOO_SHORT, "_csrf_token": csrf})
    assert refused.status_code == 400
    assert REFUSED in refused.text
    api_refused = await client.post(
        f"/api/v1/contracts/{contract_id}/parties/{party_id}/password", headers=api, json={"password": TOO_SHORT}
    )
    assert api_refused.status_code == 400
    assert api_refused.json()["detail"] == REFUSED
    party = await _party(db_session, "a@example.co.jp")
    assert verify_password(party.password_hash, "tel-0198")
    assert not verify_password(party.password_hash, TOO_SHORT)
    done = await client.post(screen, data={"password": "tel-0200", "_csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert verify_password((await _party(db_session, "a@example.co.jp")).password_hash, "tel-0200")


def test_the_suggested_password_is_long_enough() -> None:
    assert svc.MIN_CONTRACTOR_PASSWORD == 8
    assert len(svc.suggested_password()) >= svc.MIN_CONTRACTOR_PASSWORD
    assert len(svc.suggested_password(4)) >= svc.MIN_CONTRACTOR_PASSWORD
