"""Webhooks: registered on the screen, signed, posted by a real worker to a real receiver, retried, re-sent, refused."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.outbox import OutboxMessage
from core.scope import Principal, PrincipalKind
from core.settings import IntegrationSettings, Settings
from kyodo.app import create_app
from signing.audit import Actor, append_event
from signing.mail import MAIL_TASK
from signing.models import AuditKind, Contract, ContractStatus
from signing.webhook_delivery import attempt_delivery, check_target, queue_due
from signing.webhooks import (
    DELIVER_TASK,
    HAND_OVER_LEASE,
    RETRY_SCHEDULE,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.integrations.conftest import Receiver, Stack
from tests.scope import system_access

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (Standard Webhooks): HMAC-SHA256 of ``id.timestamp.body`` with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, part.split(",", 1)[1]) for part in headers["webhook-signature"].split(" "))


async def _register(client: AsyncTestClient[Litestar], url: str, events: list[str]) -> tuple[str, str]:
    """Register through the screen; the endpoint's id and its secret, shown once."""
    page = await client.post(
        "/admin/webhooks/",
        data={"label": "財務会計システム", "url": url, "events": events, "_csrf_token": await csrf_token(client)},
    )
    assert page.status_code == 200, page.text
    found = SECRET.search(page.text)
    assert found, page.text
    back = re.search(r'href="/admin/webhooks/([0-9a-f-]{36})"', page.text)
    assert back
    return back.group(1), found.group(0)


async def _delivery(stack: Stack, endpoint_id: str) -> WebhookDelivery:
    async with stack.maker() as session:
        await system_access(session)
        row = (
            await session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id)))
        ).one()
        await session.commit()
        return row


