"""Where the database and Redis are: external URLs, or the embedded servers' run file.

`kyodo demo` and `kyodo services` start the embedded servers and write their URLs to
``<data dir>/run/services.json``; `kyodo serve`, `worker` and `beat` started by
hand on the same machine find them there. ``KYODO_DATABASE_URL`` and
``KYODO_REDIS_URL`` always win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.settings import Settings

__all__ = [
    "ServicesNotRunning",
    "clear_services_file",
    "database_admin_url",
    "database_url",
    "redis_url",
    "services_file",
    "write_services_file",
]


class ServicesNotRunning(RuntimeError):
    """No external URL is configured and no embedded server is running."""


def services_file(settings: Settings) -> Path:
    """The run file the supervisor writes."""
    return settings.app.data_dir / "run" / "services.json"


def write_services_file(settings: Settings, *, database_url: str, database_admin_url: str, redis_url: str) -> None:
    """Record the embedded servers' URLs for processes started later."""
    path = services_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = {
        "database_url": database_url,
        "database_admin_url": database_admin_url,
        "redis_url": redis_url,
        "pid": os.getpid(),
    }
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


def clear_services_file(settings: Settings) -> None:
    """Forget the embedded servers (they are stopping)."""
    services_file(settings).unlink(missing_ok=True)


_VARIABLES = {
    "database_url": "KYODO_DATABASE_URL",
    "database_admin_url": "KYODO_DATABASE_URL",
    "redis_url": "KYODO_REDIS_URL",
}


def _from_services_file(settings: Settings, key: str) -> str:
    path = services_file(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    value = data.get(key)
    if not value:
        raise ServicesNotRunning(
            f"{_VARIABLES[key]} is not set and no "
            f"embedded server is running for {settings.app.data_dir}. Start `kyodo demo` or "
            "`kyodo services`, or set the variable to an external server."
        )
    return str(value)


def database_url(settings: Settings) -> str:
    """The PostgreSQL URL (libpq form) this process should use."""
    return settings.database.url or _from_services_file(settings, "database_url")


def database_admin_url(settings: Settings) -> str:
    """The PostgreSQL URL of the schema owner, for migrations."""
    if settings.database.admin_url:
        return settings.database.admin_url
    if settings.database.url:
        return settings.database.url
    return _from_services_file(settings, "database_admin_url")


def redis_url(settings: Settings) -> str:
    """The Redis URL this process should use."""
    return settings.redis.url or _from_services_file(settings, "redis_url")
