"""The staff file: its columns, encodings and labels (ACC-1, SAP-6(7)).

The file has a header row and one row per person::

    氏名,所属,メールアドレス,ロール,契約名義
    盛岡 太郎,KEIYAKU,taro@city.morioka.lg.jp,drafter・signer,MAYOR

(English headers ``name, department, email, roles, titles`` work too.) The
department is a code or a name; roles are role names (``admin``, ``drafter`` …),
their Japanese labels or the member's own roles; titles are contract-title codes.
Several roles or titles are separated by ``;`` or ``・``.

Encoding: UTF-8 with or without BOM, or Shift_JIS/CP932 as Excel saves it.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from core.errors import Invalid
from core.i18n import gettext as _
from onboarding.models import ImportStatus

__all__ = [
    "ImportRejected",
    "column_label",
    "decode",
    "login_id_conflict",
    "parse_rows",
    "split_values",
    "status_label",
]

_SEPARATORS = re.compile(r"[;；・]")
_HEADERS: dict[str, str] = {
    "name": "name",
    "氏名": "name",
    "名前": "name",
    "department": "department",
    "所属": "department",
    "部署": "department",
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "メールアドレス": "email",
    "メール": "email",
    "roles": "roles",
    "ロール": "roles",
    "役割": "roles",
    "titles": "titles",
    "契約名義": "titles",
    "名義": "titles",
}
_REQUIRED = ("name", "email")


class ImportRejected(Invalid):
    """The import cannot be applied (it has problems, or the data changed since the preview)."""


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with (``utf-8-sig``, ``utf-8`` or ``cp932``).

    Raises:
        ImportRejected: neither UTF-8 nor CP932.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            _("The file could not be read. Save it as CSV in UTF-8 or Shift_JIS (Excel: “CSV (comma delimited)”).")
        ) from exc


def split_values(value: str) -> list[str]:
    """The parts of a cell holding several roles or titles."""
    return [p.strip() for p in _SEPARATORS.split(value) if p.strip()]


def parse_rows(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Raw rows (with their line numbers) and header problems of a CSV text."""
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[dict[str, Any]] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], [{"line": 1, "column": "", "message": _("The file is empty.")}]
    columns: dict[int, str] = {}
    for index, title in enumerate(header):
        key = _HEADERS.get(title.strip().lower()) or _HEADERS.get(title.strip())
        if key:
            columns[index] = key
    for required in _REQUIRED:
        if required not in columns.values():
            problems.append(
                {
                    "line": 1,
                    "column": required,
                    "message": _("The header row has no “{column}” column.").format(column=column_label(required)),
                }
            )
    rows: list[dict[str, Any]] = []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                {"line": reader.line_num, "column": "", "message": _("Broken CSV: {error}").format(error=exc)}
            )
            break
        if not any(v.strip() for v in values):
            continue
        row: dict[str, Any] = {"line": reader.line_num}
        for index, key in columns.items():
            row[key] = values[index].strip() if index < len(values) else ""
        rows.append(row)
    return rows, problems


def status_label(status: ImportStatus) -> str:
    """An import's state in the user's language."""
    return {
        ImportStatus.PREVIEWED: _("Checked, not registered yet"),
        ImportStatus.REJECTED: _("Has problems"),
        ImportStatus.QUEUED: _("Waiting to be registered"),
        ImportStatus.RUNNING: _("Registering"),
        ImportStatus.DONE: _("Registered"),
        ImportStatus.FAILED: _("Failed, nothing registered"),
    }[status]


def login_id_conflict() -> str:
    """Why an import failed when a generated login ID was taken by another organisation."""
    return _(
        "A login ID made for a new account is already used by another organisation. "
        "Nothing was registered; ask the operator, or register that person by hand."
    )


def column_label(column: str) -> str:
    """A column's name in the user's language."""
    return {
        "name": _("Name"),
        "department": _("Department"),
        "email": _("E-mail"),
        "roles": _("Roles"),
        "titles": _("Contract titles"),
    }.get(column, column)
