"""The Japanese font every PDF of the platform embeds: IPAexGothic (IPA Font License).

It comes with the ``japanize-matplotlib`` wheel from ``uv.lock``, which bundles
``fonts/ipaexg.ttf``; the package itself is never imported (it would load
matplotlib), only its folder is looked up. Seals, certificates of conclusion,
invoices and monthly reports all draw with this one file, so the same characters
print everywhere.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["FONT_FILE", "FONT_PACKAGE", "FontMissing", "japanese_font"]

FONT_PACKAGE = "japanize_matplotlib"
FONT_FILE = Path("fonts") / "ipaexg.ttf"


class FontMissing(RuntimeError):
    """The bundled Japanese font is not installed."""


@cache
def japanese_font() -> Path:
    """Path of the bundled ``ipaexg.ttf``.

    Raises:
        FontMissing: the wheel that bundles it is not installed (run ``make setup``).
    """
    spec = importlib.util.find_spec(FONT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / FONT_FILE
        if candidate.is_file():
            return candidate
    raise FontMissing(
        f"The Japanese font ({FONT_FILE.name}, IPAexGothic) was not found: the package {FONT_PACKAGE!r} "
        "that bundles it is missing. Run `make setup` (uv sync) to install it."
    )
