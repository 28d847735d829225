"""Characters checked when typed (API-2, MOR-21(2)): what the seal cannot print is refused on the form.

𠮷 (U+20BB7), a private-use 外字 (U+E000) and an emoji are not in the sealing
font; a value longer than its box does not fit. The contractor's agreement is
refused with a Japanese message naming the character, the form comes back with
what was typed, and the browser's check answers the same. 髙 and 﨑 are in the
font: they are accepted and appear in the sealed file.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings, SigningSettings
from signing.models import Contract, ContractStatus, Party, PartyStatus
from signing.seal_service import SealerPool, SealOutcome, seal_contract
from tests import factories as f
from tests.conftest import csrf_token
from tests.scope import system_access
from tests.signing.conftest import Office, needs_poppler, pdftotext
from tests.signing.test_contractor_errors import _links, _open


async def _one_contractor(client: AsyncTestClient, office: Office) -> tuple[str, str, str]:
    """A sent contract with one contractor, a wide box for the name and a small one: ids of both and the token."""
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "測量業務委託",
            "title_id": str(office.title_a.id),
            "amount": "1200000",
            "transaction_date": "2026-04-01",
            "counterparty": "髙﨑測量株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    contract = created.json()
    contract_id = contract["id"]
    party = await client.post(
        f"/api/v1/contracts/{contract_id}/parties",
        headers=api,
        json={
            "order_no": 1,
            "kind": "contractor",
            "name": "髙﨑 花子",
            "email": "k@example.co.jp",
            "password": "secret-pw",
        },
    )
    assert party.status_code == 201, party.text
    boxes = []
    for label, width in (("受注者名", 220), ("印", 24)):
        box = await client.post(
            f"/api/v1/contracts/{contract_id}/text-boxes",
            headers=api,
            json={
                "document_id": contract["documents"][0]["id"],
                "party_id": party.json()["id"],
                "page": 0,
                "x": 72,
                "y": 100,
                "width": width,
                "height": 20,
                "label": label,
            },
        )
        assert box.status_code == 201, box.text
        boxes.append(box.json()["id"])
    assert (await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)).status_code == 200
    return contract_id, boxes[0], boxes[1]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("𠮷田 太郎", "「𠮷」(U+20BB7)"),
        ("株式会社\ue000建設", "(U+E000)"),
        ("山田 太郎😀", "「😀」(U+1F600)"),
    ],
)
async def test_a_character_the_seal_cannot_print_is_refused_on_the_form(
    *, client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings, value: str, named: str
) -> None:
    contract_id, name_box, small_box = await _one_contractor(client, office)
    token = (await _links(db_session, settings))["k@example.co.jp"]
    csrf = await _open(client, token)

    # While typing: the browser's check names the character, and changes nothing.
    checked = await client.post(
        f"/c/{token}/check", data={f"box_{name_box}": value, f"box_{small_box}": "印"}, headers={"x-csrftoken": csrf}
    )
    assert checked.status_code == 200, checked.text
    problems = checked.json()["problems"]
    assert list(problems) == [name_box]
    assert named in problems[name_box]
    assert "封緘に使うフォントにないため使えません" in problems[name_box]

    refused = await client.post(
        f"/c/{token}/agree",
        data={f"box_{name_box}": value, f"box_{small_box}": "印", "_csrf_token": csrf, "confirmed": "yes"},
    )
    assert refused.status_code == 400
    assert named in refused.text
    assert "封緘に使うフォントにないため使えません" in refused.text
    # The form comes back with what was typed, to correct one character.
    assert 'value="印"' in refused.text
    await system_access(db_session)
    party = await db_session.scalar(select(Party).where(Party.email == "k@example.co.jp"))
    assert party is not None
    await db_session.refresh(party)
    assert party.status is PartyStatus.NOTIFIED
    contract = await db_session.get(Contract, contract_id)
    assert contract is not None
    await db_session.refresh(contract)
    assert contract.status is ContractStatus.CIRCULATING


async def test_a_value_longer_than_its_box_is_refused(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    _contract_id, name_box, small_box = await _one_contractor(client, office)
    token = (await _links(db_session, settings))["k@example.co.jp"]
    csrf = await _open(client, token)
    long_value = "髙﨑測量株式会社 代表取締役 髙﨑 花子"
    checked = await client.post(
        f"/c/{token}/check", data={f"box_{small_box}": long_value}, headers={"x-csrftoken": csrf}
    )
    assert "「印」が長すぎて枠に収まりません" in checked.json()["problems"][small_box]
    refused = await client.post(
        f"/c/{token}/agree",
        data={f"box_{name_box}": "髙﨑 花子", f"box_{small_box}": long_value, "_csrf_token": csrf, "confirmed": "yes"},
    )
    assert refused.status_code == 400
    assert "「印」が長すぎて枠に収まりません" in refused.text
    assert 'value="髙﨑 花子"' in refused.text


async def test_the_check_needs_the_password_and_is_refused_to_other_links(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    _contract_id, name_box, _small = await _one_contractor(client, office)
    token = (await _links(db_session, settings))["k@example.co.jp"]
    await client.get(f"/c/{token}")
    csrf = await csrf_token(client)
    without_gate = await client.post(f"/c/{token}/check", data={f"box_{name_box}": "𠮷"}, headers={"x-csrftoken": csrf})
    assert without_gate.status_code == 403
    guessed = await client.post(f"/c/{name_box}/check", data={f"box_{name_box}": "𠮷"}, headers={"x-csrftoken": csrf})
    assert guessed.status_code == 404


@needs_poppler
async def test_takahashi_and_yamazaki_variants_are_accepted_and_sealed(
    *,
    client: AsyncTestClient,
    office: Office,
    db_session: AsyncSession,
    settings: Settings,
    signing_settings: SigningSettings,
    tmp_path: Path,
) -> None:
    contract_id, name_box, small_box = await _one_contractor(client, office)
    token = (await _links(db_session, settings))["k@example.co.jp"]
    csrf = await _open(client, token)
    checked = await client.post(
        f"/c/{token}/check",
        data={f"box_{name_box}": "髙﨑 花子", f"box_{small_box}": "印"},
        headers={"x-csrftoken": csrf},
    )
    assert checked.json() == {"problems": {}}
    agreed = await client.post(
        f"/c/{token}/agree",
        data={f"box_{name_box}": "髙﨑 花子", f"box_{small_box}": "印", "_csrf_token": csrf, "confirmed": "yes"},
    )
    assert agreed.status_code == 200, agreed.text
    pool = SealerPool(signing_settings)
    assert await seal_contract(db_session, settings, pool, uuid.UUID(contract_id)) is SealOutcome.SEALED
    api = {"Authorization": f"Bearer {office.key_a}"}
    shown = (await client.get(f"/api/v1/contracts/{contract_id}", headers=api)).json()
    (document,) = shown["documents"]
    sealed = await client.get(f"/api/v1/contracts/{contract_id}/documents/{document['id']}", headers=api)
    assert sealed.headers["x-kyodo-sealed"] == "true"
    text = pdftotext(sealed.content, tmp_path)
    assert "髙﨑 花子" in text
