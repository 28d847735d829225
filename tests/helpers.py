"""Helpers for tests that drive the screens and the JSON API as a signed-in person would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup, Tag
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from tests.conftest import csrf_token


async def form(client: AsyncTestClient[Litestar], path: str, **fields: Any) -> Any:
    """Submit an HTML form (with its CSRF token) without following the redirect."""
    data: dict[str, Any] = {"_csrf_token": await csrf_token(client), **fields}
    return await client.post(path, data=data, follow_redirects=False)


def api_headers(client: AsyncTestClient[Litestar]) -> dict[str, str]:
    """Headers a browser page sends to the JSON API with a session (CSRF header)."""
    return {"X-CSRFToken": str(client.cookies.get("kyodo_csrf", ""))}


async def api(client: AsyncTestClient[Litestar], method: str, path: str, json: Any = None) -> Any:
    """Call the JSON API with the session cookie and the CSRF header."""
    await csrf_token(client)
    return await client.request(method, path, json=json, headers=api_headers(client))


async def fresh(session: AsyncSession, row: Any) -> Any:
    """``row`` as it is now in the database (after the app changed it)."""
    await session.refresh(row)
    return row


def tag_at(page: BeautifulSoup | str, selector: str) -> Tag:
    """The element ``selector`` finds in ``page`` (parsed, or its HTML); the test fails when there is none."""
    soup = page if isinstance(page, BeautifulSoup) else BeautifulSoup(page, "html.parser")
    found = soup.select_one(selector)
    assert found is not None, f"nothing matches {selector}"
    return found


def text_at(page: BeautifulSoup | str, selector: str) -> str:
    """The text a person reads in the element ``selector`` finds (words of nested elements joined by spaces)."""
    return tag_at(page, selector).get_text(" ").strip()


def shown_once(html: str) -> list[str]:
    """The values a "shown only once" page displays (password, API key …)."""
    return [tag.get_text() for tag in BeautifulSoup(html, "html.parser").select("[data-secret]")]


async def replace_given_password(client: AsyncTestClient[Litestar], given: str, own: str) -> None:
    """What a person does at the first sign-in with a password an administrator chose: replace it."""
    assert (await client.get("/app", follow_redirects=False)).headers.get("location") == "/account/password"
    changed = await form(client, "/account/password", current=given, new=own, confirm=own)
    assert changed.status_code == 200, changed.text[-500:]


def stored_blobs(settings: Settings) -> list[Path]:
    """Every file in the document store (compare before and after to see that nothing was written)."""
    root = settings.app.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
