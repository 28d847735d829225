"""The Japanese font comes from PyPI and is found without importing matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.fonts import japanese_font
from signing._truetype import load_font
from signing.errors import FontNotFoundError
from signing.fonts import FONT_ENV_VAR, japanese_font_path


def test_bundled_ipaex_gothic_is_found() -> None:
    path = japanese_font_path()
    assert path.name == "ipaexg.ttf"
    assert (path.parent / "IPA_Font_License_Agreement_v1.0.txt").exists()
    assert "matplotlib" not in sys.modules  # located, not imported
    font = load_font(path)
    assert all(ord(c) in font.gid_of for c in "契約書　株式会社テスト商事　髙橋　ＡＢＣ123")


def test_override_and_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FONT_ENV_VAR, str(tmp_path / "missing.ttf"))
    with pytest.raises(FontNotFoundError, match="not a file"):
        japanese_font_path()
    monkeypatch.delenv(FONT_ENV_VAR)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    japanese_font.cache_clear()
    try:
        with pytest.raises(FontNotFoundError, match="make setup"):
            japanese_font_path()
    finally:
        japanese_font.cache_clear()
