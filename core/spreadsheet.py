"""CSV that people open in Excel: no cell of someone else's text runs as a formula.

A subject, a company name or a browser's User-Agent chosen by an outsider can begin
with ``=``, ``+``, ``-`` or ``@``; Excel and LibreOffice would evaluate it when the
export is opened (CSV formula injection, OWASP). Such text cells get a leading
apostrophe, which spreadsheets show as plain text and hide. Numbers passed as
numbers are left alone, so counts and amounts stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core.i18n import gettext as _

__all__ = ["FORMULA_START", "Columns", "SafeWriter", "neutralise", "read_rows", "writer"]

Columns = Callable[[list[str]], tuple[dict[int, str], list[tuple[int, str]]]]
"""What an importer makes of the header row: column index → its key, and the header's problems (line 1)."""

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


def read_rows(
    text: str, columns: Columns, *, cell: Callable[[str], str] = str.strip
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The rows of a CSV text under its header: each a dict of ``line`` (the file's line number), ``extra``
    (more cells than the header) and the known columns' cells (through ``cell``); and the problems, by line.

    Blank rows are skipped; a broken row ends the reading with a problem of its line.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [(1, _("The file is empty."))]
    except csv.Error as exc:
        return [], [(1, _("Broken CSV: {error}").format(error=exc))]
    known, problems = columns(header)
    rows: list[dict[str, Any]] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, _("Broken CSV: {error}").format(error=exc)))
            break
        if not any(v.strip() for v in values):
            continue
        row: dict[str, Any] = {"line": reader.line_num, "extra": len(values) > len(header)}
        for index, key in known.items():
            row[key] = cell(values[index]) if index < len(values) else ""
        rows.append(row)
    return rows, problems
