"""Locate the Japanese font embedded into sealed PDFs.

The font comes from PyPI, not from the operating system, so every worker image
draws the same glyphs: ``japanize-matplotlib`` ships IPAexGothic
(``ipaexg.ttf``, IPA Font License v1.0, which allows embedding and
redistribution). Install it with ``pip install --no-deps japanize-matplotlib``:
only the font file is used, so matplotlib is not needed, and the package is
located without importing it (importing it would import matplotlib).

``KYODO_SIGNING_FONT_PATH`` overrides the choice, e.g. with an IPAex Mincho or
Noto Sans JP file supplied by the deployment.
"""

from __future__ import annotations

import functools
from pathlib import Path

from core.fonts import FontMissing, japanese_font
from core.settings import SealSettings

from .errors import FontNotFoundError

__all__ = ["FONT_ENV_VAR", "font_bytes", "japanese_font_path"]

FONT_ENV_VAR = "KYODO_SIGNING_FONT_PATH"
"""Environment variable that overrides the bundled font."""


def japanese_font_path() -> Path:
    """Return the path of the TrueType/OpenType font used for Japanese text.

    :returns: an existing font file.
    :raises FontNotFoundError: if neither the override nor the PyPI package is
        available; the message says how to install it.
    """
    override = SealSettings().font_path
    if override:
        if not override.is_file():
            raise FontNotFoundError(f"{FONT_ENV_VAR}={override} is not a file")
        return override
    try:
        return japanese_font()
    except FontMissing as exc:
        raise FontNotFoundError(f"{exc} Or set {FONT_ENV_VAR} to a .ttf file.") from exc


@functools.lru_cache(maxsize=4)
def font_bytes(path: Path) -> bytes:
    """The font file's content, read once per process (it is ~6 MB)."""
    return path.read_bytes()
