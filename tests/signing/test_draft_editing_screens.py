"""The contract editor in steps on the staff screens: entries kept with the reason beside the field, positions in
millimetres, parties moved by buttons, a review that must be confirmed; and none of it reachable by another member."""

from __future__ import annotations

import uuid

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signing.controllers import ContractEditorController
from signing.models import Contract, ContractStatus, Party, TextBox
from tests import factories as f
from tests.conftest import csrf_token, sign_in
from tests.helpers import form, text_at
from tests.scope import system_access
from tests.signing.conftest import Office

PT_PER_MM = 72 / 25.4


def _error_beside(html: str, field_id: str) -> str:
    """The refusal shown for the input ``field_id`` (linked by aria-describedby)."""
    soup = BeautifulSoup(html, "html.parser")
    field = soup.find(id=field_id)
    assert field is not None, field_id
    assert field.get("aria-invalid") == "true", field
    message = soup.find(id=field["aria-describedby"])
    assert message is not None
    return message.get_text()


async def test_a_clerk_goes_through_the_steps(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-drafter")
    assert (await client.get("/contracts/drafts/new")).status_code == 200

    # Step 1: an empty subject comes back on the form with everything else kept.
    refused = await form(
        client,
        "/contracts/drafts",
        subject=" ",
        title_id=str(office.title_a.id),
        amount="1,980,000",
        counterparty="岩手舗装",
    )
    assert refused.status_code == 400
    assert "件名を入力してください" in _error_beside(refused.text, "subject")
    soup = BeautifulSoup(refused.text, "html.parser")
    assert soup.find(id="amount")["value"] == "1,980,000"  # type: ignore[index]
    assert soup.find(id="cp")["value"] == "岩手舗装"  # type: ignore[index]
    created = await form(
        client,
        "/contracts/drafts",
        subject="市道3号線舗装補修工事",
        title_id=str(office.title_a.id),
        transaction_date="2026-12-10",
        counterparty="岩手舗装株式会社",
        amount="1,980,000",
    )
    assert created.status_code == 303, created.text
    base = created.headers["location"].removesuffix("/files")
    contract_id = uuid.UUID(base.split("/")[2])
    # How the amount was read is said beside it.
    assert "1,980,000円として登録しています" in text_at((await client.get(f"{base}/details")).text, "#amount-hint")

    # Step 2: a refused PDF is named on the same page; a good one is added.
    token = await csrf_token(client)
    bad = await client.post(
        f"{base}/files",
        data={"_csrf_token": token},
        files=[("files", ("script.pdf", f.pdf(javascript=True), "application/pdf"))],
    )
    assert bad.status_code == 400
    assert "script.pdf" in BeautifulSoup(bad.text, "html.parser").select_one("#err-add").get_text()  # type: ignore[union-attr]
    ok = await client.post(
        f"{base}/files",
        data={"_csrf_token": token},
        files=[("files", ("契約書.pdf", f.pdf(2), "application/pdf"))],
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text

    # Step 3: a wrong address keeps the entries; then a contractor and two signers, moved by buttons.
    wrong = await form(
        client,
        f"{base}/parties",
        kind="contractor",
        company="岩手舗装株式会社",
        name="岩手 一郎",
        email="ichiro@",
        password="tel-2026-ok",
    )
    assert wrong.status_code == 400
    assert "メールアドレス" in _error_beside(wrong.text, "p-email")
    assert BeautifulSoup(wrong.text, "html.parser").find(id="p-company")["value"] == "岩手舗装株式会社"  # type: ignore[index]
    await form(
        client,
        f"{base}/parties",
        kind="contractor",
        company="岩手舗装株式会社",
        name="岩手 一郎",
        email="ichiro@iwate.example.jp",
        password="tel-2026-ok",
    )
    for signer in office.signers_a[:2]:
        signers = f"{signer.id}:{office.title_a.id}"
        added = await form(
            client,
            f"{base}/parties",
            kind="staff",
            signer=signers,
            parallel="on" if signer is office.signers_a[1] else "",
        )
        assert added.status_code == 303, added.text
    await system_access(db_session)
    parties = {
        p.name: p for p in (await db_session.scalars(select(Party).where(Party.contract_id == contract_id))).all()
    }
    assert sorted((p.order_no, n) for n, p in parties.items()) == [(1, "岩手 一郎"), (2, "締結 0"), (2, "締結 1")]
    assert (await form(client, f"{base}/parties/{parties['締結 1'].id}/move", how="up")).status_code == 303
    page = await client.get(f"{base}/parties")
    steps = [
        [strong.get_text() for strong in s.select(".order-party > p > strong")]
        for s in BeautifulSoup(page.text, "html.parser").select(".order-step")
    ]
    assert steps == [["岩手舗装株式会社 岩手 一郎"], ["締結 1"], ["締結 0"]]

    await _fields_and_review(client, db_session, base, contract_id, parties)


async def _fields_and_review(
    client: AsyncTestClient, db_session: AsyncSession, base: str, contract_id: uuid.UUID, parties: dict[str, Party]
) -> None:
    # Step 4: a field placed in millimetres from the top-left is stored in points from the bottom-left.
    document = (await db_session.scalars(select(Contract).where(Contract.id == contract_id))).one()
    await db_session.refresh(document, ["documents"])
    doc = document.documents[0]
    placed = await form(
        client,
        f"{base}/boxes",
        document_id=str(doc.id),
        page="2",
        left="20",
        top="30",
        width="60",
        height="8",
        label="請負者 住所",
        party_id=str(parties["岩手 一郎"].id),
        required="on",
    )
    assert placed.status_code == 303, placed.text
    box = (await db_session.scalars(select(TextBox).where(TextBox.contract_id == contract_id))).one()
    page_height = doc.page_sizes[1][1]
    assert (box.page, round(box.x, 1), round(box.width, 1), round(box.height, 1)) == (
        1,
        round(20 * PT_PER_MM, 1),
        round(60 * PT_PER_MM, 1),
        round(8 * PT_PER_MM, 1),
    )
    assert abs(box.y - (page_height - 38 * PT_PER_MM)) < 0.05
    off = await form(
        client,
        f"{base}/boxes/{box.id}",
        page="2",
        left="200",
        top="30",
        width="60",
        height="8",
        label="請負者 住所",
        party_id=str(parties["岩手 一郎"].id),
    )
    assert off.status_code == 400
    assert "ページの中" in _error_beside(off.text, "e-left")
    shown = await client.get(f"{base}/boxes", params={"box": str(box.id)})
    assert 'id="selected-box"' in shown.text
    assert BeautifulSoup(shown.text, "html.parser").find(id="e-top")["value"] == "30.0"  # type: ignore[index]

    # Step 5: the review lists who is asked in which order and will not send unconfirmed.
    review = await client.get(f"{base}/review")
    order = [
        li.get_text(" ", strip=True) for li in BeautifulSoup(review.text, "html.parser").select(".review-order > li")
    ]
    assert "岩手 一郎" in order[0]
    assert "請負者 住所" in order[0]
    assert "締結 1" in order[1]
    unconfirmed = await form(client, f"{base}/review")
    assert unconfirmed.status_code == 400
    assert "確認" in _error_beside(unconfirmed.text, "confirm-send")
    sent = await form(client, f"{base}/review", confirm="on")
    assert sent.status_code == 303, sent.text
    await db_session.refresh(document)
    assert document.status is ContractStatus.CIRCULATING
    closed = await form(client, f"{base}/details", subject="後から変更", title_id=str(document.title_id))
    assert closed.status_code == 409
    assert "送信済み" in closed.text or "変更できません" in closed.text


async def test_another_member_reaches_none_of_the_editor(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-drafter")
    created = await form(client, "/contracts/drafts", subject="盛岡市の秘密の契約", title_id=str(office.title_a.id))
    base = created.headers["location"].removesuffix("/files")
    token = await csrf_token(client)
    await client.post(
        f"{base}/files", data={"_csrf_token": token}, files=[("files", ("x.pdf", f.pdf(), "application/pdf"))]
    )
    await form(
        client,
        f"{base}/parties",
        kind="contractor",
        name="岩手 一郎",
        email="ichiro@iwate.example.jp",
        password="tel-2026-ok",
    )
    await system_access(db_session)
    contract_id = uuid.UUID(base.split("/")[2])
    party = (await db_session.scalars(select(Party).where(Party.contract_id == contract_id))).one()
    contract = (await db_session.scalars(select(Contract).where(Contract.id == contract_id))).one()
    await db_session.refresh(contract, ["documents"])
    doc = contract.documents[0]
    await form(
        client,
        f"{base}/boxes",
        document_id=str(doc.id),
        page="1",
        left="20",
        top="20",
        width="60",
        height="8",
        label="住所",
        party_id=str(party.id),
    )
    box = (await db_session.scalars(select(TextBox).where(TextBox.contract_id == contract_id))).one()

    await sign_in(client, "hachimantai-admin")
    token = await csrf_token(client)
    root = f"/contracts/{contract_id}"
    gets = [f"{root}/edit", *(f"{base}/{step}" for step in ("details", "files", "parties", "boxes", "review"))]
    posts = [
        f"{base}/details",
        f"{base}/files",
        f"{base}/files/{doc.id}/replace",
        f"{base}/files/{doc.id}/remove",
        f"{base}/parties",
        f"{base}/parties/{party.id}",
        f"{base}/parties/{party.id}/remove",
        f"{base}/parties/{party.id}/move",
        f"{base}/boxes",
        f"{base}/boxes/{box.id}",
        f"{base}/boxes/{box.id}/remove",
        f"{base}/review",
        f"{base}/delete",
        f"{root}/copy",
        f"{root}/revise",
    ]
    for path in gets:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code)
        assert "盛岡市の秘密" not in response.text
    fields = {
        "_csrf_token": token,
        "how": "up",
        "confirm": "on",
        "confirm_delete": "on",
        "subject": "x",
        "title_id": str(office.title_b.id),
        "document_id": str(doc.id),
        "party_id": str(party.id),
        "page": "1",
        "left": "1",
        "top": "1",
        "width": "20",
        "height": "8",
        "label": "x",
    }
    for path in posts:
        response = await client.post(path, data=fields, follow_redirects=False)
        assert response.status_code == 404, (path, response.status_code, response.text[-300:])
        assert "盛岡市の秘密" not in response.text
    await system_access(db_session)
    await db_session.refresh(contract)
    assert (contract.subject, contract.status, contract.deleted_at) == (
        "盛岡市の秘密の契約",
        ContractStatus.DRAFT,
        None,
    )


def test_every_editor_route_is_in_the_isolation_test() -> None:
    """A new route of the editor must be added to the test above."""
    paths = {p for handler in ContractEditorController.__dict__.values() for p in getattr(handler, "paths", ())}
    walked = {
        "/drafts/new",
        "/drafts",
        "/{contract_id:uuid}/edit",
        *(f"/{{contract_id:uuid}}/edit/{step}" for step in ("details", "files", "parties", "boxes", "review")),
        "/{contract_id:uuid}/edit/details",
        "/{contract_id:uuid}/edit/files",
        "/{contract_id:uuid}/edit/files/{document_id:uuid}/replace",
        "/{contract_id:uuid}/edit/files/{document_id:uuid}/remove",
        "/{contract_id:uuid}/edit/parties",
        "/{contract_id:uuid}/edit/parties/{party_id:uuid}",
        "/{contract_id:uuid}/edit/parties/{party_id:uuid}/remove",
        "/{contract_id:uuid}/edit/parties/{party_id:uuid}/move",
        "/{contract_id:uuid}/edit/boxes",
        "/{contract_id:uuid}/edit/boxes/{text_box_id:uuid}",
        "/{contract_id:uuid}/edit/boxes/{text_box_id:uuid}/remove",
        "/{contract_id:uuid}/edit/review",
        "/{contract_id:uuid}/edit/delete",
        "/{contract_id:uuid}/copy",
        "/{contract_id:uuid}/revise",
    }
    assert paths == walked, paths ^ walked
