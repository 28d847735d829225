"""Typed errors raised by the sealing core.

Callers (a Celery task, an HTTP handler) decide on retries from the type alone:
``SealingUnavailable`` is transient (TSA, OCSP or CRL could not be reached or
refused to answer) and worth retrying with backoff; every other ``SigningError``
is permanent until someone changes the input or the configuration.
"""

from __future__ import annotations

__all__ = [
    "FontNotFoundError",
    "SealingInputError",
    "SealingUnavailable",
    "SigningConfigurationError",
    "SigningError",
    "TextOverflowError",
    "UnsupportedCharactersError",
]


class SigningError(Exception):
    """Base class of every error raised by :mod:`signing`."""


class SigningConfigurationError(SigningError):
    """The key, certificate, trust roots or TSA settings are unusable."""


class SealingUnavailable(SigningError):
    """A trust service (TSA, OCSP responder, CRL repository) did not answer.

    Nothing was produced: the caller must retry later. The sealer never falls
    back to the local clock or to a document without validation data.
    """


class SealingInputError(SigningError):
    """The PDF or the text box values cannot be sealed as given.

    Permanent: sealing the same input again fails the same way, so callers do
    not retry it but tell staff what to fix. ``reason`` says what is wrong in
    a word a program can act on; ``page`` and ``ref`` (the caller's id of the
    text box, see :class:`~signing.sealing.TextBoxFill`) say where.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "document",
        page: int | None = None,
        ref: str | None = None,
        characters: str = "",
    ) -> None:
        super().__init__(message)
        self.reason = reason
        """``document`` (the PDF itself), ``page``, ``area``, ``overflow`` or ``characters``."""
        self.page = page
        self.ref = ref
        self.characters = characters
        """For ``characters``: the characters the embedded font cannot draw."""


class TextOverflowError(SealingInputError):
    """A text box value does not fit its box even at the smallest font size."""


class UnsupportedCharactersError(SealingInputError):
    """A text box value contains characters the embedded font cannot draw."""


class FontNotFoundError(SigningConfigurationError):
    """The Japanese font file could not be located."""
