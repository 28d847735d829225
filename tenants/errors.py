"""Errors services raise with a message the user can act on (already translated)."""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "ServiceError"]


class ServiceError(Exception):
    """A request that cannot be carried out; ``message`` says why in the user's language."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    """The input is wrong (400)."""


class Conflict(ServiceError):
    """The request clashes with the current state, e.g. a duplicate code (409)."""

    status_code = 409
