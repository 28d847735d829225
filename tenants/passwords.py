"""Password hashing (Argon2id, via argon2-cffi) and API key digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "api_key_digest",
    "hash_password",
    "new_api_key",
    "verify_api_key",
    "verify_password",
]

_hasher = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's recommendation

# A fixed hash to verify against when the account does not exist, so that
# "no such ID" and "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("kyodo-dummy-password")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; constant work whether or not a hash exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> tuple[str, str]:
    """A new API key and its public prefix: ``kyd_<prefix>_<secret>``."""
    prefix = secrets.token_hex(6)
    return f"kyd_{prefix}_{secrets.token_urlsafe(32)}", prefix


def api_key_digest(key: str) -> str:
    """SHA-256 of a key: API keys are long random strings, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


def verify_api_key(key: str, digest: str) -> bool:
    """Constant-time comparison of a presented key with the stored digest."""
    return hmac.compare_digest(api_key_digest(key), digest)
