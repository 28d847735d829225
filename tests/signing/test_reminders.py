"""Reminders after a configurable delay, and the purge of old operation logs (WF-7, DAT-6)."""

from __future__ import annotations

import datetime as dt

import psycopg
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.outbox import OutboxMessage
from core.settings import Settings, to_psycopg_url
from signing.audit import Actor, append_event
from signing.mail import MAIL_TASK
from signing.models import AuditEvent, AuditKind, PortalSignIn
from signing.services import remind
from tests import factories as f
from tests.scope import system_access
from tests.signing.conftest import Office
from tests.signing.test_contractor_errors import _links, _sent


async def test_unanswered_parties_are_reminded_once_per_delay(
    client: AsyncTestClient, office: Office, db_session: AsyncSession, settings: Settings
) -> None:
    await _sent(client, office)
    first_link = (await _links(db_session, settings))["first@example.co.jp"]
    await system_access(db_session)
    assert await remind(db_session, settings) == 0  # not due yet
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.contracts.reminder_hours + 1)
    assert await remind(db_session, settings, now=later) == 1
    assert await remind(db_session, settings, now=later) == 0  # once per delay
    mails = (
        await db_session.scalars(
            select(OutboxMessage).where(OutboxMessage.task_name == MAIL_TASK).order_by(OutboxMessage.id)
        )
    ).all()
    assert mails[-1].kwargs["subject"].startswith("【再送】")
    assert mails[-1].kwargs["to"] == "first@example.co.jp"
    # The reminder carries a fresh link; the old one stops working.
    assert (await _links(db_session, settings))["first@example.co.jp"] != first_link
    assert (await client.get(f"/c/{first_link}")).status_code == 404


async def test_purge_keeps_contract_trails(fresh_database: Settings, monkeypatch) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        group = await f.consortium(session)
        member = await f.member(session, group, "032018", "盛岡市")
        await append_event(
            session, member_id=member.id, contract_id=None, kind=AuditKind.EXPORTED, who=Actor("staff:old")
        )
        await append_event(
            session, member_id=member.id, contract_id=None, kind=AuditKind.SEARCHED, who=Actor("staff:new")
        )
        await session.commit()
    admin = fresh_database.database.admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "UPDATE contract_audit_event SET occurred_at = now() - interval '4 years' WHERE actor = 'staff:old'"
        )
        for email, age in (("old@example.co.jp", "4 years"), ("new@example.co.jp", "1 day")):
            conn.execute(
                "INSERT INTO portal_sign_in (id, email, token_hash, expires_at, user_agent, mailed, created_at, "
                "updated_at) VALUES (gen_random_uuid(), %s, md5(%s), now(), '', true, now() - %s::interval, now())",
                (email, email, age),
            )
    monkeypatch.setenv("KYODO_DATABASE_URL", fresh_database.database.url)
    monkeypatch.setenv("KYODO_DATABASE_ADMIN_URL", fresh_database.database.admin_url)
    from core.settings import get_settings
    from signing.tasks import purge_operation_logs

    get_settings.cache_clear()
    try:
        assert purge_operation_logs() == 2  # the old search/export entry and the old portal sign-in
    finally:
        get_settings.cache_clear()
    async with maker() as session:
        await system_access(session)
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1
        assert (await session.scalars(select(PortalSignIn.email))).all() == ["new@example.co.jp"]
    await engine.dispose()
