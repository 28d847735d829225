"""The operation log of a member (DAT-6, NII-42/43): what is recorded, the screen, its CSV and its chain."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import psycopg
import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.scope import elevated
from core.settings import Settings, to_psycopg_url
from kyodo.app import create_app
from tenants.models import OperationKind, OperationLog
from tenants.oplog import purge_expired
from tests import factories as f
from tests.conftest import PEER_HEADER, TwoMembers, csrf_token, sign_in
from tests.helpers import api, form

VERIFIED = "ハッシュチェーンを検証しました：貴団体の{n}件の記録はすべて改ざんされていません。"


async def _log(session: AsyncSession, member_id: uuid.UUID) -> list[OperationLog]:
    """The member's rows as the requests stored them, oldest first."""
    async with AsyncSession(bind=session.bind, join_transaction_mode="create_savepoint") as fresh, elevated(fresh):
        rows = await fresh.scalars(
            select(OperationLog).where(OperationLog.member_id == member_id).order_by(OperationLog.id)
        )
        return list(rows)


def _side(row: OperationLog, side: str) -> dict[str, Any]:
    value = row.detail[side]
    assert isinstance(value, dict)
    return value


def _of(rows: list[OperationLog], kind: OperationKind, target: str = "") -> list[OperationLog]:
    return [r for r in rows if r.kind == kind.value and r.target.startswith(target)]


async def _sign_in_attempt(client: AsyncTestClient, login_id: str, password: str) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/login", data={"login_id": login_id, "password": password, "_csrf_token": token}, follow_redirects=False
    )


def _status(html: str) -> str:
    node = BeautifulSoup(html, "html.parser").select_one("#chain-status")
    assert node is not None
    return node.get_text(" ", strip=True)


