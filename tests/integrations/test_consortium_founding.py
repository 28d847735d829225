"""A consortium without SQL (CON-1): founded from the command line or the operator screen, members added."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib
from decimal import Decimal

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings, to_psycopg_url
from kyodo.cli import cli
from onboarding import billing
from reporting.models import SlaTarget
from tenants.models import Consortium, Member, SecretariatAccount, Staff
from tests import factories as f
from tests.conftest import TwoMembers, csrf_token, sign_in
from tests.scope import system_access
from tests.signing.conftest import Mailbox


def test_the_command_line_founds_a_consortium_and_adds_members(
    stack_settings: tuple[Settings, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _box = stack_settings
    # The package's name `consortium` is the click group; the module is what reads the settings.
    monkeypatch.setattr(importlib.import_module("kyodo.cli.consortium"), "get_settings", lambda: settings)
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "consortium", "create", "--name", "ぐんま電子契約共同利用協議会", "--slug", "gunma-kyodo",
            "--secretariat-login-id", "gunma-jimukyoku", "--secretariat-name", "群馬 事務局",
            "--secretariat-email", "jimukyoku@pref.gunma.lg.jp", "--notice-days", "15",
            "--latest-end", "2033-03-31", "--availability", "99.9",
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    password = created.output.splitlines()[0]
    assert len(password) >= 12
    again = runner.invoke(
        cli,
        [
            "consortium", "create", "--name", "別の協議会", "--slug", "gunma-kyodo",
            "--secretariat-login-id", "someone-else", "--secretariat-name", "x", "--secretariat-email", "x@example.jp",
        ],
    )  # fmt: skip
    assert again.exit_code != 0
    bad_days = runner.invoke(
        cli,
        [
            "consortium", "create", "--name", "短すぎる協議会", "--slug", "too-short", "--notice-days", "3",
            "--secretariat-login-id", "too-short", "--secretariat-name", "x", "--secretariat-email", "x@example.jp",
        ],
    )  # fmt: skip
    assert bad_days.exit_code != 0
    member = runner.invoke(
        cli,
        [
            "consortium", "add-member", "--consortium", "gunma-kyodo", "--code", "102016", "--name", "前橋市",
            "--admin-login-id", "maebashi-admin", "--admin-name", "前橋 管理",
            "--admin-email", "admin@city.maebashi.lg.jp",
        ],
    )  # fmt: skip
    assert member.exit_code == 0, member.output
    assert runner.invoke(cli, ["consortium", "add-member", "--consortium", "nowhere", "--code", "102024",
                               "--name", "高崎市", "--admin-login-id", "t", "--admin-name", "t",
                               "--admin-email", "t@example.jp"]).exit_code != 0  # fmt: skip
    listed = runner.invoke(cli, ["consortium", "list"])
    assert "gunma-kyodo" in listed.output
    assert "2033-03-31" in listed.output

    async def _check() -> None:
        engine = create_async_engine(to_psycopg_url(settings.database.admin_url))
        try:
            async with async_sessionmaker(engine)() as session:
                await system_access(session)
                group = (await session.scalars(select(Consortium).where(Consortium.slug == "gunma-kyodo"))).one()
                assert group.maintenance_notice_days == 15
                assert group.latest_end == dt.date(2033, 3, 31)
                account = (
                    await session.scalars(
                        select(SecretariatAccount).where(SecretariatAccount.consortium_id == group.id)
                    )
                ).one()
                assert account.must_change_password
                target = (await session.scalars(select(SlaTarget).where(SlaTarget.consortium_id == group.id))).one()
                assert target.availability_percent == Decimal("99.9")
                maebashi = (await session.scalars(select(Member).where(Member.lg_code == "102016"))).one()
                assert maebashi.consortium_id == group.id
                admin = (await session.scalars(select(Staff).where(Staff.member_id == maebashi.id))).one()
                assert admin.login_id == "maebashi-admin"
                # Agreements of this consortium may run to its own latest end, not to 2031-03-31.
                await billing.add_agreement_version(
                    session, maebashi, effective_from=dt.date(2027, 4, 1), start_date=dt.date(2027, 4, 1),
                    end_date=dt.date(2033, 3, 31), monthly_fee=Decimal(30000), included_contracts=10,
                    extra_contract_price=Decimal(500), by="test",
                )  # fmt: skip
                with pytest.raises(billing.AgreementError, match="令和15年3月31日"):
                    await billing.add_agreement_version(
                        session, maebashi, effective_from=dt.date(2027, 5, 1), start_date=dt.date(2027, 4, 1),
                        end_date=dt.date(2033, 4, 1), monthly_fee=Decimal(30000), included_contracts=10,
                        extra_contract_price=Decimal(500), by="test",
                    )  # fmt: skip
                await session.rollback()
        finally:
            await engine.dispose()

    asyncio.run(_check())


async def test_operators_found_a_consortium_on_their_screen(
    client: AsyncTestClient[Litestar], db_session: AsyncSession, two_members: TwoMembers
) -> None:
    await f.operator(db_session)
    await sign_in(client, "kyodo-unyo")
    page = await client.get("/operator/consortia/")
    assert page.status_code == 200
    assert "盛岡広域連携" in page.text
    token = await csrf_token(client)
    form = {
        "name": "とちぎ電子契約協議会",
        "slug": "tochigi",
        "notice_days": "10",
        "latest_end": "2032-03-31",
        "secretariat_login_id": "tochigi-jimukyoku",
        "secretariat_name": "栃木 事務局",
        "secretariat_email": "jimukyoku@pref.tochigi.lg.jp",
        "_csrf_token": token,
    }
    created = await client.post("/operator/consortia/", data=form)
    assert created.status_code == 200, created.text
    assert "tochigi-jimukyoku" in created.text
    assert (await client.post("/operator/consortia/", data=form)).status_code == 409
    bad = await client.post("/operator/consortia/", data={**form, "slug": "Tochigi 2", "name": "別"})
    assert bad.status_code == 400
    added = await client.post(
        "/operator/consortia/members",
        data={
            "consortium": "tochigi",
            "lg_code": "092011",
            "name": "宇都宮市",
            "kind": "municipality",
            "admin_login_id": "utsunomiya-admin",
            "admin_name": "宇都宮 管理",
            "admin_email": "admin@city.utsunomiya.lg.jp",
            "_csrf_token": token,
        },
    )
    assert added.status_code == 200, added.text
    assert "utsunomiya-admin" in added.text
    await system_access(db_session)
    tochigi = (await db_session.scalars(select(Consortium).where(Consortium.slug == "tochigi"))).one()
    assert tochigi.latest_end == dt.date(2032, 3, 31)
    assert tochigi.maintenance_notice_days == 10
    member = (await db_session.scalars(select(Member).where(Member.lg_code == "092011"))).one()
    assert member.consortium_id == tochigi.id

    # Neither a member's administrator nor a secretariat reaches these screens.
    for login in ("morioka-admin", "jimukyoku"):
        await sign_in(client, login)
        assert (await client.get("/operator/consortia/")).status_code == 403
        answer = await client.post(
            "/operator/consortia/",
            data={**form, "slug": "other", "name": "他", "_csrf_token": await csrf_token(client)},
        )
        assert answer.status_code == 403


def test_defaults_are_the_first_consortiums() -> None:
    from kyodo.consortia import ConsortiumDefaults

    defaults = dataclasses.asdict(ConsortiumDefaults())
    assert defaults["latest_end"] == billing.LATEST_END
    assert defaults["notice_days"] == 7
