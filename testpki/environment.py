"""Helpers that hand a test PKI to other processes: its port, and its settings as environment."""

from __future__ import annotations

import json
from pathlib import Path

from core.settings import SigningSettings
from testpki.ca import META_FILE

__all__ = ["existing_port", "settings_environment"]


def existing_port(directory: Path | str, default: int) -> int:
    """The port a PKI in ``directory`` was generated for (its URLs are in the certificates)."""
    meta = Path(directory) / META_FILE
    try:
        return int(json.loads(meta.read_text("utf-8"))["port"])
    except (OSError, ValueError, KeyError):
        return default


def settings_environment(settings: SigningSettings, *, prefix: str = "KYODO_SIGNING_") -> dict[str, str]:
    """Environment variables that make another process build the same :class:`SigningSettings`."""
    env = {
        f"{prefix}KEY_SOURCE": settings.key_source.value,
        f"{prefix}TSA_URL": settings.tsa_url,
        f"{prefix}TRUST_ROOTS": ":".join(str(p) for p in settings.trust_root_paths),
        f"{prefix}HTTP_TIMEOUT": str(settings.http_timeout),
    }
    if settings.pkcs12_path is not None:
        env[f"{prefix}PKCS12_PATH"] = str(settings.pkcs12_path)
    if settings.pkcs12_passphrase is not None:
        env[f"{prefix}PKCS12_PASSPHRASE"] = settings.pkcs12_passphrase
    return env
