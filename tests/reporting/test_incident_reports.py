"""障害申告: a member's administrator reports an incident; operators are mailed, triage it and write progress."""

from __future__ import annotations

import datetime as dt

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from reporting.models import Incident
from tenants.models import Member
from tests import factories as f
from tests.conftest import TwoMembers, sign_in
from tests.reporting.conftest import JST, deliver_queued_mail
from tests.reporting.test_operator_screens import _post
from tests.scope import system_access
from tests.signing.conftest import Mailbox


def _local(moment: dt.datetime) -> str:
    return f"{moment.astimezone(JST):%Y-%m-%dT%H:%M}"


def _form(since: dt.datetime) -> dict[str, str | list[str]]:
    return {
        "what": "契約一覧を開くとエラー画面になる",
        "since": _local(since),
        "affected": "契約一覧、八総第12号の契約書",
        "urgency": "high",
        "phone": "019-651-4111",
    }


async def _incidents_counted(db_session: AsyncSession) -> int:
    """Incidents in 盛岡市's figures of this month (what its monthly report will list)."""
    from reporting.figures import compute_month

    await system_access(db_session)
    now = dt.datetime.now(JST)
    (member,) = await db_session.scalars(select(Member).where(Member.lg_code == "032018"))
    figures = await compute_month(db_session, member.consortium_id, now.date().replace(day=1), member_ids=[member.id])
    return len(figures[0].incidents)


async def _operator_triages(client: AsyncTestClient, db_session: AsyncSession) -> None:
    """The operator finds the report on the incident list, confirms it, sets severity and members, writes progress."""
    await sign_in(client, "kyodo-unyo")
    await system_access(db_session)
    incident = await db_session.scalar(select(Incident))
    assert incident is not None
    assert incident.status == "reported"
    listing = await client.get("/operator/incidents/")
    row = listing.text[listing.text.index(f'href="/operator/incidents/{incident.id}"') :].split("</tr>")[0]
    assert "申告受付" in row
    assert "盛岡市" in row
    assert "重要" in row  # the severity, before triage
    detail = await client.get(f"/operator/incidents/{incident.id}")
    assert "019-651-4111" in detail.text
    assert "高：業務が止まっている" in detail.text
    assert await _incidents_counted(db_session) == 0  # a report counts once an operator confirms it

    empty = await _post(client, f"/operator/incidents/{incident.id}/progress", {"note": ""})
    assert empty.status_code == 400
    triaged = await _post(
        client,
        f"/operator/incidents/{incident.id}/triage",
        {
            "title": "契約一覧が表示されない",
            "status": "confirmed",
            "severity": "critical",
            "scope": "some",
            "members": ["032018", "032140"],
        },
    )
    assert triaged.status_code == 303
    noted = await _post(client, f"/operator/incidents/{incident.id}/progress", {"note": "索引の再構築を開始しました"})
    assert noted.status_code == 303
    await db_session.refresh(incident)
    assert (incident.status, incident.severity, incident.title) == ("confirmed", "critical", "契約一覧が表示されない")
    row = (await client.get("/operator/incidents/")).text
    assert "重大" in row
    assert await _incidents_counted(db_session) == 1
    assert "八幡平市" in (await client.get(f"/operator/incidents/{incident.id}")).text


