"""Password hashing (Argon2id, via argon2-cffi) and API key digests.

Two kinds of secret are hashed, each with its own Argon2id cost:

- **Staff passwords** (staff, secretariat, operators): chosen by people, kept for
  years, and they open every contract a member holds. They get OWASP's
  Argon2id profile with the most memory, m = 46 MiB, t = 1, p = 1 (about 55 ms
  of CPU here). Sign-ins are a few per person per day, so the cost does not
  weigh on throughput.
- **Access codes of a contract** (the password staff give a contractor with the
  mailed link): hashed once per party and checked once or twice per contract,
  so at tens of thousands of contracts an hour their cost is a large part of
  the web's CPU. They are also guarded otherwise: the link itself carries a
  256-bit token, the password gate is rate-limited per address, and a link
  locks after a few wrong passwords. They get OWASP's minimum Argon2id
  profile, m = 19 MiB, t = 2, p = 1 (about 20 ms), which still makes an
  offline guess from a stolen database as slow as OWASP asks.

Hashes made with other parameters (argon2-cffi's defaults, t = 3, 64 MiB, p = 4,
used before) still verify: the parameters are read from the hash itself. A
successful check then also returns a fresh hash at the current profile
(``check_needs_rehash``), which the caller stores in place of the old one.

Hashing and checking take tens of milliseconds of CPU by design: the ``async``
functions run them in a worker thread (argon2-cffi releases the GIL), never on
the event loop, where they would hold up every other request of the process.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "SecretKind",
    "Verified",
    "api_key_digest",
    "check_secret",
    "hash_access_code",
    "hash_password",
    "hash_secret",
    "needs_rehash",
    "new_api_key",
    "prepare_dummy_hashes",
    "verify_access_code",
    "verify_api_key",
    "verify_password",
]


class SecretKind(enum.StrEnum):
    """What a hashed secret protects; each kind has its own Argon2id cost."""

    STAFF = "staff"
    """A person's own sign-in password (staff, secretariat, operators)."""
    ACCESS_CODE = "access_code"
    """The access password of one contract party's mailed link."""


_HASHERS: dict[SecretKind, PasswordHasher] = {
    # OWASP Password Storage Cheat Sheet, Argon2id: m=47104 KiB (46 MiB), t=1, p=1.
    SecretKind.STAFF: PasswordHasher(time_cost=1, memory_cost=47104, parallelism=1),
    # OWASP's minimum: m=19456 KiB (19 MiB), t=2, p=1; the link is also rate-limited and locks.
    SecretKind.ACCESS_CODE: PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1),
}


@functools.cache
def _dummy_hash(kind: SecretKind) -> str:
    """A fixed hash to verify against when the account does not exist, so that
    "no such ID" and "wrong password" take the same time.

    Made once per process, not at import (every process imports this module, few
    check a missing account): web processes make both in their warm-up
    (:func:`prepare_dummy_hashes`), before the first sign-in could tell them apart.
    """
    return _HASHERS[kind].hash("kyodo-dummy-password")


def prepare_dummy_hashes() -> None:
    """Make the dummy hash of every kind now (a web process's warm-up), not at the first missing account."""
    for kind in SecretKind:
        _dummy_hash(kind)


MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class Verified:
    """The result of a check: true when the secret is right."""

    ok: bool
    rehash: str | None = None
    """A new hash at the current profile, when the secret was right but its hash used older parameters."""

    def __bool__(self) -> bool:
        return self.ok


def hash_password(password: str, kind: SecretKind = SecretKind.STAFF) -> str:
    """An Argon2id hash of ``password`` at the profile of ``kind`` (blocking: see :func:`hash_secret`)."""
    return _HASHERS[kind].hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches, whatever the hash's parameters; constant work whether or not a hash exists."""
    return bool(_verify(password_hash, password, SecretKind.STAFF, rehash=False))


def needs_rehash(password_hash: str, kind: SecretKind = SecretKind.STAFF) -> bool:
    """True when ``password_hash`` was made with other parameters than ``kind``'s current profile."""
    try:
        return _HASHERS[kind].check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def _verify(password_hash: str | None, password: str, kind: SecretKind, *, rehash: bool) -> Verified:
    hasher = _HASHERS[kind]
    try:
        ok = hasher.verify(password_hash or _dummy_hash(kind), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return Verified(False)
    if ok and rehash and password_hash is not None and needs_rehash(password_hash, kind):
        return Verified(True, hasher.hash(password))
    return Verified(ok)


async def hash_secret(password: str, kind: SecretKind = SecretKind.STAFF) -> str:
    """:func:`hash_password` in a worker thread, off the event loop."""
    return await anyio.to_thread.run_sync(hash_password, password, kind)


async def check_secret(password_hash: str | None, password: str, kind: SecretKind = SecretKind.STAFF) -> Verified:
    """Check ``password`` in a worker thread; a right one on an old hash comes with its new hash (``rehash``)."""
    return await anyio.to_thread.run_sync(lambda: _verify(password_hash, password, kind, rehash=True))


async def hash_access_code(password: str) -> str:
    """The hash of a contract party's access password (:attr:`SecretKind.ACCESS_CODE`), off the event loop."""
    return await hash_secret(password, SecretKind.ACCESS_CODE)


async def verify_access_code(password_hash: str | None, password: str) -> Verified:
    """Check a contract party's access password, off the event loop (see :func:`check_secret`)."""
    return await check_secret(password_hash, password, SecretKind.ACCESS_CODE)


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
