"""Row-level security, the second line of member isolation (SEC-4)."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import for_member, member_owned_tables
from core.settings import DatabaseSettings, Settings
from kyodo.app import create_app
from kyodo.models import metadata
from tenants.models import Department, Staff
from tests import factories as f
from tests.conftest import TwoMembers
from tests.scope import system_access


def test_every_member_owned_table_has_the_isolation_policy(settings: Settings) -> None:
    """Fails as soon as a model with member_id is added without its policy in a migration."""
    tables = member_owned_tables(metadata)
    assert "staff" in tables  # the check really looks at the models
    with psycopg.connect(settings.database.admin_url) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname
                           AND p.policyname = 'member_isolation')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'
            """
        ).fetchall()
    state = {name: (enabled, forced, policy) for name, enabled, forced, policy in rows}
    missing = [t for t in tables if state.get(t) != (True, True, True)]
    assert not missing, f"member-owned tables without enabled, forced row-level security: {missing}"


def test_the_platform_role_is_subject_to_row_level_security(settings: Settings) -> None:
    with psycopg.connect(settings.database.url) as conn:
        row = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    assert row == (False, False)


async def test_a_query_that_forgets_its_filter_sees_only_its_member(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.department(db_session, two_members.a, "K01", "契約課")
    await f.department(db_session, two_members.b, "Z01", "財政課")
    await for_member(db_session, two_members.a.id)
    names = (await db_session.scalars(select(Department.name))).all()
    assert names == ["契約課"]
    staff = (await db_session.scalars(select(Staff.login_id))).all()
    assert staff == ["morioka-admin"]


async def test_a_session_that_names_no_member_sees_no_member_rows(
    db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await for_member(db_session, None)
    assert (await db_session.scalars(select(Staff))).all() == []


async def test_writing_a_row_for_another_member_is_refused(db_session: AsyncSession, two_members: TwoMembers) -> None:
    await for_member(db_session, two_members.a.id)
    savepoint = await db_session.begin_nested()
    db_session.add(Department(member_id=two_members.b.id, code="X", name="侵入"))
    with pytest.raises(DBAPIError, match="row-level security"):
        await db_session.flush()
    await savepoint.rollback()
    await system_access(db_session)
    count = await db_session.scalar(
        text("SELECT count(*) FROM department WHERE member_id = :b"), {"b": two_members.b.id}
    )
    assert count == 0


async def test_the_platform_refuses_to_start_as_a_superuser(settings: Settings) -> None:
    unsafe = dataclasses.replace(
        settings, database=DatabaseSettings(url=settings.database.admin_url, admin_url=settings.database.admin_url)
    )
    with pytest.raises(BaseException) as refused:  # noqa: PT011 - the start-up error may arrive grouped
        async with AsyncTestClient(app=create_app(unsafe)):
            pass
    found: list[BaseException] = [refused.value]
    while found and not isinstance(found[-1], RuntimeError):
        current = found.pop()
        found.extend(getattr(current, "exceptions", ()))
    assert found, refused.value
    assert "row-level security" in str(found[-1])