async def test_an_administrator_reports_an_incident_the_operators_are_mailed_and_triage_it(
    client: AsyncTestClient,
    db_session: AsyncSession,
    two_members: TwoMembers,
    settings: Settings,
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    await f.operator(db_session)
    since = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=40)
    await sign_in(client, "morioka-admin")
    start = await client.get("/app")
    assert 'href="/incident-reports/"' in start.text
    page = await client.get("/incident-reports/")
    assert page.status_code == 200
    assert "障害を申告する" in page.text

    # A wrong telephone number: the same form, the reason, and what was typed stays.
    wrong = await _post(client, "/incident-reports/", {**_form(since), "phone": "いつでも"})
    assert wrong.status_code == 400
    assert "折り返しの電話番号" in wrong.text
    assert "契約一覧を開くとエラー画面になる" in wrong.text
    assert 'value="いつでも"' in wrong.text
    missing = await _post(client, "/incident-reports/", {**_form(since), "what": ""})
    assert missing.status_code == 400
    assert "何が起きているかを書いてください" in missing.text

    sent = await _post(client, "/incident-reports/", _form(since))
    assert sent.status_code == 303
    mine = await client.get(sent.headers["location"])
    assert "申告を受け付けました" in mine.text
    assert "申告受付" in mine.text
    assert "019-651-4111" in mine.text
    assert "令和" in mine.text  # dates in the Japanese era

    # The operators are mailed with everything the administrator wrote.
    assert await deliver_queued_mail(db_session, settings, port) == 1
    (mail,) = box.messages
    assert mail["To"] == "kyodo-unyo@kyodo.example.jp"
    assert mail["Subject"] == "【共同】盛岡市から障害の申告がありました（緊急度：高：業務が止まっている）"
    body = mail.get_content()
    for text in ("契約一覧を開くとエラー画面になる", "契約一覧、八総第12号の契約書", "019-651-4111", "morioka-admin"):
        assert text in body, text

    # Not confirmed yet: it is on nobody's status page, and the reporting member's figures do not count it.
    assert "契約一覧を開くとエラー画面になる" not in (await client.get("/status")).text

    await _operator_triages(client, db_session)

    # The reporting administrator follows the progress; a confirmed incident shows on the status page.
    await sign_in(client, "morioka-admin")
    listing = await client.get("/incident-reports/")
    assert "対応中" in listing.text
    report_page = await client.get(sent.headers["location"])
    assert "索引の再構築を開始しました" in report_page.text
    assert "契約一覧が表示されない" in (await client.get("/status")).text


async def test_only_administrators_report_and_no_member_sees_another_members_reports(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.operator(db_session)
    await f.staff(db_session, two_members.a, "morioka-drafter", roles=("drafter", "signer"))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    await sign_in(client, "morioka-drafter")
    assert 'href="/incident-reports/"' not in (await client.get("/app")).text
    assert (await client.get("/incident-reports/")).status_code == 403
    assert (await _post(client, "/incident-reports/", _form(since))).status_code == 403
    await system_access(db_session)
    assert (await db_session.scalars(select(Incident))).first() is None

    await sign_in(client, "morioka-admin")
    sent = await _post(client, "/incident-reports/", _form(since))
    assert sent.status_code == 303
    await sign_in(client, "hachimantai-admin")
    listing = await client.get("/incident-reports/")
    assert listing.status_code == 200
    assert "契約一覧を開くとエラー画面になる" not in listing.text
    assert (await client.get(sent.headers["location"])).status_code == 404
    assert "契約一覧を開くとエラー画面になる" not in (await client.get("/status")).text


async def test_a_report_the_operator_closes_as_no_failure_counts_nowhere_and_the_member_sees_why(
    client: AsyncTestClient, db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.operator(db_session)
    await sign_in(client, "morioka-admin")
    sent = await _post(client, "/incident-reports/", _form(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    assert sent.status_code == 303
    await sign_in(client, "kyodo-unyo")
    await system_access(db_session)
    incident = await db_session.scalar(select(Incident))
    assert incident is not None
    closed = await _post(
        client,
        f"/operator/incidents/{incident.id}/triage",
        {"title": incident.title, "status": "dismissed", "severity": "minor", "scope": "some", "members": ["032018"]},
    )
    assert closed.status_code == 303
    noted = await _post(
        client, f"/operator/incidents/{incident.id}/progress", {"note": "ブラウザの古いキャッシュが原因でした"}
    )
    assert noted.status_code == 303
    assert await _incidents_counted(db_session) == 0
    await sign_in(client, "morioka-admin")
    page = await client.get(sent.headers["location"])
    assert "対応終了（サービスの障害に該当せず）" in page.text
    assert "ブラウザの古いキャッシュが原因でした" in page.text
    assert "契約一覧を開くとエラー画面になる" not in (await client.get("/status")).text
