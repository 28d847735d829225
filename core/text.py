"""Text people type that ends up in mail headers, PDFs and CSV: addresses and single-line fields.

An e-mail address is checked with email-validator (RFC 5321/5322 syntax, no DNS
lookup), so that ``taro@example.jp\\r\\nBcc: …`` or a stray space is refused where
it is typed, not lost later in the mail worker. Single-line fields (subjects,
names) refuse control characters for the same reason.
"""

from __future__ import annotations

import secrets
import unicodedata

from email_validator import EmailNotValidError, validate_email

__all__ = ["SPOKEN_ALPHABET", "has_control_characters", "normalized_email", "readable_secret"]


def has_control_characters(text: str) -> bool:
    """True if ``text`` holds a line break, NUL or another control character (tabs included)."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def normalized_email(text: str) -> str | None:
    """The address in its normal form (domain lower-cased and IDNA-checked), or None if it is not one."""
    candidate = text.strip()
    if not candidate or has_control_characters(candidate) or len(candidate) > 254:
        return None
    try:
        return validate_email(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


SPOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""Letters and digits that cannot be mistaken for each other when read out or copied from paper (no l/1, o/0, i)."""


def readable_secret(length: int) -> str:
    """A random secret of ``length`` characters of :data:`SPOKEN_ALPHABET` (about 4.95 bits each)."""
    return "".join(secrets.choice(SPOKEN_ALPHABET) for _i in range(length))