async def test_a_notice_is_signed_retried_with_the_same_id_and_resent(  # noqa: PLR0915 - one story end to end
    stack: Stack, receiver: Receiver
) -> None:
    async with stack.maker() as session:
        # The stack's database is shared by the folder's tests: names and codes of their own.
        group = await f.consortium(session, name="通知試験協議会")
        a = await f.member(session, group, "032018", "盛岡市")
        b = await f.member(session, group, "032140", "八幡平市")
        await f.staff(session, a, "hook-admin-a")
        await f.staff(session, b, "hook-admin-b")
        title = await f.title(session, a, "mayor", "市長", "盛岡市長")
        key = await f.api_key(session, a, roles=("drafter",))
        await session.commit()
    receiver.plan = [500]
    api = {"Authorization": f"Bearer {key}"}
    async with (
        AsyncTestClient(app=create_app(stack.settings)) as client,
        AsyncTestClient(app=create_app(stack.settings)) as other,
    ):
        await sign_in(client, "hook-admin-a")
        endpoint_id, secret = await _register(client, receiver.url, ["sent", "cancelled"])
        created = await client.post(
            "/api/v1/contracts/",
            headers=api,
            data={"subject": "消耗品単価契約", "title_id": str(title.id), "contract_number": "盛総第77号"},
            files=[("files", ("契約書.pdf", f.pdf(1), "application/pdf"))],
        )
        assert created.status_code == 201, created.text
        contract_id = created.json()["id"]
        cancelled = await client.post(f"/api/v1/contracts/{contract_id}/cancel", headers=api)
        assert cancelled.status_code == 200, cancelled.text

        first = (await stack.until(lambda: receiver.requests, "the first attempt"))[0]
        assert first.path == "/kyodo/hook"
        assert first.headers["webhook-id"].startswith("msg_")
        assert verify(secret, first.headers, first.body)
        assert not verify("whsec_" + base64.b64encode(b"x" * 24).decode(), first.headers, first.body)
        payload = json.loads(first.body)
        assert payload["type"] == "contract.cancelled"
        assert payload["data"]["contract_id"] == contract_id
        assert payload["data"]["contract_number"] == "盛総第77号"
        assert payload["data"]["status"] == "cancelled"

        # The 500 is logged and a retry scheduled; the retry pass, a day later, hands it out again.
        async def _scheduled() -> WebhookDelivery | None:
            row = await _delivery(stack, endpoint_id)
            return row if row.attempts == 1 else None

        row = None
        while row is None:
            row = await _scheduled()
        assert row.status is DeliveryStatus.PENDING
        assert row.last_status == 500
        assert row.next_attempt_at is not None
        async with stack.maker() as session:
            await system_access(session)
            assert await queue_due(session, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == 1
            await session.commit()
        second = (await stack.until(lambda: receiver.requests[1:], "the retry"))[0]
        assert second.headers["webhook-id"] == first.headers["webhook-id"]
        assert second.body == first.body
        assert verify(secret, second.headers, second.body)

        while (await _delivery(stack, endpoint_id)).status is not DeliveryStatus.DELIVERED:
            await stack.pump()
        page = await client.get(f"/admin/webhooks/{endpoint_id}")
        assert page.status_code == 200
        assert "HTTP 500" in page.text
        assert "HTTP 200" in page.text
        assert first.headers["webhook-id"] in page.text
        assert secret not in page.text, "the secret is shown only once"

        # Re-sent from the screen: the same id again.
        delivery = await _delivery(stack, endpoint_id)
        resent = await client.post(
            f"/admin/webhooks/{endpoint_id}/deliveries/{delivery.id}/resend",
            data={"_csrf_token": await csrf_token(client)},
            follow_redirects=False,
        )
        assert resent.status_code == 303
        third = (await stack.until(lambda: receiver.requests[2:], "the re-send"))[0]
        assert third.headers["webhook-id"] == first.headers["webhook-id"]

        # Another member's administrator sees nothing of it and cannot touch it.
        await sign_in(other, "hook-admin-b")
        assert "財務会計システム" not in (await other.get("/admin/webhooks/")).text
        assert (await other.get(f"/admin/webhooks/{endpoint_id}")).status_code == 404
        token = await csrf_token(other)
        for path in (
            f"/admin/webhooks/{endpoint_id}/deliveries/{delivery.id}/resend",
            f"/admin/webhooks/{endpoint_id}/active",
            f"/admin/webhooks/{endpoint_id}/delete",
        ):
            answer = await other.post(path, data={"_csrf_token": token, "active": "0"}, follow_redirects=False)
            assert answer.status_code == 404, path
    assert len(receiver.requests) == 3
    async with stack.maker() as session:
        await system_access(session)
        endpoint = await session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert endpoint is not None
        assert endpoint.active
        await session.commit()


@pytest.fixture
def private_ok(settings: Settings) -> Settings:
    return dataclasses.replace(settings, integrations=IntegrationSettings(webhook_allow_private=True))


async def _endpoint_and_event(
    session: AsyncSession, two: TwoMembers, settings: Settings, url: str
) -> tuple[WebhookEndpoint, WebhookDelivery]:
    from signing.webhook_service import WebhookService

    await system_access(session)
    title = await f.title(session, two.a, "mayor", "市長", "盛岡市長")
    contract = Contract(member_id=two.a.id, title_id=title.id, subject="備品購入契約", status=ContractStatus.CANCELLED)
    session.add(contract)
    await session.flush()
    principal = await _principal(two)
    endpoint, _secret = await WebhookService(session, settings, two.a.id).create(
        principal, label="文書管理システム", url=url, events=["cancelled"]
    )
    await append_event(
        session, member_id=two.a.id, contract_id=contract.id, kind=AuditKind.CANCELLED, who=Actor("起案 太郎")
    )
    delivery = (await session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))).one()
    return endpoint, delivery


async def _principal(two: TwoMembers) -> Principal:
    return Principal(
        kind=PrincipalKind.STAFF,
        id=two.admin_a.id,
        name=two.admin_a.name,
        consortium_id=two.consortium.id,
        member_id=two.a.id,
    )


async def test_a_day_of_failures_disables_the_endpoint_and_mails_the_administrators(
    db_session: AsyncSession, two_members: TwoMembers, private_ok: Settings, receiver: Receiver
) -> None:
    receiver.default = 503
    endpoint, delivery = await _endpoint_and_event(db_session, two_members, private_ok, receiver.url)
    for attempt in range(len(RETRY_SCHEDULE) + 1):
        outcome = await attempt_delivery(db_session, private_ok, delivery.id, attempt=attempt)
        assert outcome is not None
        assert outcome.status == 503
        # The same attempt handed out twice is made once.
        assert await attempt_delivery(db_session, private_ok, delivery.id, attempt=attempt) is None
    assert len(receiver.requests) == len(RETRY_SCHEDULE) + 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    await db_session.refresh(delivery)
    await db_session.refresh(endpoint)
    assert delivery.status is DeliveryStatus.FAILED
    assert not endpoint.active
    assert "503" in endpoint.disabled_reason
    mails = (await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK))).all()
    to_admin = [m for m in mails if m.kwargs["to"] == two_members.admin_a.email]
    assert to_admin, [m.kwargs["to"] for m in mails]
    assert "文書管理システム" in to_admin[0].kwargs["subject"]
    assert "停止" in to_admin[0].kwargs["subject"] + to_admin[0].kwargs["body"]
    assert all(m.kwargs["to"] != two_members.admin_b.email for m in mails)
    logged = (await db_session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id))).all()
    assert [a.status_code for a in logged] == [503] * (len(RETRY_SCHEDULE) + 1)
    assert all(a.response_ms is not None for a in logged)


