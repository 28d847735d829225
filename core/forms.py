"""Small helpers for HTML form handlers: the form body and its fields."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.params import URLEncodedBody

from core.errors import Invalid

__all__ = ["Form", "field", "field_list", "field_uuid"]

Form = URLEncodedBody[dict[str, Any]]
"""A URL-encoded form: each value is a string, or a list of strings when repeated."""


def field(form: dict[str, Any], name: str, default: str = "") -> str:
    """One text field (the last value if repeated)."""
    value = form.get(name, default)
    if isinstance(value, list):
        value = value[-1] if value else default
    return str(value).strip()


def field_list(form: dict[str, Any], name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    value = form.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def field_uuid(form: dict[str, Any], name: str) -> uuid.UUID | None:
    """A UUID field; empty means None."""
    text = field(form, name)
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Invalid(f"{name}: {text}") from None
