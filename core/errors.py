"""The one hierarchy of errors a user can act on; each carries a message already translated.

Services raise these; they know nothing of HTTP. The web layer (``kyodo.app``)
maps each kind to a status code and shows the message on the page or in the
JSON body, the CLI prints it and exits non-zero. A domain that needs its own
name for an error subclasses one of these kinds, so the mapping stays in one
place.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "Locked",
    "NotFound",
    "ServiceError",
    "TooLarge",
    "Unavailable",
    "Unprocessable",
]


class ServiceError(Exception):
    """A request that cannot be carried out; ``message`` says why in the user's language.

    ``field`` names the form field to correct, when there is one: the screens show the
    message next to it and keep every entry.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    """The input is wrong: the user corrects it and tries again."""


class TooLarge(Invalid):
    """The input is over a size limit (a file, a number of pages or rows)."""


class Unprocessable(Invalid):
    """Well-formed but not acceptable as it stands, e.g. an idempotency key reused for another request (422)."""


class Conflict(ServiceError):
    """The request clashes with the current state, e.g. a duplicate code or a contract already sent."""


class NotFound(ServiceError):
    """The thing asked for does not exist, or is not the caller's to see."""


class Gone(ServiceError):
    """It existed but is no longer available (an expired or cancelled link)."""


class Forbidden(ServiceError):
    """The caller may not do this, though signed in (a title no longer held, not a signer)."""


class Locked(ServiceError):
    """Too many failed attempts: the thing is locked for a while."""


class Unavailable(ServiceError):
    """A service the request needs is down for now (the TSA, the PDF checker): try again later."""
