"""Edge input never becomes a 500: NUL characters, huge numbers, overlong names, deep JSON.

Each answer is a 4xx with a Japanese message; a real server fault is a 500 that
shows a reference the help desk finds in the log, with its traceback.
"""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TwoMembers, csrf_token, sign_in


async def test_a_nul_character_in_the_login_id_is_refused_in_japanese(
    client: AsyncTestClient[Litestar], two_members: TwoMembers
) -> None:
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"login_id": "morioka\x00admin", "password": "x", "_csrf_token": client.cookies.get("kyodo_csrf", "")},
        follow_redirects=False,
    )
    assert response.status_code in (400, 401, 403), response.text
    assert "ログイン" in response.text or "入力" in response.text


@pytest.mark.parametrize(
    "query",
    [
        {"word": "契約\x00書"},
        {"counterparty": "\x00"},
        {"page": str(10**20)},
        {"amount_min": str(10**23)},
        {"word": "あ" * 5000},
    ],
    ids=["nul-word", "nul-counterparty", "huge-page", "huge-amount", "long-word"],
)
async def test_contract_search_answers_edge_input_without_a_server_error(
    client: AsyncTestClient[Litestar], two_members: TwoMembers, query: dict[str, str]
) -> None:
    await sign_in(client, "morioka-admin")
    for path in ("/contracts/", "/api/v1/contracts/"):
        response = await client.get(path, params=query, headers={"x-csrftoken": client.cookies.get("kyodo_csrf") or ""})
        assert response.status_code < 500, (path, response.status_code, response.text[:500])


async def test_an_overlong_department_name_is_invalid_input_not_a_clash(
    client: AsyncTestClient[Litestar], two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    token = await csrf_token(client)
    response = await client.post(
        "/admin/departments",
        data={"code": "LONG", "name": "課" * 5000, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 400, response.text[:500]
    assert "同じ" not in response.text, "not the 'someone else just registered it' message"
    assert "長すぎる" in response.text or "文字" in response.text


async def test_json_nested_thousands_deep_is_refused(
    client: AsyncTestClient[Litestar], two_members: TwoMembers
) -> None:
    await sign_in(client, "morioka-admin")
    body = "[" * 5000 + "]" * 5000
    response = await client.post(
        "/api/v1/contracts/",
        content=body,
        headers={"content-type": "application/json", "x-csrftoken": client.cookies.get("kyodo_csrf") or ""},
    )
    assert 400 <= response.status_code < 500, response.text[:300]


async def test_a_server_fault_shows_a_reference_that_the_log_has(
    client: AsyncTestClient[Litestar], two_members: TwoMembers, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    import kyodo.health

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(kyodo.health, "readiness", broken)
    with caplog.at_level(logging.ERROR, logger="kyodo.errors"):
        response = await client.get("/health/ready")
    assert response.status_code == 500
    reference = response.headers["x-request-id"]
    assert reference in response.text, "the user sees the reference"
    assert "disk on fire" not in response.text, "no internals shown"
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged, caplog.text
    assert logged[0].exc_info is not None, "the traceback is logged"
    assert (await client.get("/health/live")).headers["x-request-id"] != reference


async def test_a_missing_item_is_headed_not_found(client: AsyncTestClient[Litestar], two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    # Member B's staff member and an id that never existed read the same.
    for staff_id in (two_members.admin_b.id, "0193a8f0-0000-7000-8000-00000000dead"):
        page = await client.get(f"/admin/staff/{staff_id}")
        assert page.status_code == 404
        assert "<h1>見つかりません</h1>" in page.text
        assert "変更できませんでした" not in page.text
