"""The JSON API of what had only screens: webhooks, staff invitations, notification addresses (API-1, NII-6(3)).

A municipality's system integrator registers a webhook with an API key, gets its
secret once, receives real signed deliveries from the real worker and checks
them with the Python example of the README's integration guide (read from the
README and run as it is), looks at the delivery log and re-sends; invites a
staff member and follows the mailed link; routes notices to a shared mailbox.
Member B's API key reaches none of member A's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from kyodo.app import create_app
from tests import factories as f
from tests.integrations.conftest import Receiver, Stack

README = Path(__file__).resolve().parents[2] / "README.md"
LINK = re.compile(r"/invitation/([A-Za-z0-9_\-]{20,})")


def readme_verify() -> Callable[[str, dict[str, str], bytes], bool]:
    """The webhook verification example of the README's integration guide, as published."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (source,) = [b for b in blocks if "def verify(" in b and "webhook-signature" in b]
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    verify: Callable[[str, dict[str, str], bytes], bool] = namespace["verify"]
    return verify


async def _office(stack: Stack, codes: tuple[str, str]) -> dict[str, Any]:
    async with stack.maker() as session:
        # The stack's database is shared by the folder's tests: names and codes of their own.
        group = await f.consortium(session, name=f"連携API試験協議会{codes[0]}")
        a = await f.member(session, group, codes[0], "盛岡市")
        b = await f.member(session, group, codes[1], "八幡平市")
        await f.staff(session, b, f"api-admin-b-{codes[1]}")
        newcomer = await f.staff(session, a, f"api-newcomer-{codes[0]}", roles=("viewer",), password_hash=None)
        title = await f.title(session, a, "mayor", "市長", "盛岡市長")
        department = await f.department(session, a, "KEIYAKU", "契約検査課")
        office = {
            "admin_a": {"Authorization": f"Bearer {await f.api_key(session, a, roles=('admin',))}"},
            "admin_b": {"Authorization": f"Bearer {await f.api_key(session, b, roles=('admin',))}"},
            "drafter_a": {"Authorization": f"Bearer {await f.api_key(session, a, roles=('drafter',))}"},
            "title_id": str(title.id),
            "newcomer_id": str(newcomer.id),
            "newcomer_email": newcomer.email,
            "department_id": str(department.id),
        }
        await session.commit()
    return office


async def test_webhooks_through_the_api_with_the_readme_verification(  # noqa: PLR0915 - one story end to end
    stack: Stack, receiver: Receiver
) -> None:
    office = await _office(stack, ("034011", "034029"))
    a, b = office["admin_a"], office["admin_b"]
    verify = readme_verify()
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        refused = await client.post(
            "/api/v1/webhooks/", headers=a, json={"label": "財務会計", "url": receiver.url, "events": ["paid"]}
        )
        assert refused.status_code == 400
        assert refused.json()["detail"] == "不明なイベントです: paid"
        created = await client.post(
            "/api/v1/webhooks/",
            headers=a,
            json={"label": "財務会計システム", "url": receiver.url, "events": ["sent", "cancelled"]},
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        secret = endpoint["secret"]
        assert secret.startswith("whsec_")
        assert endpoint["events"] == ["sent", "cancelled"]
        listed = await client.get("/api/v1/webhooks/", headers=a)
        assert [e["label"] for e in listed.json()] == ["財務会計システム"]
        assert secret not in listed.text, "the secret is shown only once"
        assert secret not in (await client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=a)).text

        contract = await client.post(
            "/api/v1/contracts/",
            headers=office["drafter_a"],
            data={"subject": "消耗品単価契約", "title_id": office["title_id"]},
            files=[("files", ("契約書.pdf", f.pdf(1), "application/pdf"))],
        )
        assert contract.status_code == 201, contract.text
        contract_id = contract.json()["id"]
        cancelled = await client.post(f"/api/v1/contracts/{contract_id}/cancel", headers=office["drafter_a"])
        assert cancelled.status_code == 200

        first = (await stack.until(lambda: receiver.requests, "the delivery"))[0]
        assert verify(secret, first.headers, first.body), "the README's example accepts a real delivery"
        assert not verify(secret, first.headers, first.body + b" "), "and refuses a changed body"
        other_secret = (
            await client.post(
                "/api/v1/webhooks/", headers=a, json={"label": "文書管理", "url": receiver.url, "events": ["sent"]}
            )
        ).json()
        assert not verify(other_secret["secret"], first.headers, first.body), "and another endpoint's secret"
        assert json.loads(first.body)["data"]["contract_id"] == contract_id

        async def delivered() -> list[dict[str, Any]]:
            answer = await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=a)
            assert answer.status_code == 200, answer.text
            return [d for d in answer.json() if d["status"] == "delivered"]

        deliveries: list[dict[str, Any]] = []
        while not deliveries:
            await stack.pump()
            deliveries = await delivered()
        (delivery,) = deliveries
        assert delivery["message_id"] == first.headers["webhook-id"]
        assert delivery["event"] == "cancelled"
        assert [x["status_code"] for x in delivery["log"]] == [200]

        resent = await client.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/resend", headers=a)
        assert resent.status_code == 202, resent.text
        again = (await stack.until(lambda: receiver.requests[1:], "the re-send"))[0]
        assert again.headers["webhook-id"] == first.headers["webhook-id"]
        assert verify(secret, again.headers, again.body)

        # Member B's administrator key: nothing of member A's, nothing changed.
        assert "財務会計" not in (await client.get("/api/v1/webhooks/", headers=b)).text
        for method, path in (
            ("GET", f"/api/v1/webhooks/{endpoint['id']}"),
            ("GET", f"/api/v1/webhooks/{endpoint['id']}/deliveries"),
            ("PATCH", f"/api/v1/webhooks/{endpoint['id']}"),
            ("POST", f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/resend"),
            ("DELETE", f"/api/v1/webhooks/{endpoint['id']}"),
        ):
            answer = await client.request(method, path, headers=b, json={"active": False})
            assert answer.status_code == 404, (method, path, answer.text)
            assert "財務会計" not in answer.text
        # A key without webhook:manage is refused.
        assert (await client.get("/api/v1/webhooks/", headers=office["drafter_a"])).status_code == 403

        off = await client.patch(f"/api/v1/webhooks/{endpoint['id']}", headers=a, json={"active": False})
        assert off.status_code == 200
        assert off.json()["active"] is False
        not_now = await client.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/resend", headers=a)
        assert not_now.status_code == 400
        assert not_now.json()["detail"] == "再送する前に Webhook を再開してください。"
        gone = await client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=a)
        assert gone.status_code == 204
        assert [e["label"] for e in (await client.get("/api/v1/webhooks/", headers=a)).json()] == ["文書管理"]
    assert len(receiver.requests) == 2