async def test_redirects_are_not_followed(
    db_session: AsyncSession, two_members: TwoMembers, private_ok: Settings, receiver: Receiver
) -> None:
    receiver.plan = [302]
    receiver.location = receiver.url + "/moved"
    _endpoint, delivery = await _endpoint_and_event(db_session, two_members, private_ok, receiver.url)
    outcome = await attempt_delivery(db_session, private_ok, delivery.id)
    assert outcome is not None
    assert outcome.status == 302
    assert not outcome.ok
    assert [r.path for r in receiver.requests] == ["/kyodo/hook"]
    await db_session.refresh(delivery)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
    ],
)
def test_targets_inside_are_refused(settings: Settings, url: str) -> None:
    with pytest.raises(Invalid):
        check_target(settings, url)


def test_a_setting_allows_private_targets(private_ok: Settings) -> None:
    assert check_target(private_ok, "http://127.0.0.1:8080/hook").address == "127.0.0.1"


async def test_the_screen_refuses_a_private_target_in_japanese(
    client: AsyncTestClient[Litestar], two_members: TwoMembers, receiver: Receiver
) -> None:
    await sign_in(client, "morioka-admin")
    page = await client.post(
        "/admin/webhooks/",
        data={"label": "内部", "url": receiver.url, "events": ["sent"], "_csrf_token": await csrf_token(client)},
    )
    assert page.status_code == 400
    assert "プライベート" in page.text or "ループバック" in page.text
    assert "whsec_" not in page.text
    assert "内部" not in (await client.get("/admin/webhooks/")).text


async def test_a_target_that_turned_private_is_not_posted_to(
    db_session: AsyncSession, two_members: TwoMembers, private_ok: Settings, settings: Settings, receiver: Receiver
) -> None:
    """Registered while allowed, delivered when no longer allowed (or a name re-pointed inside): nothing is sent."""
    _endpoint, delivery = await _endpoint_and_event(db_session, two_members, private_ok, receiver.url)
    outcome = await attempt_delivery(db_session, settings, delivery.id)
    assert outcome is not None
    assert outcome.status is None
    assert outcome.error.startswith("refused")
    assert receiver.requests == []
    await db_session.refresh(delivery)
    assert delivery.status is DeliveryStatus.FAILED


async def test_only_webhook_managers_reach_the_screens(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.staff(db_session, two_members.a, "hook-drafter", roles=("drafter",))
    await sign_in(client, "hook-drafter")
    assert (await client.get("/admin/webhooks/")).status_code == 403


async def test_a_first_attempt_never_made_is_handed_again_after_the_lease_and_made_once(
    db_session: AsyncSession, two_members: TwoMembers, private_ok: Settings, receiver: Receiver
) -> None:
    # Its worker was killed mid-attempt (the attempt's transaction rolled back) or its task was lost
    # on the way: beat hands it to another worker after the lease, not after the broker's hour.
    _endpoint, delivery = await _endpoint_and_event(db_session, two_members, private_ok, receiver.url)

    async def handed() -> list[dict[str, object]]:
        rows = await db_session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == DELIVER_TASK).order_by(OutboxMessage.id)
        )
        return [m.kwargs for m in rows]

    first = {"delivery_id": str(delivery.id), "attempt": 0}
    assert await handed() == [first]
    now = dt.datetime.now(dt.UTC)
    assert await queue_due(db_session, now=now + dt.timedelta(minutes=1)) == 0  # the attempt may still be under way
    assert await queue_due(db_session, now=now + HAND_OVER_LEASE + dt.timedelta(seconds=1)) == 1
    assert await handed() == [first, first]
    assert await attempt_delivery(db_session, private_ok, delivery.id, attempt=0) is not None
    # The first hand-over, delivered late by the broker, finds the attempt made.
    assert await attempt_delivery(db_session, private_ok, delivery.id, attempt=0) is None
    assert len(receiver.requests) == 1
    await db_session.refresh(delivery)
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.DELIVERED, None)
