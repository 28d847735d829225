"""The finance system's CSV (API-2, NII-24): the same columns out and back in, all rows or none.

Exported from the contract list and the API with the hashes of the sealed files a
download hands out; imported from UTF-8 or CP932 as Excel saves it, checked
first (nothing written), then every row or none; a file exported and imported
back unchanged changes nothing. Another member's contracts are neither shown nor
touched.
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings, SigningSettings
from signing.models import Contract, ContractStatus
from signing.seal_service import SealerPool
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.helpers import tag_at, text_at
from tests.scope import system_access
from tests.signing.concluded import concluded
from tests.signing.conftest import Office

HEADER = (
    "契約番号,件名,金額,取引年月日,相手方,所属,状態,作成日時,送信日時,締結日時,締結文書SHA-256,締結証明書SHA-256,契約ID"
)


@pytest.fixture
def pool(signing_settings: SigningSettings) -> SealerPool:
    return SealerPool(signing_settings)


def _rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def _contracts(session: AsyncSession) -> list[Contract]:
    await system_access(session)
    return list((await session.scalars(select(Contract).order_by(Contract.created_at))).all())


async def _draft(client: AsyncTestClient, office: Office, key: str | None = None, **fields: str) -> str:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {key or office.key_a}"},
        data={"subject": "庁舎清掃業務委託", "title_id": str(office.title_a.id), **fields},
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _export(client: AsyncTestClient, key: str, **params: str) -> bytes:
    answer = await client.get("/api/v1/contracts/export.csv", headers={"Authorization": f"Bearer {key}"}, params=params)
    assert answer.status_code == 200, answer.text
    return answer.content


async def _api_import(client: AsyncTestClient, key: str, body: bytes, *, dry_run: bool) -> Any:
    return await client.post(
        "/api/v1/contracts/import",
        headers={"Authorization": f"Bearer {key}"},
        params={"dry_run": str(dry_run).lower()},
        files=[("file", ("contracts.csv", body, "text/csv"))],
    )


async def _screen_check(client: AsyncTestClient, body: bytes, name: str = "契約.csv") -> Any:
    return await client.post(
        "/contracts/finance/import/preview",
        data={"_csrf_token": await csrf_token(client)},
        files=[("file", (name, body, "text/csv"))],
    )


async def _screen_import(client: AsyncTestClient, checked: Any) -> Any:
    form = tag_at(checked.text, "#import-form")
    fields = {str(i["name"]): str(i.get("value", "")) for i in form.select("input[type=hidden]")}
    fields["_csrf_token"] = await csrf_token(client)
    return await client.post("/contracts/finance/import", data=fields)


async def test_the_export_has_the_finance_columns_and_the_hashes_of_the_files_handed_out(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    a = office.members.a
    roads = await f.department(db_session, a, "DORO", "道路管理課")
    contract = await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=a,
        title=office.title_a,
        subject="市道3号線舗装補修工事",
        email="c@example.co.jp",
        counterparty="髙橋建設株式会社",
        amount=13_200_000,
        number="盛岡道第12号",
        department=roads,
    )
    await db_session.commit()
    await _draft(client, office, contract_number="盛岡清第3号", amount="480000", counterparty="=HYPERLINK(1)")

    await sign_in(client, "morioka-admin")
    listing = await client.get("/contracts/", params={"word": "舗装"})
    assert tag_at(listing.text, "#finance-export")["href"] == "/contracts/finance/export.csv?word=%E8%88%97%E8%A3%85"
    assert tag_at(listing.text, "#finance-import")["href"] == "/contracts/finance/import"
    exported = await client.get("/contracts/finance/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.decode("utf-8-sig").splitlines()[0] == HEADER
    rows = {r["契約番号"]: r for r in _rows(exported.content)}
    sealed = rows["盛岡道第12号"]
    assert sealed["件名"] == "市道3号線舗装補修工事"
    assert sealed["金額"] == "13200000"
    assert sealed["取引年月日"] == "2026-04-01"
    assert sealed["相手方"] == "髙橋建設株式会社"
    assert sealed["所属"] == "道路管理課"
    assert sealed["状態"] == "締結済み"
    assert sealed["締結日時"].endswith("+09:00")
    assert sealed["契約ID"] == str(contract.id)
    # The hashes are those of the files a clerk downloads.
    document_id = (
        await client.get(f"/api/v1/contracts/{contract.id}", headers={"Authorization": f"Bearer {office.key_a}"})
    ).json()["documents"][0]["id"]
    pdf = await client.get(f"/contracts/{contract.id}/documents/{document_id}")
    assert pdf.headers["x-kyodo-sealed"] == "true"
    assert sealed["締結文書SHA-256"] == hashlib.sha256(pdf.content).hexdigest()
    certificate = await client.get(f"/contracts/{contract.id}/certificate")
    assert sealed["締結証明書SHA-256"] == hashlib.sha256(certificate.content).hexdigest()
    draft = rows["盛岡清第3号"]
    assert (draft["状態"], draft["締結文書SHA-256"], draft["送信日時"]) == ("下書き", "", "")
    assert draft["相手方"] == "'=HYPERLINK(1)"  # never runs as a formula in Excel

    # Filtered like the list; the API answers the same file.
    filtered = await client.get("/contracts/finance/export.csv", params={"word": "舗装"})
    assert [r["契約番号"] for r in _rows(filtered.content)] == ["盛岡道第12号"]
    api = await client.get(
        "/api/v1/contracts/export.csv", headers={"Authorization": f"Bearer {office.key_a}"}, params={"word": "舗装"}
    )
    assert api.status_code == 200
    assert _rows(api.content) == _rows(filtered.content)

    # English screens, same machine-readable file.
    await client.get("/language/en", follow_redirects=False)
    english = await client.get("/contracts/finance/export.csv")
    assert english.content.decode("utf-8-sig").splitlines()[0] == HEADER
    assert {r["状態"] for r in _rows(english.content)} == {"締結済み", "下書き"}


async def test_an_exported_file_imported_back_changes_nothing(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    a = office.members.a
    await f.department(db_session, a, "DORO", "道路管理課")
    await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=a,
        title=office.title_a,
        subject="市道3号線舗装補修工事",
        email="c@example.co.jp",
        number="盛岡道第12号",
    )
    await db_session.commit()
    await _draft(client, office, contract_number="盛岡清第3号", amount="1234000", counterparty="ｶﾌﾞｼｷｶﾞｲｼｬ")
    await _draft(client, office, subject="番号のない下書き")
    exported = (
        await client.get("/api/v1/contracts/export.csv", headers={"Authorization": f"Bearer {office.key_a}"})
    ).content
    before = [(c.id, c.updated_at) for c in await _contracts(db_session)]

    checked = await _api_import(client, office.key_a, exported, dry_run=True)
    assert checked.status_code == 200, checked.text
    answer = checked.json()
    assert (answer["created"], answer["updated"], answer["unchanged"], answer["applied"]) == (0, 0, 3, False)
    assert {r["action"] for r in answer["rows"]} == {"unchanged"}
    done = await _api_import(client, office.key_a, exported, dry_run=False)
    assert done.status_code == 200, done.text
    assert done.json()["applied"] is True
    assert done.json()["unchanged"] == 3

    await sign_in(client, "morioka-admin")
    screen = await _screen_check(client, exported)
    assert screen.status_code == 200, screen.text
    cells = tag_at(screen.text, "#finance-rows tbody").select("td.problems")
    assert [cell.get_text(" ").strip() for cell in cells] == ["変更なし"] * 3
    imported = await _screen_import(client, screen)
    assert imported.status_code == 200, imported.text
    assert "新しい下書き: 0件、更新した下書き: 0件、変更なし: 3件" in text_at(imported.text, "#finance-done")
    assert [(c.id, c.updated_at) for c in await _contracts(db_session)] == before


async def test_a_cp932_file_from_excel_is_checked_first_then_makes_and_updates_drafts(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    a = office.members.a
    await f.department(db_session, a, "DORO", "道路管理課")
    await f.department(db_session, a, "KYOIKU", "学校教育課")
    draft_id = await _draft(client, office, contract_number="盛岡清第3号", amount="480000", counterparty="岩手清掃")
    await db_session.commit()
    text = (
        "契約番号,件名,金額,取引年月日,相手方,所属,状態\r\n"
        '盛岡道第20号,橋梁点検業務,"1,234,000",2026/4/1,髙橋建設株式会社,道路管理課,\r\n'
        ',校舎清掃,"￥5,000",令和8年5月1日,ｶﾌﾞｼｷｶﾞｲｼｬ﨑山,学校教育課,下書き\r\n'
        '盛岡清第3号,庁舎清掃業務委託（変更）,"520,000",2026-04-10,岩手清掃,道路管理課,下書き\r\n'
    )
    body = text.encode("cp932")
    await sign_in(client, "morioka-admin")
    start = await client.get("/contracts/finance/import")
    assert start.status_code == 200
    assert "締結文書SHA-256" in text_at(start.text, "#finance-columns")

    checked = await _screen_check(client, body)
    assert checked.status_code == 200, checked.text
    assert "(cp932)" in checked.text
    assert text_at(checked.text, "#nothing-written") == "まだ何も書き込まれていません。"
    assert text_at(checked.text, "#line-2 td.problems") == "新しい下書き"
    assert text_at(checked.text, "#line-3 td.problems") == "新しい下書き"
    assert text_at(checked.text, "#line-4 td.problems").startswith("下書きを更新")
    assert "金額" in text_at(checked.text, "#line-4 td.problems")
    assert len(await _contracts(db_session)) == 1  # the check wrote nothing

    imported = await _screen_import(client, checked)
    assert imported.status_code == 200, imported.text
    assert "新しい下書き: 2件、更新した下書き: 1件、変更なし: 0件" in text_at(imported.text, "#finance-done")
    made = {c.subject: c for c in await _contracts(db_session)}
    bridge = made["橋梁点検業務"]
    assert (
        bridge.contract_number,
        bridge.amount,
        bridge.transaction_date.isoformat() if bridge.transaction_date else "",
    ) == (
        "盛岡道第20号",
        1_234_000,
        "2026-04-01",
    )
    assert bridge.counterparty == "髙橋建設株式会社"
    assert bridge.status is ContractStatus.DRAFT
    assert bridge.title_id == office.title_a.id
    school = made["校舎清掃"]
    assert (school.counterparty, school.amount, school.contract_number) == ("ｶﾌﾞｼｷｶﾞｲｼｬ﨑山", 5000, "")
    changed = made["庁舎清掃業務委託（変更）"]
    assert str(changed.id) == draft_id
    assert changed.amount == 520_000

    # The same file once more: the contracts changed since that check, so it is refused, nothing written twice.
    again = await _screen_import(client, checked)
    assert again.status_code == 422
    assert "確認してから契約が変わりました" in again.text
    assert len(await _contracts(db_session)) == 3


async def test_a_utf8_file_keeps_characters_cp932_does_not_have(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    body = ("契約番号,件名,金額,取引年月日,相手方\n盛岡第1号,𠮷野家前歩道修繕,100,2026-04-01,𠮷田工務店\n").encode()
    done = await _api_import(client, office.key_a, body, dry_run=False)
    assert done.status_code == 200, done.text
    assert done.json()["encoding"] == "utf-8"
    (contract,) = await _contracts(db_session)
    assert (contract.subject, contract.counterparty) == ("𠮷野家前歩道修繕", "𠮷田工務店")


async def test_any_problem_writes_nothing_and_each_is_said_by_line(
    client: AsyncTestClient, db_session: AsyncSession, settings: Settings, office: Office, pool: SealerPool
) -> None:
    a = office.members.a
    await concluded(
        db_session,
        settings,
        pool,
        drafter=office.drafter_a,
        member=a,
        title=office.title_a,
        subject="道路補修工事",
        email="c@example.co.jp",
        number="盛岡道第12号",
    )
    await db_session.commit()
    exported = _rows(await _export(client, office.key_a))[0]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(exported))
    writer.writeheader()
    writer.writerow(dict.fromkeys(exported, "") | {"件名": "新しい契約", "金額": "1000"})  # fine on its own
    writer.writerow(exported | {"金額": "999"})  # a concluded contract changed
    writer.writerow(
        exported
        | {"契約ID": "", "契約番号": "盛岡道第99号", "件名": "別", "締結文書SHA-256": ""}
        | {"所属": "存在しない課"}
    )
    writer.writerow(exported | {"締結証明書SHA-256": "0" * 64, "契約番号": "盛岡道第12号"})
    writer.writerow(dict.fromkeys(exported, "") | {"件名": "x", "金額": "百円", "取引年月日": "来月"})
    body = ("\ufeff" + out.getvalue()).encode()

    answer = await _api_import(client, office.key_a, body, dry_run=False)
    assert answer.status_code == 422
    result = answer.json()
    assert result["applied"] is False
    by_line = {r["line"]: r for r in result["rows"]}
    assert by_line[2]["action"] == "create"
    assert by_line[3]["action"] == "error"
    assert "送信済み・締結済みの契約はファイルで変更できません" in by_line[3]["problems"][0]
    assert "金額" in by_line[3]["problems"][0]
    assert any("「存在しない課」は所属にありません" in p for p in by_line[4]["problems"])
    assert any("締結文書SHA-256" in p for p in by_line[4]["problems"]) is False
    assert any("締結証明書SHA-256" in p and "一致しません" in p for p in by_line[5]["problems"])
    assert any("同じ契約が2行目" in p or "3行目" in p for p in by_line[5]["problems"])
    assert any("金額「百円」" in p for p in by_line[6]["problems"])
    assert any("取引年月日「来月」" in p for p in by_line[6]["problems"])
    assert len(await _contracts(db_session)) == 1  # not even line 2

    await sign_in(client, "morioka-admin")
    screen = await _screen_check(client, body)
    assert screen.status_code == 422
    assert "まだ何も書き込まれていません" in screen.text
    assert "#import-form" not in screen.text
    assert 'id="import-form"' not in screen.text
    assert "締結済みの契約" in text_at(screen.text, "#line-3")


async def test_a_file_that_is_not_csv_of_contracts_is_refused_by_the_check(
    client: AsyncTestClient, office: Office
) -> None:
    wrong = await _api_import(
        client, office.key_a, "氏名,メールアドレス\n盛岡 太郎,t@example.jp\n".encode(), dry_run=True
    )
    assert wrong.status_code == 422
    messages = [p["message"] for p in wrong.json()["problems"]]
    assert any("「契約番号」" in m for m in messages)
    assert any("列「氏名」は使えません" in m for m in messages)
    missing = await client.post(
        "/api/v1/contracts/import", headers={"Authorization": f"Bearer {office.key_a}"}, files=[]
    )
    assert missing.status_code == 400


async def test_another_member_neither_sees_nor_touches_the_contracts(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    a_id = await _draft(client, office, contract_number="盛岡清第3号", amount="480000", counterparty="盛岡の秘密商事")
    mine = (
        await client.get("/api/v1/contracts/export.csv", headers={"Authorization": f"Bearer {office.key_a}"})
    ).content
    b = {"Authorization": f"Bearer {office.key_b}"}
    theirs = await client.get("/api/v1/contracts/export.csv", headers=b)
    assert theirs.status_code == 200
    assert _rows(theirs.content) == []
    assert "盛岡" not in theirs.content.decode("utf-8-sig")

    # A's own file as B: the contract ID is no contract of B's; nothing of A changes and nothing is made.
    stolen = await _api_import(client, office.key_b, mine.replace(b"480000", b"1"), dry_run=False)
    assert stolen.status_code == 422
    (row,) = stolen.json()["rows"]
    assert row["contract_id"] is None
    assert "契約IDの契約" in row["problems"][0]
    assert "480000" not in stolen.text
    # Without the ID, A's number names no contract of B's: B gets a draft of its own, A's stays as it was.
    own = _rows(mine)[0] | {"契約ID": "", "状態": ""}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(own))
    writer.writeheader()
    writer.writerow(own | {"金額": "1", "所属": ""})
    made = await _api_import(client, office.key_b, out.getvalue().encode(), dry_run=False)
    assert made.status_code == 200, made.text
    assert made.json()["created"] == 1
    contracts = await _contracts(db_session)
    a_contract = next(c for c in contracts if str(c.id) == a_id)
    assert a_contract.amount == 480_000
    assert {c.member_id for c in contracts if c.amount == 1} == {office.members.b.id}

    # B's staff on the screens: the export and the check show nothing of A.
    await sign_in(client, "hachimantai-admin")
    screen_export = await client.get("/contracts/finance/export.csv")
    assert a_id not in screen_export.content.decode("utf-8-sig")
    assert [r["金額"] for r in _rows(screen_export.content)] == ["1"]
    checked = await _screen_check(client, mine)
    assert checked.status_code == 422
    assert "契約IDの契約" in text_at(checked.text, "#line-2 td.problems")


async def test_a_viewer_may_export_but_not_import(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    await f.staff(db_session, office.members.a, "morioka-viewer", roles=("viewer",))
    await sign_in(client, "morioka-viewer")
    assert (await client.get("/contracts/finance/export.csv")).status_code == 200
    assert 'id="finance-import"' not in (await client.get("/contracts/")).text
    assert (await client.get("/contracts/finance/import")).status_code == 403
    refused = await _screen_check(client, HEADER.encode() + "\n1,件名\n".encode())
    assert refused.status_code == 403
    assert len(await _contracts(db_session)) == 0


async def test_an_api_import_retried_with_its_key_makes_the_new_drafts_once(
    client: AsyncTestClient, db_session: AsyncSession, office: Office
) -> None:
    # A finance system that lost the answer sends the same file again with the same key.
    body = "\ufeff" + HEADER + "\r\n" + ",ごみ収集業務委託,880000,2026-04-01,ｶﾌﾞｼｷｶﾞｲｼｬ岩手環境,,,,,,,,\r\n"
    headers = {"Authorization": f"Bearer {office.key_a}", "Idempotency-Key": "zaimu-import-0001"}

    async def send(content: str) -> Any:
        files = [("file", ("contracts.csv", content.encode(), "text/csv"))]
        return await client.post("/api/v1/contracts/import", headers=headers, files=files)

    first = await send(body)
    assert first.status_code == 200, first.text
    again = await send(body)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert [c.subject for c in await _contracts(db_session)] == ["ごみ収集業務委託"]
    # The same key with another file is refused; a refused file keeps no key, so its corrected retry works.
    assert (await send(body.replace("880000", "990000"))).status_code == 422
    headers["Idempotency-Key"] = "zaimu-import-0002"
    refused = await send(body.replace("880000", "八十八万"))
    assert refused.status_code == 422
    assert "idempotent-replayed" not in refused.headers
    corrected = await send(body.replace("ごみ収集", "粗大ごみ収集"))
    assert corrected.status_code == 200, corrected.text
    assert sorted(c.subject for c in await _contracts(db_session)) == ["ごみ収集業務委託", "粗大ごみ収集業務委託"]
