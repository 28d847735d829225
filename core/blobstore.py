"""Where encrypted documents are kept: a folder, or an S3-compatible bucket (``KYODO_BLOB_URL``).

The backends store opaque bytes by key; what the bytes are (AES-GCM under each
member's key) and how keys are made (``<member>/<aa>/<sha256>``) is the
document store's business (:mod:`signing.blobs`). Keys begin with the member's
id, so everything of one member is found by that prefix: its export, its
deletion when it leaves, and the backup.

The object store client is obstore (Rust's ``object_store`` crate): one async
API for AWS S3, MinIO, SeaweedFS, Ceph and the Japanese providers' S3
endpoints, with retries built in.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from core.settings import BlobSettings, Settings

__all__ = ["BlobBackend", "FilesystemBackend", "ObjectStoreBackend", "backend_for"]


class BlobBackend(Protocol):
    """Where encrypted objects are kept, by key (``<member>/<aa>/<sha256>``)."""

    async def exists(self, key: str) -> bool:
        """True if an object is stored under ``key``."""
        ...

    async def read(self, key: str) -> bytes | None:
        """The object's bytes, or None."""
        ...

    async def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` in one piece (a reader never sees half an object)."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Remove the objects (missing ones are ignored)."""
        ...


class FilesystemBackend:
    """Objects as files under a folder (the default: ``<data dir>/blobs``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def read(self, key: str) -> bytes | None:
        path = self._path(key)
        return await asyncio.to_thread(path.read_bytes) if path.is_file() else None

    async def write(self, key: str, data: bytes) -> None:
        target = self._path(key)

        def _write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)

        await asyncio.to_thread(_write)

    async def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)


class ObjectStoreBackend:
    """Objects in an S3-compatible bucket, under an optional prefix."""

    def __init__(self, store: S3Store, prefix: str = "") -> None:
        self.store = store
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self.store, self.prefix + key)
        except FileNotFoundError:
            return False
        return True

    async def read(self, key: str) -> bytes | None:
        try:
            result = await obstore.get_async(self.store, self.prefix + key)
        except FileNotFoundError:
            return None
        return bytes(await result.bytes_async())

    async def write(self, key: str, data: bytes) -> None:
        # One PUT: the object store makes it visible whole or not at all.
        await obstore.put_async(self.store, self.prefix + key, data)

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        stream = obstore.list(self.store, prefix=self.prefix + prefix)
        async for batch in stream:
            found += [str(item["path"])[len(self.prefix) :] for item in batch]
        return sorted(found)

    async def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            await obstore.delete_async(self.store, [self.prefix + k for k in keys[start : start + 1000]])


def backend_for(settings: Settings) -> BlobBackend:
    """The backend ``KYODO_BLOB_URL`` names (the data folder when it is empty)."""
    config: BlobSettings = settings.blobs
    if not config.url:
        return FilesystemBackend(settings.app.data_dir / "blobs")
    parts = urlsplit(config.url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError("KYODO_BLOB_URL must be empty or s3://bucket/prefix")
    options = {"allow_http": "true"} if config.s3_endpoint.startswith("http://") else {}
    store = S3Store(
        parts.netloc,
        endpoint=config.s3_endpoint or None,
        region=config.s3_region,
        access_key_id=config.s3_access_key_id or None,
        secret_access_key=config.s3_secret_access_key or None,
        virtual_hosted_style_request=False,
        client_options=options,  # type: ignore[arg-type]
    )
    return ObjectStoreBackend(store, parts.path)
