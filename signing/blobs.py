"""Content-addressed, encrypted document store: the data folder, or any S3-compatible object store.

A document is stored once per member under the SHA-256 of its plaintext
(key ``<member>/<aa>/<sha256>``), encrypted with AES-GCM under the member's
data key; the data key is kept in the database wrapped (AES-GCM) by the master
key (``KYODO_MASTER_KEY``, or ``master_key`` generated into the data folder).
The database keeps hashes and metadata; a blob is only written after a document
passed every check, so a refused upload leaves nothing behind.

Where the encrypted objects live is a backend chosen by ``KYODO_BLOB_URL``:
empty for ``<data dir>/blobs/`` on the file system, ``s3://bucket/prefix`` for an
object store (AWS S3, MinIO, SeaweedFS, Ceph RGW, Sakura or IIJ object storage …)
reached with obstore. Keys start with the member's id in both, so a leaving
member's export and deletion find every object by that prefix.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from core.blobstore import BlobBackend, backend_for
from core.settings import Settings
from signing.repositories.seals import DocumentKeyRepository

__all__ = [
    "BlobNotFoundError",
    "BlobStore",
    "master_key",
    "master_keys",
    "open_with_master",
    "seal_with_master",
    "sha256_hex",
]

_NONCE = 12


class BlobNotFoundError(LookupError):
    """No blob with that hash is stored for the member."""


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _decoded(configured: str, name: str) -> bytes:
    try:
        key = base64.b64decode(configured, validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError(f"{name} must be the base64 of 32 bytes")
    return key


def master_keys(settings: Settings) -> list[bytes]:
    """The master key, then the earlier ones still read during a rotation (``KYODO_MASTER_KEY_PREVIOUS``)."""
    return [
        master_key(settings),
        *(_decoded(k, "KYODO_MASTER_KEY_PREVIOUS") for k in settings.contracts.previous_master_keys),
    ]


def seal_with_master(settings: Settings, plaintext: bytes, aad: bytes) -> bytes:
    """``plaintext`` encrypted (AES-GCM, random nonce first) under the current master key."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(master_key(settings)).encrypt(nonce, plaintext, aad)


def open_with_master(settings: Settings, sealed: bytes, aad: bytes) -> bytes:
    """Decrypt what :func:`seal_with_master` wrote under the current or an earlier master key."""
    return _open(master_keys(settings), sealed, aad)


def _open(keys: list[bytes], sealed: bytes, aad: bytes) -> bytes:
    for key in keys[:-1]:
        try:
            return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except InvalidTag:
            continue
    return AESGCM(keys[-1]).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


def master_key(settings: Settings) -> bytes:
    """The 32-byte master key: configured, or generated once into the data folder."""
    configured = settings.contracts.master_key
    if configured:
        key = base64.b64decode(configured)
    else:
        path = settings.app.data_dir / "master_key"
        if not path.exists():
            settings.app.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(base64.b64encode(secrets.token_bytes(32)).decode())
        key = base64.b64decode(path.read_text().strip())
    if len(key) != 32:
        raise ValueError("KYODO_MASTER_KEY must be the base64 of 32 bytes")
    return key


class BlobStore:
    """Encrypted blobs of one installation."""

    def __init__(self, settings: Settings, backend: BlobBackend | None = None) -> None:
        self.backend = backend or backend_for(settings)
        self.root = settings.app.data_dir / "blobs"
        self._master = AESGCM(master_key(settings))
        self._masters = master_keys(settings)

    @staticmethod
    def key(member_id: uuid.UUID, sha256: str) -> str:
        """The object key of the blob of ``sha256`` for ``member_id``."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256")
        return f"{member_id}/{sha256[:2]}/{sha256}"

    def path(self, member_id: uuid.UUID, sha256: str) -> Path:
        """Where the blob lives on the file system backend."""
        return self.root / self.key(member_id, sha256)

    async def _data_key(self, session: AsyncSession, member_id: uuid.UUID) -> AESGCM:
        keys = DocumentKeyRepository(session, member_id)
        wrapped = await keys.wrapped_key()
        if wrapped is None:
            nonce = secrets.token_bytes(_NONCE)
            fresh = nonce + self._master.encrypt(nonce, secrets.token_bytes(32), str(member_id).encode())
            # Two uploads of a new member at once agree on one key.
            await keys.add_wrapped_key_once(fresh)
            wrapped = await keys.wrapped_key()
            assert wrapped is not None
        return AESGCM(_open(self._masters, wrapped, str(member_id).encode()))

    async def seal_for_member(self, session: AsyncSession, member_id: uuid.UUID, plaintext: bytes, aad: bytes) -> bytes:
        """``plaintext`` encrypted (AES-GCM, random nonce first) under the member's data key, for a database column.

        Deleting a leaving member deletes its data key, so what was sealed this way cannot be read again.
        """
        aead = await self._data_key(session, member_id)
        nonce = secrets.token_bytes(_NONCE)
        return nonce + aead.encrypt(nonce, plaintext, aad)

    async def open_for_member(self, session: AsyncSession, member_id: uuid.UUID, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt what :meth:`seal_for_member` wrote (``aad`` must be the same)."""
        aead = await self._data_key(session, member_id)
        return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)

    async def put(self, session: AsyncSession, member_id: uuid.UUID, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256."""
        digest = sha256_hex(data)
        key = self.key(member_id, digest)
        if await self.backend.exists(key):
            return digest
        aead = await self._data_key(session, member_id)
        nonce = secrets.token_bytes(_NONCE)
        await self.backend.write(key, nonce + aead.encrypt(nonce, data, digest.encode()))
        return digest

    async def get(self, session: AsyncSession, member_id: uuid.UUID, sha256: str) -> bytes:
        """The plaintext of a stored blob; checks its hash."""
        sealed = await self.backend.read(self.key(member_id, sha256))
        if sealed is None:
            raise BlobNotFoundError(sha256)
        aead = await self._data_key(session, member_id)
        data = aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], sha256.encode())
        if sha256_hex(data) != sha256:
            raise BlobNotFoundError(sha256)
        return data

    async def member_objects(self, member_id: uuid.UUID) -> list[str]:
        """Every object key of a member (for the export and deletion of a leaving member)."""
        return await self.backend.keys(f"{member_id}/")

    async def delete_member(self, member_id: uuid.UUID) -> tuple[int, int]:
        """Delete every object of a member; returns (objects, bytes) deleted."""
        keys = await self.member_objects(member_id)
        size = 0
        for key in keys:
            data = await self.backend.read(key)
            size += len(data or b"")
        await self.backend.delete(keys)
        return len(keys), size
