"""IPA「安全なウェブサイトの作り方」: the classes the README lists, replayed through HTTP."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests import factories as f
from tests.conftest import sign_in
from tests.signing.conftest import Office

SCRIPT = '<script>alert("kyodo")</script><img src=x onerror=alert(1)>'


async def _contract(client: AsyncTestClient[Litestar], office: Office, subject: str) -> str:
    created = await client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={"subject": subject, "title_id": str(office.title_a.id)},
        files=[("files", ("契約書.pdf", f.pdf(), "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_script_in_a_subject_is_shown_as_text_never_run(
    client: AsyncTestClient[Litestar], office: Office
) -> None:
    contract_id = await _contract(client, office, SCRIPT)
    await sign_in(client, "morioka-drafter")
    for path in ("/contracts/", f"/contracts/{contract_id}"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_sql_in_search_words_is_only_searched_for(client: AsyncTestClient[Litestar], office: Office) -> None:
    await _contract(client, office, "道路補修工事")
    await sign_in(client, "morioka-drafter")
    for word in ("' OR '1'='1", "%' OR 1=1 --", "'); DROP TABLE contract; --", "\\' UNION SELECT * FROM staff --"):
        found = await client.get("/contracts/", params={"word": word})
        assert found.status_code == 200, word
        assert "道路補修工事" not in found.text, word
    assert "道路補修工事" in (await client.get("/contracts/")).text, "the table is still there"


async def test_a_foreign_redirect_after_sign_in_stays_on_the_platform(
    client: AsyncTestClient[Litestar], office: Office
) -> None:
    await client.get("/login")
    response = await client.post(
        "/login?next=https://evil.example/phish",
        data={
            "login_id": "morioka-drafter",
            "password": f.PASSWORD,
            "_csrf_token": client.cookies.get("kyodo_csrf") or "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert not response.headers["location"].startswith(("http://", "https://", "//"))


async def test_a_form_post_without_the_csrf_token_is_refused(client: AsyncTestClient[Litestar], office: Office) -> None:
    await sign_in(client, "morioka-drafter")
    response = await client.post("/contracts/", data={"subject": "x"}, follow_redirects=False)
    assert response.status_code == 403
