"""Where the Japanese font for PDF reports is.

Reports embed IPAexGothic (IPA Font License), installed with the
``japanize-matplotlib`` wheel that bundles it. The package itself is never
imported (it would load matplotlib); only its folder is looked up.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["FontMissingError", "japanese_font"]

FONT_PACKAGE = "japanize_matplotlib"
FONT_FILE = Path("fonts") / "ipaexg.ttf"


class FontMissingError(RuntimeError):
    """The Japanese TrueType font for reports is not installed."""


@cache
def japanese_font() -> Path:
    """Path of ``ipaexg.ttf``.

    Raises:
        FontMissingError: the wheel that bundles it is not installed (run ``make setup``).
    """
    spec = importlib.util.find_spec(FONT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / FONT_FILE
        if candidate.is_file():
            return candidate
    raise FontMissingError(
        f"The Japanese font for PDF reports ({FONT_FILE.name}) was not found: the package "
        f"{FONT_PACKAGE!r} that bundles it is missing. Run `make setup` (uv sync) to install it."
    )
