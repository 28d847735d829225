"""Sealing core of Kyodo: PAdES B-LTA seals, offline verification, LTV renewal.

Production code imports from here. The offline test PKI and its loopback
TSA/OCSP/CRL server are a package of their own, :mod:`testpki`: nothing here
depends on them.
"""

from core.settings import KeySource, SigningSettings

from ._layout import TextBoxFill
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
from .renewal import RenewalTooLate, Renewer, renewal_deadline
from .sealing import DEFAULT_FIELD_NAME, Sealer
from .verification import SignatureReport, VerificationReport, verify, verify_async

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
