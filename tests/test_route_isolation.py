"""Every route of the app, taken from the router, walked as member A's staff against member B.

For each route and method the walker fills every path parameter with the ids of
member B's rows and checks that
* nothing of member B is shown (B's names, login IDs and other text never appear);
* nothing of member B changes (a snapshot of every member-owned row of B is
  compared before and after all unsafe requests);
* the secretariat, walking the same routes, reads no contract content.

Routes are read from ``app.routes``, so a route added later is walked without
changing this file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import uuid
from collections.abc import Iterable
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import member_owned_tables
from kyodo.models import metadata
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.scope import system_access

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Paths that do not belong to a member: public, probes and sign-in.
SKIP_PREFIXES = ("/static", "/schema", "/health", "/login", "/logout", "/language", "/calendar")
# Words that are contract content (documents, parties, text boxes): the
# secretariat must never read them.
CONTENT_TABLES = ("contract", "contract_document", "contract_party", "contract_text_box", "contract_audit_event")
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
# Path parameters whose table is not simply the parameter's name without "_id".
_TABLE_OF_PARAM = {
    "document": "contract_document",
    "party": "contract_party",
    "text_box": "contract_text_box",
    "endpoint": "webhook_endpoint",
    "delivery": "webhook_delivery",
    "address": "notification_address",
    "release": "report_release",
    "batch": "bulk_batch",
}


async def _member_rows(session: AsyncSession, member_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    await system_access(session)
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in member_owned_tables(metadata):
        result = await session.execute(
            text(f'SELECT * FROM "{table}" WHERE member_id = :m ORDER BY 1'), {"m": member_id}
        )
        rows[table] = [dict(r._mapping) for r in result]
    return rows


def _fingerprint(rows: dict[str, list[dict[str, Any]]]) -> str:
    return hashlib.sha256(
        repr(sorted((t, [sorted(r.items()) for r in v]) for t, v in rows.items())).encode()
    ).hexdigest()


def _markers(rows: dict[str, list[dict[str, Any]]], extra: Iterable[str]) -> set[str]:
    """Distinctive strings of member B that must never reach member A."""
    found = set(extra)
    for table_rows in rows.values():
        for row in table_rows:
            for key, value in row.items():
                # Enumerated values ("member", "active", …) are the same for everyone.
                enum_like = isinstance(value, str) and re.fullmatch(r"[a-z_]+", value) is not None
                if isinstance(value, str) and len(value) >= 6 and not enum_like:
                    if not value.startswith(("role:", "staff:", "apikey:")):
                        found.add(value)
                elif isinstance(value, uuid.UUID) and key == "id":
                    found.add(str(value))
    return found


def _is_content(value: object) -> bool:
    """A distinctive string of contract content (not an enumerated value such as ``contractor``)."""
    return isinstance(value, str) and len(value) >= 6 and re.fullmatch(r"[a-z_]+", value) is None


def _routes(app: Litestar) -> list[tuple[str, str, list[tuple[str, str]]]]:
    walked: list[tuple[str, str, list[tuple[str, str]]]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(SKIP_PREFIXES):
            continue
        params = [(m.group(1), m.group(2) or "str") for m in _PARAM.finditer(route.path)]
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            walked.append((method, route.path, params))
    return walked


def _fill(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: values[m.group(1)], path)


def _candidates(param: str, kind: str, ids: dict[str, list[str]]) -> list[str]:
    if kind != "uuid":
        return ["1"] if kind == "int" else ["x"]
    table = param.removesuffix("_id")
    table = _TABLE_OF_PARAM.get(table, table)
    if ids.get(table):
        return ids[table][:3]
    every = [i for values in ids.values() for i in values[:2]]
    return every[:12] or [str(uuid.uuid4())]


async def _populate_member_b(session: AsyncSession, setup: TwoMembers) -> None:
    b = setup.b
    kikaku = await f.department(session, b, "HB-KIKAKU", "八幡平企画調整課")
    await f.department(session, b, "HB-KEIYAKU", "八幡平契約検査係", parent=kikaku)
    signer = await f.staff(session, b, "hachimantai-signer", roles=("signer",), department=kikaku)
    await f.staff(session, b, "hachimantai-viewer", roles=("viewer",))
    mayor = await f.title(session, b, "MAYOR", "八幡平市長", "八幡平市長 佐々木孝弘")
    await f.grant(session, signer, mayor)
    await f.ip_range(session, b, "10.98.0.0/16")
    await _integrations_of_b(session, b, kikaku)
    await _incident_report_of_b(session, setup)
    await _contracts_of_b(session, setup, mayor, signer)


async def _integrations_of_b(session: AsyncSession, b: Any, department: Any) -> None:
    """A webhook of member B (its deliveries come with B's contracts) and a notification address."""
    from core.settings import get_settings
    from signing.webhooks import WebhookEndpoint, new_secret, seal_secret
    from tenants.notification_addresses import NotificationAddress, RouteMode

    session.add(
        WebhookEndpoint(
            member_id=b.id,
            label="八幡平財務会計システム",
            url="https://zaimu.hachimantai.example.jp/kyodo",
            events=["sent", "agreed"],
            sealed_secret=seal_secret(get_settings(), new_secret()),
            active=True,
            disabled_reason="",
        )
    )
    session.add(
        NotificationAddress(
            member_id=b.id,
            department_id=department.id,
            email="kikaku@city.hachimantai.example.jp",
            notices=["request_staff"],
            mode=RouteMode.INSTEAD,
        )
    )
    await session.flush()


async def _incident_report_of_b(session: AsyncSession, setup: TwoMembers) -> None:
    """An incident reported by member B's administrator (障害申告), and a draft section of B's monthly report."""
    from core.scope import Principal, PrincipalKind
    from core.settings import get_settings
    from reporting.services import add_release, report_incident

    await system_access(session)
    admin = setup.admin_b
    principal = Principal(
        kind=PrincipalKind.STAFF,
        id=admin.id,
        name="八幡平 管理者",
        consortium_id=setup.consortium.id,
        member_id=setup.b.id,
        member_name=setup.b.name,
    )
    await report_incident(
        session,
        get_settings(),
        principal,
        what="八幡平市の起案画面で保存できない",
        since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        affected="八幡平市庁舎清掃業務委託の下書き",
        urgency="high",
        phone="0195-74-2111",
    )
    last_month = (dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    await add_release(
        session,
        setup.b.id,
        last_month,
        released_on=last_month,
        change="八幡平市向けの帳票様式を更新",
        impact="八幡平市の契約書様式のみ",
        by="運用 太郎",
    )


async def _contracts_of_b(session: AsyncSession, setup: TwoMembers, mayor: Any, signer: Any) -> None:
    """Member B's contracts with every kind of row: a file, parties, a filled box, a trail; one could not be sealed."""
    from core.scope import Principal, PrincipalKind
    from core.settings import get_settings
    from signing import services as svc
    from signing.audit import Actor
    from signing.models import ContractStatus, PartyKind
    from tests.signing.pdfgen import make_pdf

    await system_access(session)
    settings = get_settings()
    drafter = await f.staff(session, setup.b, "hachimantai-drafter", roles=("drafter",))
    principal = Principal(
        kind=PrincipalKind.STAFF,
        id=drafter.id,
        name=drafter.name,
        consortium_id=setup.consortium.id,
        member_id=setup.b.id,
    )
    who = Actor("八幡平 起案")
    for n, subject in enumerate(("八幡平市庁舎清掃業務委託", "八幡平市給食センター改修工事")):
        contract = await svc.create_contract(
            session,
            principal,
            svc.ContractInput(
                subject=subject,
                title_id=mayor.id,
                contract_number=f"八総第{n + 1}号",
                amount=4_321_000,
                transaction_date=dt.date(2026, 4, 1),
                counterparty="岩手建設株式会社",
            ),
            who,
        )
        (document,) = await svc.add_documents(session, settings, contract, [(f"八幡平契約書{n}.pdf", make_pdf(1))], who)
        contractor = await svc.add_party(
            session,
            contract,
            svc.PartyInput(
                order_no=1,
                kind=PartyKind.CONTRACTOR,
                company="岩手清掃サービス株式会社",
                name="佐々木 花子",
                email=f"sasaki{n}@iwate-seiso.example.jp",
                password="hachimantai-pass",
            ),
            who,
        )
        await svc.add_party(
            session,
            contract,
            svc.PartyInput(
                order_no=2,
                kind=PartyKind.STAFF,
                name=signer.name,
                email=signer.email,
                staff_id=signer.id,
                title_id=mayor.id,
            ),
            who,
        )
        box = await svc.add_text_box(
            session,
            contract,
            svc.TextBoxInput(
                document_id=document.id,
                party_id=contractor.id,
                page=0,
                x=72,
                y=90,
                width=200,
                height=22,
                label="受託者名",
            ),
            who,
        )
        await svc.send(session, settings, contract, who)
        await svc.agree(
            session,
            settings,
            contract=contract,
            party=contractor,
            values={str(box.id): "岩手清掃サービス株式会社"},
            who=Actor("佐々木 花子"),
        )
        if n == 1:
            contract.status = ContractStatus.SEAL_FAILED
            contract.seal_failure = {"reason": "characters", "text_box_id": str(box.id), "label": "受託者名"}
    await _bulk_batch_of_b(session, setup, drafter, contract)
    await session.flush()


async def _bulk_batch_of_b(session: AsyncSession, setup: TwoMembers, drafter: Any, contract: Any) -> None:
    """A finished bulk sending of member B's drafter, its passwords not yet seen (A must reach neither)."""
    from signing.models import BulkBatch, BulkBatchRow, BulkBatchStatus, BulkRowState

    batch = BulkBatch(
        member_id=setup.b.id,
        draft_id=contract.id,
        draft_subject="八幡平市一括送信の下書き",
        started_by=f"staff:{drafter.id}",
        started_by_name=drafter.name,
        status=BulkBatchStatus.DONE,
        row_count=1,
        sent_count=1,
        passwords_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
        sealed_passwords=b"sealed-passwords-of-hachimantai",
    )
    session.add(batch)
    await session.flush()
    session.add(
        BulkBatchRow(
            member_id=setup.b.id,
            batch_id=batch.id,
            line=2,
            data={
                "company": "八幡平一括商事株式会社",
                "person": "一括 太郎",
                "email": "ikkatsu@hachimantai.example.jp",
            },
            state=BulkRowState.SENT,
            contract_id=contract.id,
            contract_number="八総第99号",
        )
    )


async def _concluded_contract_of_b(session: AsyncSession, setup: TwoMembers) -> None:
    """A concluded contract of member B, so that contract content exists to be leaked (or not)."""
    from signing.models import Contract, ContractStatus

    await system_access(session)
    title = await f.title(session, setup.b, "WATER", "上下水道事業管理者", "八幡平市上下水道事業管理者 田村 誠")
    concluded = dt.datetime.now(dt.UTC) - dt.timedelta(days=35)
    session.add(
        Contract(
            member_id=setup.b.id,
            title_id=title.id,
            subject="八幡平市道路補修工事（第3工区）",
            contract_number="八建第2026-0815号",
            amount=12_345_678,
            counterparty="岩手道路建設株式会社",
            file_names="道路補修工事請負契約書.pdf",
            status=ContractStatus.CONCLUDED,
            concluded_at=concluded,
        )
    )
    await session.flush()


async def test_member_a_can_neither_see_nor_change_member_b(
    app: Litestar, client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _populate_member_b(db_session, two_members)
    before = await _member_rows(db_session, two_members.b.id)
    ids = {t: [str(r["id"]) for r in rows if "id" in r] for t, rows in before.items()}
    markers = _markers(before, [two_members.b.name, two_members.b.lg_code])
    # The first event of every trail chain links to the same genesis hash, B's as A's (signing.audit.GENESIS).
    markers -= {"example.lg.jp", "0" * 64}
    await sign_in(client, "morioka-admin")
    csrf = str(client.cookies.get("kyodo_csrf", ""))
    leaks: list[str] = []
    statuses: dict[str, int] = {}
    for method, path, params in _routes(app):
        choices = [[(name, v) for v in _candidates(name, kind, ids)] for name, kind in params]
        combos = [dict(c) for c in _product(choices)]
        for values in combos[:12]:
            url = _fill(path, values)
            headers = {"x-csrftoken": csrf}
            if method == "GET":
                response = await client.get(url, follow_redirects=False)
            else:
                response = await client.request(
                    method, url, data={"_csrf_token": csrf}, headers=headers, follow_redirects=False
                )
            statuses[f"{method} {url}"] = response.status_code
            body = response.text
            # An id the caller put in the URL may be echoed back ("not found: <id>").
            leaked = sorted(m for m in markers if m in body and m not in url)
            if leaked:
                leaks.append(f"{method} {url} -> {response.status_code}: {leaked[:3]}")
    assert statuses, "no route was walked"
    assert not leaks, "member B's data reached member A:\n" + "\n".join(leaks)
    after = await _member_rows(db_session, two_members.b.id)
    assert _fingerprint(after) == _fingerprint(before), "a request of member A changed member B's data"


async def test_the_secretariat_reads_no_contract_content(
    app: Litestar, client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await _populate_member_b(db_session, two_members)
    await _concluded_contract_of_b(db_session, two_members)
    await system_access(db_session)
    content: set[str] = set()
    for table in CONTENT_TABLES:
        if table in metadata.tables:
            result = await db_session.execute(text(f'SELECT * FROM "{table}"'))
            for row in result:
                content |= {v for v in row._mapping.values() if _is_content(v)}
    assert "岩手道路建設株式会社" in content
    rows = await _member_rows(db_session, two_members.b.id)
    ids = {t: [str(r["id"]) for r in rs if "id" in r] for t, rs in rows.items()}
    await sign_in(client, "jimukyoku")
    leaks = []
    walked = 0
    for method, path, params in _routes(app):
        if method != "GET":
            continue
        choices = [[(name, v) for v in _candidates(name, kind, ids)] for name, kind in params]
        for values in [dict(c) for c in _product(choices)][:6]:
            response = await client.get(_fill(path, values), follow_redirects=False)
            walked += 1
            leaked = sorted(m for m in content if m in response.text)
            if leaked:
                leaks.append(f"GET {path} -> {leaked[:3]}")
    assert walked
    assert not leaks, "\n".join(leaks)


def _product(choices: list[list[tuple[str, str]]]) -> Iterable[tuple[tuple[str, str], ...]]:
    return itertools.product(*choices)


async def test_the_operator_reads_no_contract_content_and_changes_no_member_data(
    app: Litestar, client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    """Operators work on figures, incidents and maintenance: contracts stay closed to them."""
    await _populate_member_b(db_session, two_members)
    await _concluded_contract_of_b(db_session, two_members)
    await system_access(db_session)
    content: set[str] = set()
    for table in CONTENT_TABLES:
        if table in metadata.tables:
            result = await db_session.execute(text(f'SELECT * FROM "{table}"'))
            for row in result:
                content |= {v for v in row._mapping.values() if _is_content(v)}
    assert "岩手道路建設株式会社" in content
    before = await _member_rows(db_session, two_members.b.id)
    ids = {t: [str(r["id"]) for r in rs if "id" in r] for t, rs in before.items()}
    await f.operator(db_session)
    await sign_in(client, "kyodo-unyo")
    csrf = str(client.cookies.get("kyodo_csrf", ""))
    leaks = []
    walked = 0
    for method, path, params in _routes(app):
        choices = [[(name, v) for v in _candidates(name, kind, ids)] for name, kind in params]
        for values in [dict(c) for c in _product(choices)][:6]:
            url = _fill(path, values)
            if method == "GET":
                response = await client.get(url, follow_redirects=False)
            elif path.startswith("/operator"):
                continue  # the operator's own work: tested in tests/reporting/test_operator_screens.py
            else:
                response = await client.request(
                    method, url, data={"_csrf_token": csrf}, headers={"x-csrftoken": csrf}, follow_redirects=False
                )
            walked += 1
            leaked = sorted(m for m in content if m in response.text)
            if leaked:
                leaks.append(f"{method} {path} -> {leaked[:3]}")
    assert walked
    assert not leaks, "\n".join(leaks)
    after = await _member_rows(db_session, two_members.b.id)
    assert _fingerprint(after) == _fingerprint(before), "an operator request changed a member's data"
