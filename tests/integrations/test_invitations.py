"""Invitations: new staff (one by one or imported) choose their own password from a mailed, one-use, expiring link."""

from __future__ import annotations

import re
import uuid

from bs4 import BeautifulSoup
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from kyodo.app import create_app
from tenants.invitation_service import InvitationService, claim_for_mail
from tenants.invitations import INVITATION_TASK
from tenants.models import Staff
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.integrations.conftest import Stack
from tests.scope import system_access

LINK = re.compile(r"/invitation/([A-Za-z0-9_\-]{20,})")
CSV = "氏名,所属,メールアドレス,ロール,契約名義\r\n盛岡 新人,,shinjin@city.morioka.lg.jp,viewer,\r\n"


async def _link(stack: Stack, address: str, count: int = 1) -> str:
    mails = await stack.until(lambda: stack.mailbox.to(address)[count - 1 :], f"invitation #{count} to {address}")
    body = mails[0].get_content()
    assert "ログインID" in body, body
    found = LINK.search(body)
    assert found, body
    return found.group(1)


async def _choose(client: AsyncTestClient[Litestar], token: str, new: str, confirm: str | None = None) -> object:
    page = await client.get(f"/invitation/{token}")
    assert page.status_code == 200, page.text
    return await client.post(
        f"/invitation/{token}",
        data={"new": new, "confirm": confirm or new, "_csrf_token": await csrf_token(client)},
        follow_redirects=False,
    )


async def test_new_staff_choose_their_password_from_the_mailed_link(stack: Stack) -> None:
    async with stack.maker() as session:
        # The stack's database is shared by the folder's tests: names and codes of their own.
        group = await f.consortium(session, name="招待試験協議会")
        a = await f.member(session, group, "033014", "盛岡市")
        b = await f.member(session, group, "033022", "八幡平市")
        await f.staff(session, a, "inv-admin-a")
        await f.staff(session, b, "inv-admin-b")
        await session.commit()
    async with (
        AsyncTestClient(app=create_app(stack.settings)) as admin,
        AsyncTestClient(app=create_app(stack.settings)) as person,
        AsyncTestClient(app=create_app(stack.settings)) as other,
    ):
        await sign_in(admin, "inv-admin-a")
        added = await admin.post(
            "/admin/staff",
            data={
                "login_id": "morioka-newcomer",
                "name": "盛岡 新太",
                "email": "newcomer@city.morioka.lg.jp",
                "invite": "1",
                "_csrf_token": await csrf_token(admin),
            },
            follow_redirects=False,
        )
        assert added.status_code == 303, added.text
        staff_id = added.headers["location"].split("/")[3].split("?")[0]
        first = await _link(stack, "newcomer@city.morioka.lg.jp")
        mail = stack.mailbox.to("newcomer@city.morioka.lg.jp")[0]
        assert "盛岡市" in mail["Subject"]
        assert "morioka-newcomer" in mail.get_content()

        # The administrator sends it again: only the newest link works.
        again = await admin.post(
            f"/admin/staff/{staff_id}/invitation", data={"_csrf_token": await csrf_token(admin)}, follow_redirects=False
        )
        assert again.status_code == 303
        second = await _link(stack, "newcomer@city.morioka.lg.jp", 2)
        assert second != first
        stale = await person.get(f"/invitation/{first}")
        assert stale.status_code == 410
        assert "新しい招待" in stale.text

        page = await person.get(f"/invitation/{second}")
        assert "morioka-newcomer" in page.text
        mismatch = await _choose(person, second, "my-own-password-1", "my-own-password-2")
        assert getattr(mismatch, "status_code", 0) == 400
        assert "一致しません" in getattr(mismatch, "text", "")
        short = await _choose(person, second, "short")
        assert getattr(short, "status_code", 0) == 400
        done = await _choose(person, second, "my-own-password-1")
        assert getattr(done, "status_code", 0) == 303
        await sign_in(person, "morioka-newcomer", "my-own-password-1")
        assert (await person.get("/app", follow_redirects=False)).status_code == 200, "no forced change"
        used = await other.get(f"/invitation/{second}")
        assert used.status_code == 410

        # Another member's administrator can invite nobody of member A.
        await sign_in(other, "inv-admin-b")
        refused = await other.post(
            f"/admin/staff/{staff_id}/invitation", data={"_csrf_token": await csrf_token(other)}, follow_redirects=False
        )
        assert refused.status_code == 404
    assert len(stack.mailbox.to("newcomer@city.morioka.lg.jp")) == 2


async def test_an_expired_or_unknown_link_is_refused(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    staff = await f.staff(db_session, two_members.a, "inv-late", roles=(), password_hash=None)
    invitation = await InvitationService(db_session, two_members.a.id).invite(staff.id)
    claimed = await claim_for_mail(db_session, invitation.id, hours=-1)
    assert claimed is not None
    _row, _staff, token = claimed
    expired = await client.get(f"/invitation/{token}")
    assert expired.status_code == 410
    assert "有効期限" in expired.text
    assert (await client.get("/invitation/" + "x" * 43)).status_code == 404
    # A claimed invitation is not mailed twice.
    assert await claim_for_mail(db_session, invitation.id, hours=72) is None


async def test_the_import_screen_sends_invitations_to_the_accounts_it_created(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    uploaded = await client.post(
        "/admin/import/",
        files={"file": ("staff.csv", CSV.encode("cp932"), "text/csv")},
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=True,
    )
    assert uploaded.status_code == 200, uploaded.text
    job_url = str(uploaded.url)
    done = await client.post(f"{job_url}/commit", data={"_csrf_token": await csrf_token(client)}, follow_redirects=True)
    assert done.status_code == 200
    soup = BeautifulSoup(done.text, "html.parser")
    form = soup.find("form", action=re.compile(r"/invitations$"))
    assert form is not None, done.text
    sent = await client.post(f"{job_url}/invitations", data={"_csrf_token": await csrf_token(client)})
    assert sent.status_code == 200, sent.text
    invited = BeautifulSoup(sent.text, "html.parser").find(id="invited")
    assert invited is not None
    login_ids = [li.get_text(strip=True) for li in invited.find_all("li")]
    assert len(login_ids) == 1
    await system_access(db_session)
    newcomer = (await db_session.scalars(select(Staff).where(Staff.login_id == login_ids[0]))).one()
    assert newcomer.email == "shinjin@city.morioka.lg.jp"
    assert newcomer.password_hash is None
    rows = (await db_session.scalars(select(OutboxMessage).where(OutboxMessage.task_name == INVITATION_TASK))).all()
    assert len(rows) == 1
    # Sending again invites them again (a fresh link); member B's administrator reaches nothing of it.
    job_id = uuid.UUID(job_url.rstrip("/").rsplit("/", 1)[1])
    await sign_in(client, "hachimantai-admin")
    other = await client.post(f"/admin/import/{job_id}/invitations", data={"_csrf_token": await csrf_token(client)})
    assert other.status_code == 404
    assert "shinjin" not in other.text
