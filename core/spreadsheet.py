"""CSV that people open in Excel: no cell of someone else's text runs as a formula.

A subject, a company name or a browser's User-Agent chosen by an outsider can begin
with ``=``, ``+``, ``-`` or ``@``; Excel and LibreOffice would evaluate it when the
export is opened (CSV formula injection, OWASP). Such text cells get a leading
apostrophe, which spreadsheets show as plain text and hide. Numbers passed as
numbers are left alone, so counts and amounts stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["FORMULA_START", "SafeWriter", "neutralise", "writer"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
"""Characters with which a text cell would be read as a formula (or hide one behind a line break)."""


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def neutralise(value: object) -> object:
    """``value`` as a cell that cannot run: text beginning like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """A :func:`csv.writer` whose every text cell went through :func:`neutralise`."""

    def __init__(self, out: _Writable, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row."""
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **options: Any) -> SafeWriter:
    """A CSV writer for exports people open in a spreadsheet."""
    return SafeWriter(out, **options)
