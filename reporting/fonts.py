"""The Japanese font for PDF reports.

Reports embed IPAexGothic (IPA Font License), installed with the
``japanize-matplotlib`` wheel that bundles it. The package itself is never
imported (it would load matplotlib); only its folder is looked up.

Parsing the full font (about 12,000 glyphs) costs fpdf2 almost half a second per
document. :func:`font_for` therefore cuts, once per batch of reports, a small copy
holding only the characters the batch can print (the catalogs' texts and the
reports' own data), and every report of the batch embeds that copy.
"""

from __future__ import annotations

import hashlib
import os
import string
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

from core.fonts import FontMissing, japanese_font
from core.i18n import LOCALES, translations

__all__ = ["FontMissingError", "font_for", "japanese_font"]


FontMissingError = FontMissing
"""The Japanese TrueType font for reports is not installed (:class:`core.fonts.FontMissing`)."""


def _catalog_characters() -> set[str]:
    chars = set(string.printable) | set("令和平成昭和大正明治元年月日時分秒（）：、。・〜—–％")
    for locale in LOCALES:
        catalog = getattr(translations(locale), "_catalog", {})
        for key, value in catalog.items():
            chars.update(str(key) if not isinstance(key, tuple) else str(key[0]))
            chars.update(str(value))
    return chars


@cache
def _base_characters() -> frozenset[str]:
    return frozenset(_catalog_characters())


def font_for(texts: Iterable[str]) -> Path:
    """A copy of the Japanese font holding every character of ``texts`` and of the catalogs.

    Copies are cached in the system's temporary folder by their character set, so
    a batch cuts one and a second batch with the same texts reuses it.
    """
    chars = set(_base_characters())
    for text in texts:
        chars.update(text)
    codepoints = sorted(ord(c) for c in chars if c.isprintable() or c == " ")
    digest = hashlib.sha256(",".join(map(str, codepoints)).encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / "kyodo-fonts"
    target = folder / f"ipaexg-{digest}.ttf"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    font = TTFont(str(japanese_font()), recalcTimestamp=False)
    options = subset.Options()
    options.notdef_outline = True
    options.recommended_glyphs = True
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    partial = folder / f".{target.name}.{os.getpid()}"
    font.save(str(partial))
    partial.replace(target)  # atomic: concurrent workers never read half a file
    return target
