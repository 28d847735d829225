"""Sealing core of Kyodo: PAdES B-LTA seals, offline verification, LTV renewal.

Production code imports from here. The offline test PKI and its loopback
TSA/OCSP/CRL server are a package of their own, :mod:`testpki`: nothing here
depends on them.

The heavy names (the sealer, verification, renewal, the text-box layout: pyHanko,
fontTools, aiohttp) are imported on first use (PEP 562), so that a process that
needs only the models or the errors (most operator commands) does not load the
whole PDF stack at its start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from core.settings import KeySource, SigningSettings

from .errors import (
    FontNotFoundError,
    SealingInputError,
    SealingUnavailable,
    SigningConfigurationError,
    SigningError,
    TextOverflowError,
    UnsupportedCharactersError,
)
from .fonts import japanese_font_path

if TYPE_CHECKING:
    from ._layout import TextBoxFill
    from .renewal import RenewalTooLate, Renewer, renewal_deadline
    from .sealing import DEFAULT_FIELD_NAME, Sealer
    from .verification import SignatureReport, VerificationReport, verify, verify_async

_LAZY = {
    "TextBoxFill": "._layout",
    "RenewalTooLate": ".renewal",
    "Renewer": ".renewal",
    "renewal_deadline": ".renewal",
    "DEFAULT_FIELD_NAME": ".sealing",
    "Sealer": ".sealing",
    "SignatureReport": ".verification",
    "VerificationReport": ".verification",
    "verify": ".verification",
    "verify_async": ".verification",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_FIELD_NAME",
    "FontNotFoundError",
    "KeySource",
    "RenewalTooLate",
    "Renewer",
    "Sealer",
    "SealingInputError",
    "SealingUnavailable",
    "SignatureReport",
    "SigningConfigurationError",
    "SigningError",
    "SigningSettings",
    "TextBoxFill",
    "TextOverflowError",
    "UnsupportedCharactersError",
    "VerificationReport",
    "japanese_font_path",
    "renewal_deadline",
    "verify",
    "verify_async",
]
