"""Refresh the gettext catalogs and fill in translations from a JSON file.

    python scripts/catalog.py translations.json

runs the same extraction as ``make messages``, then sets the Japanese (and,
where given, English) text of each message named in the file and clears the
fuzzy marks and previous ids that ``pybabel update`` leaves: a fuzzy guess for a
message the file does not name is emptied, never kept. The file maps a
msgid, or ``"context|msgid"`` for a pgettext message, either to the Japanese
text or to ``{"ja": ..., "en": ...}``. Plural messages take a list per language.
Messages not named keep what the catalogs already hold; ``tests/kyodo/test_i18n.py``
fails on any that stay untranslated or fuzzy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "core" / "locale"
BIN = ROOT / ".venv" / "bin"


def extract() -> None:
    subprocess.run(
        [
            str(BIN / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-k",
            "gettext",
            "-k",
            "ngettext:1,2",
            "--no-location",
            "--sort-output",
            "--ignore-dirs=.venv .kyodo tests",
            "-o",
            str(LOCALE / "messages.pot"),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            str(BIN / "pybabel"),
            "update",
            "-i",
            str(LOCALE / "messages.pot"),
            "-d",
            str(LOCALE),
            "--no-wrap",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _key(raw: str) -> tuple[str | None, str]:
    if "|" in raw:
        context, _sep, msgid = raw.partition("|")
        return context, msgid
    return None, raw


def apply(language: str, wanted: dict[str, Any]) -> list[str]:
    path = LOCALE / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    missing: list[str] = []
    for raw, value in wanted.items():
        context, msgid = _key(raw)
        text = value.get(language) if isinstance(value, dict) else (value if language == "ja" else None)
        message = catalog.get(msgid, context=context)
        if message is None:
            if text is not None:
                missing.append(raw)
            continue
        if text is not None:
            message.string = tuple(text) if isinstance(text, list) else text
        elif language == "en" and (not message.string or message.fuzzy):
            message.string = tuple(message.id) if isinstance(message.id, tuple) else message.id
    named = {_key(raw) for raw in wanted}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        if message.fuzzy and (message.context, msgid) not in named:
            # pybabel's guess from a similar message: never keep it as a translation.
            message.string = ("", "") if isinstance(message.id, tuple) else ""
        message.flags.discard("fuzzy")
        message.previous_id = []
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_output=True)
    return missing


def main() -> int:
    wanted: dict[str, Any] = {}
    for name in sys.argv[1:]:
        wanted.update(json.loads(Path(name).read_text(encoding="utf-8")))
    extract()
    missing = sorted(set(apply("ja", wanted)) | set(apply("en", wanted)))
    for raw in missing:
        print(f"not in the sources (not extracted): {raw}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