async def test_staff_invitations_through_the_api(stack: Stack) -> None:
    office = await _office(stack, ("034037", "034045"))
    a, b = office["admin_a"], office["admin_b"]
    staff_id, email = office["newcomer_id"], office["newcomer_email"]
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        assert (await client.get(f"/api/v1/staff/{staff_id}/invitation", headers=a)).status_code == 404
        headers = a | {"Idempotency-Key": "invite-newcomer-1"}
        sent = await client.post(f"/api/v1/staff/{staff_id}/invitation", headers=headers)
        assert sent.status_code == 202, sent.text
        assert sent.json()["status"] == "queued"
        # The integrator's retry of the same request mails nothing more.
        retried = await client.post(f"/api/v1/staff/{staff_id}/invitation", headers=headers)
        assert retried.json() == sent.json()
        mails = await stack.until(lambda: stack.mailbox.to(email), "the invitation")
        first = LINK.search(mails[0].get_content())
        assert first
        assert (await client.get(f"/invitation/{first.group(1)}")).status_code == 200
        status = await client.get(f"/api/v1/staff/{staff_id}/invitation", headers=a)
        assert status.json()["status"] == "sent"
        # Sent again (another key): a new link, the older one stops working.
        again = await client.post(f"/api/v1/staff/{staff_id}/invitation", headers=a)
        assert again.status_code == 202
        assert again.json()["id"] != sent.json()["id"]
        mails = await stack.until(lambda: stack.mailbox.to(email)[1:], "the second invitation")
        assert (await client.get(f"/invitation/{first.group(1)}")).status_code == 410
        assert len(stack.mailbox.to(email)) == 2
        # Member B's administrator invites nobody of member A's and learns nothing of it.
        for method in ("GET", "POST"):
            answer = await client.request(method, f"/api/v1/staff/{staff_id}/invitation", headers=b)
            assert answer.status_code == 404, answer.text
            assert email not in answer.text
        assert (await client.post(f"/api/v1/staff/{uuid.uuid4()}/invitation", headers=a)).status_code == 404
    assert len(stack.mailbox.to(email)) == 2


async def test_notification_addresses_through_the_api(stack: Stack) -> None:
    office = await _office(stack, ("034053", "034061"))
    a, b = office["admin_a"], office["admin_b"]
    async with AsyncTestClient(app=create_app(stack.settings)) as client:
        bad = await client.post(
            "/api/v1/notification-addresses/", headers=a, json={"email": "keiyaku@", "notices": ["request_staff"]}
        )
        assert bad.status_code == 400
        assert "メールアドレス" in bad.json()["detail"]
        body = {
            "email": "keiyaku@city.morioka.example.jp",
            "notices": ["request_staff"],
            "mode": "instead",
            "department_id": office["department_id"],
        }
        key = a | {"Idempotency-Key": "route-keiyaku"}
        added = await client.post("/api/v1/notification-addresses/", headers=key, json=body)
        assert added.status_code == 201, added.text
        assert added.json()["department"] == "契約検査課"
        assert (await client.post("/api/v1/notification-addresses/", headers=key, json=body)).json() == added.json()
        listed = await client.get("/api/v1/notification-addresses/", headers=a)
        assert [(x["email"], x["mode"]) for x in listed.json()] == [("keiyaku@city.morioka.example.jp", "instead")]
        # Member B: neither sees nor deletes it, nor files an address under member A's department.
        assert "keiyaku@" not in (await client.get("/api/v1/notification-addresses/", headers=b)).text
        removed = await client.delete(f"/api/v1/notification-addresses/{added.json()['id']}", headers=b)
        assert removed.status_code == 404
        foreign = await client.post(
            "/api/v1/notification-addresses/", headers=b, json=body | {"email": "x@city.hachimantai.example.jp"}
        )
        assert foreign.status_code == 400
        assert len((await client.get("/api/v1/notification-addresses/", headers=a)).json()) == 1
        deleted = await client.delete(f"/api/v1/notification-addresses/{added.json()['id']}", headers=a)
        assert deleted.status_code == 204
        assert (await client.get("/api/v1/notification-addresses/", headers=a)).json() == []