async def test_sign_ins_and_refused_attempts_are_recorded(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    client.headers[PEER_HEADER] = "10.20.3.4"
    client.headers["User-Agent"] = "Kyodo-Test/1.0"
    wrong = await _sign_in_attempt(client, "morioka-admin", "not-the-password")
    assert wrong.status_code != 303
    unknown = await _sign_in_attempt(client, "nobody-at-all", "not-the-password")
    assert unknown.status_code == wrong.status_code
    # An unknown ID answers exactly like a wrong password, and lands in no member's log.
    assert BeautifulSoup(unknown.text, "html.parser").select_one("[role=alert]").get_text() == (  # type: ignore[union-attr]
        BeautifulSoup(wrong.text, "html.parser").select_one("[role=alert]").get_text()  # type: ignore[union-attr]
    )
    await sign_in(client, "morioka-admin")
    rows = await _log(db_session, two_members.a.id)
    failed = _of(rows, OperationKind.SIGN_IN_FAILED)
    assert len(failed) == 1
    assert failed[0].detail == {"reason": "invalid"}
    assert "morioka-admin" in failed[0].target
    assert str(failed[0].ip) == "10.20.3.4"
    assert failed[0].user_agent == "Kyodo-Test/1.0"
    assert "not-the-password" not in str([r.detail for r in rows])
    signed = _of(rows, OperationKind.SIGNED_IN)
    assert len(signed) == 1
    assert signed[0].actor == f"staff:{two_members.admin_a.id} {two_members.admin_a.name}"
    assert all("nobody-at-all" not in r.target for r in rows)
    assert await _log(db_session, two_members.b.id) == []
    page = await client.get("/admin/operations/", params={"kind": "sign_in_failed"})
    assert page.status_code == 200
    table = BeautifulSoup(page.text, "html.parser").select("#operations tbody tr")
    assert len(table) == 1
    assert "ログイン失敗" in table[0].get_text()
    assert "IDまたはパスワードの誤り" in table[0].get_text()


async def _administer(client: AsyncTestClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One of each administrative change, through the JSON API and the screens."""
    department = (await api(client, "POST", "/api/v1/departments", {"code": "KEIYAKU", "name": "契約課"})).json()
    await api(client, "PATCH", f"/api/v1/departments/{department['id']}", {"name": "契約管理課"})
    staff = (
        await api(
            client,
            "POST",
            "/api/v1/staff",
            {"login_id": "morioka-kikaku", "name": "企画 一郎", "email": "kikaku@city.morioka.lg.jp"},
        )
    ).json()
    await api(client, "PATCH", f"/api/v1/staff/{staff['id']}", {"name": "企画 二郎", "department_id": department["id"]})
    assert (await api(client, "PUT", f"/api/v1/staff/{staff['id']}/roles/drafter")).status_code == 200
    assert (await api(client, "DELETE", f"/api/v1/staff/{staff['id']}/roles/drafter")).status_code == 204
    await api(client, "POST", f"/api/v1/staff/{staff['id']}/password", {})
    title = (
        await api(client, "POST", "/api/v1/titles", {"code": "MAYOR", "name": "市長", "formal_name": "盛岡市長"})
    ).json()
    await api(client, "PATCH", f"/api/v1/titles/{title['id']}", {"formal_name": "盛岡市長 内舘 茂"})
    assert (await api(client, "PUT", f"/api/v1/titles/{title['id']}/staff/{staff['id']}")).status_code == 204
    assert (await api(client, "DELETE", f"/api/v1/titles/{title['id']}/staff/{staff['id']}")).status_code == 204
    await form(client, "/admin/ip-ranges", cidr="10.20.0.0/16", label="本庁舎")
    network = (await api(client, "POST", "/api/v1/ip-ranges", {"cidr": "192.0.2.0/24", "label": "支所"})).json()
    assert (await api(client, "DELETE", f"/api/v1/ip-ranges/{network['id']}")).status_code == 204
    issued = (await api(client, "POST", "/api/v1/api-keys", {"label": "財務会計システム", "roles": ["viewer"]})).json()
    assert (await api(client, "DELETE", f"/api/v1/api-keys/{issued['id']}")).status_code == 204
    role = await form(client, "/admin/roles/", name="keiyaku", label="契約担当", permissions="contract:view")
    assert role.status_code == 303
    await api(client, "PATCH", f"/api/v1/staff/{staff['id']}", {"department_id": None})
    assert (await api(client, "DELETE", f"/api/v1/departments/{department['id']}")).status_code == 204

    return department, staff, issued


async def test_every_administrative_change_is_recorded_with_before_and_after(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    client.headers[PEER_HEADER] = "10.20.3.4"
    await sign_in(client, "morioka-admin")
    department, staff, issued = await _administer(client)
    rows = await _log(db_session, two_members.a.id)
    actor = f"staff:{two_members.admin_a.id} {two_members.admin_a.name}"
    changes = [r for r in rows if r.kind != OperationKind.SIGNED_IN.value]
    assert {r.actor for r in changes} == {actor}
    assert {str(r.ip) for r in changes} == {"10.20.3.4"}
    (dep_changed,) = _of(rows, OperationKind.CHANGED, "department:")
    assert dep_changed.detail == {"before": {"name": "契約課"}, "after": {"name": "契約管理課"}}
    assert _side(_of(rows, OperationKind.DELETED, "department:")[0], "before")["code"] == "KEIYAKU"
    (created,) = _of(rows, OperationKind.CREATED, "staff:")
    assert _side(created, "after")["login_id"] == "morioka-kikaku"
    staff_changes = [r.detail for r in _of(rows, OperationKind.CHANGED, f"staff:{staff['id']}")]
    assert {
        "before": {"name": "企画 一郎", "department_id": None},
        "after": {"name": "企画 二郎", "department_id": department["id"]},
    } in staff_changes
    assert {"before": {"roles": []}, "after": {"roles": ["drafter"]}} in staff_changes
    assert {"before": {"roles": ["drafter"]}, "after": {"roles": []}} in staff_changes
    assert {"after": {"password": "reset"}} in staff_changes
    (title_changed,) = _of(rows, OperationKind.CHANGED, "title:")
    assert title_changed.detail == {"before": {"formal_name": "盛岡市長"}, "after": {"formal_name": "盛岡市長 内舘 茂"}}
    assert len(_of(rows, OperationKind.CREATED, "title_grant:")) == 1
    assert len(_of(rows, OperationKind.DELETED, "title_grant:")) == 1
    assert [_side(r, "after")["cidr"] for r in _of(rows, OperationKind.CREATED, "ip_range:")] == [
        "10.20.0.0/16",
        "192.0.2.0/24",
    ]
    assert _side(_of(rows, OperationKind.DELETED, "ip_range:")[0], "before")["cidr"] == "192.0.2.0/24"
    (key_created,) = _of(rows, OperationKind.CREATED, "api_key:")
    assert _side(key_created, "after")["label"] == "財務会計システム"
    assert _of(rows, OperationKind.CHANGED, "api_key:")[0].detail == {
        "before": {"revoked": False},
        "after": {"revoked": True},
    }
    assert {"before": {"roles": []}, "after": {"roles": ["viewer"]}} in [
        r.detail for r in _of(rows, OperationKind.CHANGED, f"apikey:{issued['id']}")
    ]
    assert issued["key"] not in str([(r.target, r.detail) for r in rows])  # the secret is never logged
    (role_created,) = _of(rows, OperationKind.CREATED, "role:custom:keiyaku")
    assert role_created.detail == {"after": {"label": "契約担当", "permissions": ["contract:view"]}}
    # The screen shows the change as people read it.
    page = await client.get("/admin/operations/", params={"kind": "changed", "actor": two_members.admin_a.name})
    assert "氏名・名称: 企画 一郎 → 企画 二郎" in page.text
    assert (await client.get("/admin/operations/", params={"actor": "someone-else"})).text.count("<tr>") == 2


async def test_staff_imports_are_recorded(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    body = "氏名,所属,メールアドレス,ロール,契約名義\r\n盛岡 太郎,,taro@city.morioka.lg.jp,drafter,\r\n"
    page = await client.post(
        "/admin/import/",
        files={"file": ("staff.csv", body.encode("utf-8"), "text/csv")},
        data={"_csrf_token": await csrf_token(client)},
        follow_redirects=True,
    )
    assert page.status_code == 200
    done = await client.post(
        f"{page.url.path.rstrip('/')}/commit", data={"_csrf_token": await csrf_token(client)}, follow_redirects=True
    )
    assert done.status_code == 200
    (imported,) = _of(await _log(db_session, two_members.a.id), OperationKind.IMPORTED)
    assert imported.target.endswith("staff.csv")
    assert imported.detail["created"] == 1
    assert imported.detail["created_login_ids"] == {"taro@city.morioka.lg.jp": "032018-taro"}
    listing = await client.get("/admin/operations/", params={"kind": "imported"})
    assert "一括登録" in listing.text


async def test_csv_export_is_safe_and_itself_recorded(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await sign_in(client, "morioka-admin")
    client.headers["User-Agent"] = '=HYPERLINK("http://example.com")'
    await api(client, "POST", "/api/v1/titles", {"code": "T1", "name": "=1+1", "formal_name": "@SUM(1)"})
    response = await client.get("/admin/operations/export.csv", params={"kind": "created"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "日時（日本時間）"
    assert len(rows) == 2
    assert rows[1][1] == "作成"
    assert rows[1][5].startswith("title:")
    assert '"=1+1"' in rows[1][6]  # inside the JSON, not at the start of a cell
    assert len(rows[1][7]) == 64
    assert len(rows[1][8]) == 64
    # A cell that would start like a formula is neutralised.
    assert rows[1][4] == '\'=HYPERLINK("http://example.com")'
    again = await client.get("/admin/operations/export.csv", params={"actor": two_members.admin_a.name})
    assert len(list(csv.reader(io.StringIO(again.content.decode("utf-8-sig"))))) == 4  # sign-in, title, 1st export
    exports = _of(await _log(db_session, two_members.a.id), OperationKind.EXPORTED)
    assert [e.detail["filters"] for e in exports] == [{"kind": "created"}, {"actor": two_members.admin_a.name}]
    assert (await client.get("/admin/operations/", params={"date_from": "2026-13-01"})).status_code == 400
    assert (await client.get("/admin/operations/", params={"kind": "nonsense"})).status_code == 400


async def test_chain_detects_changes_and_survives_the_retention_purge(fresh_database: Settings) -> None:
    engine = create_async_engine(to_psycopg_url(fresh_database.database.url))
    maker = async_sessionmaker(engine, expire_on_commit=False)
    admin_url = fresh_database.database.admin_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        async with maker() as session:
            group = await f.consortium(session)
            a = await f.member(session, group, "032018", "盛岡市")
            await f.staff(session, a, "morioka-admin", roles=("admin",))
            await session.commit()
        async with AsyncTestClient(app=create_app(fresh_database)) as client:
            await sign_in(client, "morioka-admin")
            for code in ("A", "B"):
                await api(client, "POST", "/api/v1/departments", {"code": code, "name": f"課{code}"})
            cutoff = dt.datetime.now(dt.UTC)
            await api(client, "POST", "/api/v1/departments", {"code": "C", "name": "課C"})
            intact = await client.get("/admin/operations/")
            assert (
                _status(intact.text)
                == "ハッシュチェーンを検証しました：貴団体の4件の記録はすべて改ざんされていません。"
            )

            # The application role may neither change nor remove a row.
            app_url = fresh_database.database.url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(app_url, autocommit=True) as conn:
                conn.execute("SELECT set_config('kyodo.system', 'on', false)")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("UPDATE operation_log SET actor = 'someone else'")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("DELETE FROM operation_log")

            # Three years after the cutoff, the three older rows go; a checkpoint keeps the chain whole.
            later = cutoff + dt.timedelta(days=365 * fresh_database.contracts.operation_log_years)
            assert purge_expired(fresh_database, now=later) == 3
            assert purge_expired(fresh_database, now=later) == 0
            after = await client.get("/admin/operations/")
            assert (
                _status(after.text) == "ハッシュチェーンを検証しました：貴団体の2件の記録はすべて改ざんされていません。"
            )
            assert "古い記録の削除" in after.text
            kinds = [r[0] for r in _admin_rows(admin_url, "SELECT kind FROM operation_log ORDER BY id")]
            assert kinds == ["created", "purged"]

            # Someone with the owner's rights changes the remaining row, then removes it.
            _admin(admin_url, "UPDATE operation_log SET detail = '{}' WHERE kind = 'created'")
            changed = await client.get("/admin/operations/")
            assert "2件中1件が一致しません" in _status(changed.text)
            _admin(admin_url, "DELETE FROM operation_log WHERE kind = 'created'")
            removed = await client.get("/admin/operations/")
            assert "1件中1件が一致しません" in _status(removed.text)
    finally:
        await engine.dispose()


def _admin(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('kyodo.system', 'on', false)")
        conn.execute(statement.encode())


def _admin_rows(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('kyodo.system', 'on', false)")
        return conn.execute(statement.encode()).fetchall()


async def test_the_log_is_never_shown_to_another_member_the_secretariat_or_operators(
    client: AsyncTestClient, two_members: TwoMembers, db_session: AsyncSession
) -> None:
    await f.staff(db_session, two_members.a, "morioka-kansa", roles=("auditor",))
    await f.staff(db_session, two_members.a, "morioka-kian", roles=("drafter",))
    await f.operator(db_session)
    await sign_in(client, "morioka-admin")
    await api(client, "POST", "/api/v1/departments", {"code": "HIMITSU", "name": "盛岡秘密課"})
    assert "盛岡秘密課" in (await client.get("/admin/operations/")).text
    assert 'href="/admin/operations"' in (await client.get("/app")).text
    # The auditor of the same member reads it; a drafter does not.
    await sign_in(client, "morioka-kansa")
    assert "盛岡秘密課" in (await client.get("/admin/operations/")).text
    await sign_in(client, "morioka-kian")
    assert (await client.get("/admin/operations/")).status_code == 403
    assert 'href="/admin/operations"' not in (await client.get("/app")).text
    assert (await client.get("/admin/operations/export.csv")).status_code == 403
    # Another member's administrator sees only their own log, whatever the filters.
    await sign_in(client, "hachimantai-admin")
    for params in ({}, {"actor": "morioka"}, {"kind": "created"}, {"date_from": "2000-01-01"}):
        page = await client.get("/admin/operations/", params=params)
        assert page.status_code == 200
        assert "盛岡秘密課" not in page.text
        assert "morioka-admin" not in page.text
        exported = await client.get("/admin/operations/export.csv", params=params)
        assert "盛岡秘密課" not in exported.content.decode("utf-8-sig")
    b_rows = await _log(db_session, two_members.b.id)
    assert all("HIMITSU" not in str(r.detail) for r in b_rows)
    # The secretariat and the provider's operators see figures, never a member's log.
    for login_id in ("jimukyoku", "kyodo-unyo"):
        await sign_in(client, login_id)
        assert (await client.get("/admin/operations/", follow_redirects=False)).status_code in (302, 303, 403)
        assert (await client.get("/admin/operations/export.csv", follow_redirects=False)).status_code in (
            302,
            303,
            403,
        )
