"""One word per status everywhere: the screens, the CSV exports, the audit log and the certificate of conclusion.

Statuses and events are named by :mod:`signing.labels` only; this test reads
each place where people see them (real HTTP for the screens and exports, the
rendered certificate's text) and compares it with the label.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import translations
from signing import labels
from signing.certificate import AgreementLine, CertificateData, PartyLine, render_certificate
from signing.models import AuditKind, ContractStatus, PartyStatus
from tests import factories as f
from tests.conftest import sign_in
from tests.signing.conftest import Office


def test_every_status_and_event_has_its_own_japanese_word() -> None:
    with labels.speaking("ja"):
        contracts, parties, events = (
            labels.contract_status_labels(),
            labels.party_status_labels(),
            labels.audit_kind_labels(),
        )
    assert set(contracts) == set(ContractStatus)
    assert set(parties) == set(PartyStatus)
    assert set(events) == {k.value for k in AuditKind}
    for words in (list(contracts.values()), list(parties.values()), list(events.values())):
        assert len(set(words)) == len(words), words  # no two statuses read alike
        assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", w) for w in words), words  # all translated
    # A party who agreed and the event of agreeing are different words, as are their English ids' contexts.
    with labels.speaking("ja"):
        assert labels.party_status_label(PartyStatus.AGREED) == "同意済み"
        assert labels.audit_kind_label(AuditKind.AGREED) == "同意"
        assert labels.contract_status_label(ContractStatus.SEALING) == "封緘待ち"
    with labels.speaking("en"):
        assert labels.party_status_label(PartyStatus.AGREED) == "Agreed"
    # The contexts really are in the catalog: without one the word would be another family's.
    ja = translations("ja")
    assert ja.pgettext("party status", "Agreed") != ja.pgettext("audit event", "Agreed")


async def test_screens_exports_audit_log_and_certificate_use_the_same_words(
    client: AsyncTestClient, office: Office, db_session: AsyncSession
) -> None:
    await f.staff(db_session, office.members.a, "morioka-kansa", roles=("auditor",))
    api = {"Authorization": f"Bearer {office.key_a}"}
    created = await client.post(
        "/api/v1/contracts/",
        headers=api,
        data={
            "subject": "街路灯保守業務",
            "title_id": str(office.title_a.id),
            "contract_number": "R8-L1",
            "amount": "1000000",
            "transaction_date": "2026-04-01",
            "counterparty": "岩手建設株式会社",
        },
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    contract_id = created.json()["id"]
    for order, email in ((1, "first@example.co.jp"), (2, "second@example.co.jp")):
        party = {"order_no": order, "kind": "contractor", "name": "担当", "email": email, "password": "secret-pw"}
        assert (await client.post(f"/api/v1/contracts/{contract_id}/parties", headers=api, json=party)).is_success
    assert (await client.post(f"/api/v1/contracts/{contract_id}/send", headers=api)).is_success

    with labels.speaking("ja"):
        circulating = labels.contract_status_label(ContractStatus.CIRCULATING)
        asked = labels.party_status_label(PartyStatus.NOTIFIED)
        waiting = labels.party_status_label(PartyStatus.WAITING)
        sent = labels.audit_kind_label(AuditKind.SENT)
        agreed_party = labels.party_status_label(PartyStatus.AGREED)
        agreed_event = labels.audit_kind_label(AuditKind.AGREED)
        forwarded_event = labels.audit_kind_label(AuditKind.FORWARDED)

    await sign_in(client, "morioka-kansa")
    # The contract page: the contract's status, each party's.
    detail = BeautifulSoup((await client.get(f"/contracts/{contract_id}")).text, "html.parser")
    assert detail.select_one("#contract-status").get_text(strip=True) == circulating  # type: ignore[union-attr]
    party_cells = [row.find_all("td")[4].get_text(" ", strip=True) for row in detail.select("#parties + div tbody tr")]
    assert party_cells == [asked, waiting]
    # The list and its CSV export.
    listing = BeautifulSoup((await client.get("/contracts/")).text, "html.parser")
    row = next(tr for tr in listing.select("#results tbody tr") if "街路灯保守業務" in tr.get_text())
    assert row.find_all("td")[4].get_text(strip=True) == circulating
    export = list(csv.reader(io.StringIO((await client.get("/contracts/export.csv")).content.decode("utf-8-sig"))))
    status_column = export[0].index("状態")
    assert [line[status_column] for line in export[1:] if "街路灯保守業務" in line] == [circulating]
    # The audit log and its CSV export.
    trail = BeautifulSoup((await client.get("/contracts/audit", params={"contract": "R8-L1"})).text, "html.parser")
    events = [tr.find_all("td")[1].get_text(strip=True) for tr in trail.select("#audit-events tbody tr")]
    assert sent in events
    trail_csv = list(
        csv.reader(
            io.StringIO(
                (await client.get("/contracts/audit.csv", params={"contract": "R8-L1"})).content.decode("utf-8-sig")
            )
        )
    )
    assert {line[1] for line in trail_csv[1:]} == set(events)

    # The certificate of conclusion names statuses and events with the same words.
    pdf = render_certificate(
        CertificateData(
            member_name="盛岡市",
            title_formal_name="盛岡市長",
            subject="街路灯保守業務",
            contract_number="R8-L1",
            amount=None,
            transaction_date=None,
            counterparty="",
            concluded_at=dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC),
            contract_id=str(contract_id),
            parties=[PartyLine(1, "契約者", "岩手建設", "担当", "first@example.co.jp", PartyStatus.AGREED)],
            events=[
                AgreementLine(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), AuditKind.FORWARDED, "担当", "a@x.jp", "-"),
                AgreementLine(dt.datetime(2026, 12, 1, tzinfo=dt.UTC), AuditKind.AGREED, "担当", "b@x.jp", "-"),
            ],
        )
    )
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
    for word in (agreed_party, agreed_event, forwarded_event):
        assert word in text, word
    assert "agreed" not in text
    assert "forwarded" not in text
