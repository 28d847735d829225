"""Text box values checked the way the seal will print them, when they are typed.

The seal draws each value with the embedded Japanese font into its box
(:mod:`signing._layout`). A character the font lacks (𠮷, a private-use 外字,
an emoji) or a value longer than its box would stop the seal after everyone
agreed. So the same code, :func:`signing._layout.check_fill` with the same
font and the same box, runs when a party agrees, and when the browser asks
while they type: the check and the seal cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import anyio

from core.errors import Invalid
from core.i18n import gettext as _
from signing._layout import TextBoxFill, check_fill
from signing.errors import SealingInputError, UnsupportedCharactersError
from signing.models import TextBox

__all__ = ["MAX_VALUE", "check_values", "value_problem", "value_problems"]

MAX_VALUE = 1000
"""Longest value kept for a box (characters); longer input is cut before the check."""


def _name(character: str) -> str:
    """「𠮷」(U+20BB7): the character and its code point, which tells apart what a screen shows alike."""
    return f"「{character}」(U+{ord(character):04X})"


def _problem_sync(box: TextBox, value: str) -> str | None:
    fill = TextBoxFill(page=box.page, x=box.x, y=box.y, width=box.width, height=box.height, text=value)
    try:
        check_fill(fill)
    except UnsupportedCharactersError as exc:
        return _(
            "{characters} in “{label}” cannot be used: the font used to seal the contract does not have it. "
            "Please use the usual form of the character (for example 吉 for 𠮷) or write it in kana."
        ).format(characters="".join(_name(c) for c in exc.characters), label=box.label)
    except SealingInputError:
        return _("“{label}” is too long for its box. Please shorten it.").format(label=box.label)
    return None


async def value_problem(box: TextBox, value: str) -> str | None:
    """Why ``value`` cannot be sealed in ``box``, in the user's language; None when it can."""
    value = value.strip()[:MAX_VALUE]
    if not value:
        return None
    # The font is parsed once per process; the first call may take a moment, so not on the event loop.
    return await anyio.to_thread.run_sync(_problem_sync, box, value)


async def value_problems(boxes: Iterable[TextBox], values: Mapping[str, str]) -> dict[str, str]:
    """Box id → why its value cannot be sealed, for the boxes whose value is given."""
    problems: dict[str, str] = {}
    for box in boxes:
        raw = values.get(str(box.id))
        if raw is None:
            continue
        problem = await value_problem(box, raw)
        if problem:
            problems[str(box.id)] = problem
    return problems


async def answer_problems(boxes: Iterable[TextBox], values: Mapping[str, str]) -> dict[str, str]:
    """Box id → why the typed value cannot be agreed: a required box left empty, or what the seal cannot print.

    The checks agreeing makes, asked before the confirmation so that the person
    corrects the form, never a page of its own (contractors and staff signers alike).
    """
    boxes = list(boxes)
    empty = {
        str(b.id): _("Please fill in this box.")
        for b in boxes
        if b.required and not (values.get(str(b.id)) or "").strip()
    }
    return {**empty, **await value_problems(boxes, values)}


async def check_values(boxes: Iterable[TextBox], values: Mapping[str, str]) -> None:
    """Refuse values the seal could not print.

    :raises Invalid: naming every box and character at fault; nothing is changed.
    """
    problems = await value_problems(boxes, values)
    if problems:
        raise Invalid(" ".join(problems.values()))
