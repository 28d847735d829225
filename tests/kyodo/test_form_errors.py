"""A refusal names the field to correct, so the screens can show it next to the field and keep the entries."""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient

from tests.conftest import TwoMembers, sign_in
from tests.helpers import form


async def test_a_duplicate_login_id_is_refused_on_its_field(client: AsyncTestClient, two_members: TwoMembers) -> None:
    await sign_in(client, "morioka-admin")
    refused = await form(
        client, "/admin/staff", login_id="hachimantai-admin", name="重複 太郎", email="dup@example.lg.jp"
    )
    assert refused.status_code == 409
    alert = BeautifulSoup(refused.text, "html.parser").select_one("main [role=alert]")
    assert alert is not None
    assert alert["data-field"] == "login_id"
    assert "hachimantai-admin" in alert.get_text()
    # The page loads the script that keeps the form as it was and shows the reason beside the field.
    assert "/static/forms.js" in refused.text
