"""Search keys that hold up in law (LAW-1, LAW-2): required before sending, corrected with history, found.

取引年月日, amount and counterparty must be there before a contract is sent; a
concluded contract's keys are corrected only by a role holding
``contract:correct``, with a reason, each correction an audit event
(before → after), shown on the contract page and in the CSV, and the search
finds the current value.
"""

from __future__ import annotations

import csv
import io

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings, SigningSettings
from signing.models import AuditEvent, AuditKind
from signing.seal_service import SealerPool
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.scope import system_access
from tests.signing.concluded import concluded
from tests.signing.conftest import Office


@pytest.fixture
def pool(signing_settings: SigningSettings) -> SealerPool:
    return SealerPool(signing_settings)


async def _draft(client: AsyncTestClient, office: Office, **fields: str) -> str:
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={"subject": "庁舎清掃業務委託", "title_id": str(office.title_a.id), **fields},
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    contract_id = str(created.json()["id"])
    party = await client.post(
        f"/api/v1/contracts/{contract_id}/parties",
        headers=api,
        json={"order_no": 1, "kind": "contractor", "name": "担当", "email": "c@example.co.jp", "password": "secret-pw"},
    )
    assert party.status_code == 201, party.text
    return contract_id


async def test_a_contract_is_not_sent_without_its_search_keys(client: AsyncTestClient, office: Office) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    contract_id = await _draft(client, office, counterparty="岩手清掃株式会社")
    refused = await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert "取引年月日、金額" in detail
    assert "取引先" not in detail.split("を入力")[0]
    assert (await client.get(f"/api/v1/contracts/{contract_id}/status", headers=api)).json()["status"] == "draft"
    complete = await _draft(
        client, office, counterparty="岩手清掃株式会社", amount="４８０，０００", transaction_date="令和8年4月1日"
    )
    shown = (await client.get(f"/api/v1/contracts/{complete}", headers=api)).json()
    assert (shown["amount"], shown["transaction_date"]) == (480000, "2026-04-01")
    sent = await client.post(f"/api/v1/contracts/{complete}/send", headers=api)
    assert sent.status_code == 200, sent.text


