"""Accessible markup of the shell: landmarks, labels, language, skip link, contrast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from litestar.testing import AsyncTestClient

CSS = Path(__file__).resolve().parents[2] / "kyodo" / "static" / "kyodo.css"


@pytest.mark.parametrize("path", ["/", "/login"])
async def test_landmarks_language_and_skip_link(client: AsyncTestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    assert page.html is not None
    assert page.html.get("lang") in {"ja", "en"}
    assert page.find("header") is not None
    assert page.find("main", id="main") is not None
    assert page.find("footer") is not None
    skip = page.find("a", class_="skip-link")
    assert skip is not None
    assert skip["href"] == "#main"
    assert len(page.find_all("h1")) == 1
    title = page.find("title")
    assert title is not None
    assert title.get_text(strip=True)
    for nav in page.find_all("nav"):
        assert nav.get("aria-label"), "every navigation landmark has a name"


async def test_every_form_field_has_a_label(client: AsyncTestClient) -> None:
    page = BeautifulSoup((await client.get("/login")).text, "html.parser")
    fields = [f for f in page.find_all(["input", "select", "textarea"]) if f.get("type") != "hidden"]
    assert fields
    for field in fields:
        assert field.get("id"), field
        assert page.find("label", attrs={"for": field["id"]}) is not None, field


async def test_htmx_is_served_locally(client: AsyncTestClient) -> None:
    page = BeautifulSoup((await client.get("/")).text, "html.parser")
    sources = [s["src"] for s in page.find_all("script", src=True)]
    assert sources
    assert all(str(src).startswith("/static/") for src in sources), sources
    served = await client.get(str(sources[0]))
    assert served.status_code == 200
    assert "htmx" in served.text[:200]


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize(
    ("foreground", "background"),
    [
        ("--ink", "--paper"),
        ("--brand", "--paper"),
        ("--brand-ink", "--brand"),
        ("--muted", "--paper"),
        ("--error", "--paper"),
    ],
)
def test_palette_meets_wcag_aa_contrast(foreground: str, background: str) -> None:
    colours = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))
    assert _contrast(colours[foreground], colours[background]) >= 4.5