async def test_a_concluded_contracts_keys_are_corrected_with_a_reason_and_kept_in_its_history(  # noqa: PLR0915 - one story
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    a = office.members.a
    # Made before the first request, as keys are made before other systems use them.
    api = {"Authorization": f"Bearer {await f.api_key(db_session, a, roles=('admin',))}"}
    contract = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=a,
        title=office.title_a,
        subject="道路補修工事",
        email="c@example.co.jp",
        counterparty="岩手建設",
        number="盛岡道第12号",
    )
    base = f"/contracts/{contract.id}"

    # A drafter may not correct a concluded contract.
    await sign_in(client, "morioka-drafter")
    assert (await client.get(f"{base}/record")).status_code == 403
    page = await client.get(base)
    assert f"{base}/record" not in page.text
    csrf = await csrf_token(client)
    refused = await client.post(
        f"{base}/corrections",
        data={"_csrf_token": csrf, "transaction_date": "2026-04-10", "amount": "1", "counterparty": "x", "reason": "r"},
    )
    assert refused.status_code == 403

    await sign_in(client, "morioka-admin")
    csrf = await csrf_token(client)
    assert f"{base}/record" in (await client.get(base)).text
    form = {
        "_csrf_token": csrf,
        "transaction_date": "R8.4.10",
        "amount": "１，３２０，０００",
        "counterparty": "岩手建設株式会社",
        "contract_number": "盛岡道第12号",
    }
    # Without a reason nothing changes, and the form comes back as typed.
    no_reason = await client.post(f"{base}/corrections", data={**form, "reason": "  "})
    assert no_reason.status_code == 400
    assert "訂正の理由を入力してください" in no_reason.text
    assert 'value="１，３２０，０００"' in no_reason.text
    emptied = await client.post(f"{base}/corrections", data={**form, "counterparty": "", "reason": "誤記"})
    assert emptied.status_code == 400
    assert "取引先は契約書の検索キーのため、空にできません" in emptied.text

    done = await client.post(
        f"{base}/corrections", data={**form, "reason": "変更契約の締結による"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    await db_session.refresh(contract)
    assert (contract.amount, contract.transaction_date.isoformat() if contract.transaction_date else None) == (
        1_320_000,
        "2026-04-10",
    )
    assert contract.counterparty == "岩手建設株式会社"
    event = await db_session.scalar(
        select(AuditEvent).where(AuditEvent.contract_id == contract.id, AuditEvent.kind == AuditKind.CORRECTED)
    )
    assert event is not None
    assert event.detail["reason"] == "変更契約の締結による"
    assert event.detail["changes"] == {
        "transaction_date": {"before": "2026-04-01", "after": "2026-04-10"},
        "amount": {"before": 1_200_000, "after": 1_320_000},
        "counterparty": {"before": "岩手建設", "after": "岩手建設株式会社"},
    }
    assert str(office.members.admin_a.id) in event.actor
    # Nothing changed is no correction.
    same = await client.post(f"{base}/corrections", data={**form, "reason": "再送"})
    assert same.status_code == 400
    assert "変更された項目がありません" in same.text

    page = await client.get(base)
    assert "管理情報の訂正履歴" in page.text
    assert "金額: 1200000 → 1320000" in page.text
    assert "変更契約の締結による" in page.text

    # The search finds the current value, not the old one; the CSV carries the history.
    found = await client.get("/contracts/", params={"counterparty": "岩手建設株式会社", "date_from": "R8.4.10"})
    assert "道路補修工事" in found.text
    gone = await client.get("/contracts/", params={"date_to": "令和8年4月9日"})
    assert "道路補修工事" not in gone.text
    exported = await client.get("/contracts/export.csv", params={"word": "盛岡道第12号"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    header, (row,) = rows[0], rows[1:]
    assert row[header.index("訂正履歴")].endswith("(変更契約の締結による)")
    assert "金額: 1200000 → 1320000" in row[header.index("訂正履歴")]

    # Other systems: a key with the permission corrects, and the result says what changed.
    through_api = await client.post(
        f"/api/v1/contracts/{contract.id}/corrections",
        headers=api,
        json={
            "transaction_date": "2026-04-10",
            "amount": 1_320_000,
            "counterparty": "岩手建設株式会社",
            "contract_number": "盛岡道第12号の2",
            "reason": "番号の誤記",
        },
    )
    assert through_api.status_code == 200, through_api.text
    assert through_api.json()["contract_number"] == "盛岡道第12号の2"
    assert [c["reason"] for c in through_api.json()["corrections"]] == ["変更契約の締結による", "番号の誤記"]
    drafter_key = {"Authorization": f"Bearer {office.key_a}"}
    assert (
        await client.post(f"/api/v1/contracts/{contract.id}/corrections", headers=drafter_key, json={"reason": "x"})
    ).status_code == 403


async def test_only_a_concluded_contract_is_corrected_and_only_by_its_member(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    api_b = {"Authorization": f"Bearer {await f.api_key(db_session, office.members.b, roles=('admin',))}"}
    draft = await _draft(client, office, counterparty="岩手清掃", amount="1000", transaction_date="2026-04-01")
    await sign_in(client, "morioka-admin")
    csrf = await csrf_token(client)
    form = {
        "_csrf_token": csrf,
        "transaction_date": "2026-04-02",
        "amount": "1000",
        "counterparty": "岩手清掃",
        "reason": "誤記",
    }
    early = await client.post(f"/contracts/{draft}/corrections", data=form)
    assert early.status_code == 409
    assert "締結済みの契約書" in early.text

    contract = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=office.members.a,
        title=office.title_a,
        subject="公用車リース",
        email="lease@example.co.jp",
    )
    await sign_in(client, "hachimantai-admin")
    csrf = await csrf_token(client)
    base = f"/contracts/{contract.id}"
    assert (await client.get(f"{base}/record")).status_code == 404
    assert (await client.post(f"{base}/corrections", data={**form, "_csrf_token": csrf})).status_code == 404
    assert (
        await client.post(f"/api/v1/contracts/{contract.id}/corrections", headers=api_b, json={"reason": "x"})
    ).status_code == 404
    await system_access(db_session)
    await db_session.refresh(contract)
    assert contract.corrections == []
    assert contract.transaction_date is not None
    assert contract.transaction_date.isoformat() == "2026-04-01"
    kinds = (await db_session.scalars(select(AuditEvent.kind).where(AuditEvent.contract_id == contract.id))).all()
    assert AuditKind.CORRECTED not in kinds


async def test_search_folds_full_and_half_width_and_reads_japanese_era_dates(
    client: AsyncTestClient, office: Office
) -> None:
    api = {"Authorization": f"Bearer {office.key_a}"}
    await _draft(
        client,
        office,
        subject="ＡＢＣ道路補修工事",
        contract_number="Ｒ８－００１",
        counterparty="ｲﾜﾃ建設",
        amount="2500000",
        transaction_date="2026-04-01",
    )
    await _draft(
        client,
        office,
        subject="平成の庁舎清掃",
        counterparty="盛岡清掃",
        amount="300000",
        transaction_date="2019-04-30",
    )

    async def subjects(**params: str) -> list[str]:
        found = await client.get("/api/v1/contracts/", headers=api, params=params)
        assert found.status_code == 200, found.text
        return sorted(c["subject"] for c in found.json()["items"])

    assert await subjects(word="abc道路") == ["ＡＢＣ道路補修工事"]
    assert await subjects(word="R8-001") == ["ＡＢＣ道路補修工事"]  # the contract number, typed half-width
    assert await subjects(counterparty="イワテ") == ["ＡＢＣ道路補修工事"]
    assert await subjects(amount_min="２，０００，０００") == ["ＡＢＣ道路補修工事"]
    assert await subjects(date_from="令和8年4月1日", date_to="R8.4.1") == ["ＡＢＣ道路補修工事"]
    assert await subjects(date_from="H31.4.30", date_to="平成31年4月30日") == ["平成の庁舎清掃"]
    bad = await client.get("/api/v1/contracts/", headers=api, params={"date_from": "H31.5.1"})
    assert bad.status_code == 400
    assert "R8.4.1" in bad.json()["detail"]
