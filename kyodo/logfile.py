"""Application logs kept as JSON lines, one file per process kind and day, for ``KYODO_LOG_RETENTION_DAYS`` (DAT-5).

With ``KYODO_LOG_DIR`` set, every process (web, worker, beat, watch, the
commands) appends its log records to ``<dir>/<process>-<host>-<YYYY-MM-DD>.jsonl``
(Japan time), one JSON object per line: ``time`` (ISO 8601 with offset),
``level``, ``logger``, ``process`` (kind and pid), ``message``, and ``exception``
when there is one. Several processes of one kind on one host append to the same
file (O_APPEND; nothing is renamed, so no process rotates under another). The day
changes the file; files of this directory older than the retention (365 days at
least, 366 by default) are deleted when a process starts a new day's file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

from core.dates import JST
from core.settings import Settings

__all__ = ["MIN_RETENTION_DAYS", "DailyJsonFileHandler", "JsonFormatter", "configure_log_file", "prune_logs"]

MIN_RETENTION_DAYS = 365
"""Logs are kept a year at least, whatever is configured."""

_DATED = re.compile(r"^(?P<stem>.+)-(?P<day>\d{4}-\d{2}-\d{2})\.jsonl$")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, process_kind: str) -> None:
        super().__init__()
        self.process_kind = process_kind

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (Japanese kept as is)."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, JST).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": f"{self.process_kind}:{record.process}",
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = str(request_id)
        return json.dumps(entry, ensure_ascii=False)


def prune_logs(directory: Path, retention_days: int, *, today: dt.date | None = None) -> list[Path]:
    """Delete the dated log files of ``directory`` older than the retention; returns what was deleted."""
    keep_days = max(MIN_RETENTION_DAYS, retention_days)
    oldest = (today or dt.datetime.now(JST).date()) - dt.timedelta(days=keep_days)
    deleted = []
    for path in sorted(directory.glob("*.jsonl")):
        match = _DATED.match(path.name)
        if match is None:
            continue
        try:
            day = dt.date.fromisoformat(match["day"])
        except ValueError:
            continue
        if day < oldest:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


class DailyJsonFileHandler(logging.Handler):
    """Appends to the file of the current Japan-time day; a new day opens a new file and prunes old ones."""

    def __init__(self, directory: Path, process_kind: str, retention_days: int) -> None:
        super().__init__()
        self.directory = directory
        self.stem = f"{process_kind}-{socket.gethostname()}"
        self.retention_days = retention_days
        self._day: dt.date | None = None
        self._fd: int | None = None
        self.setFormatter(JsonFormatter(process_kind))

    def path_for(self, day: dt.date) -> Path:
        """The file of ``day``."""
        return self.directory / f"{self.stem}-{day.isoformat()}.jsonl"

    def _open(self, day: dt.date) -> int:
        if self._fd is not None and self._day == day:
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path_for(day), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._day = day
        prune_logs(self.directory, self.retention_days, today=day)
        return self._fd

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record as one line (one write call, so lines of processes never interleave)."""
        try:
            line = (self.format(record) + "\n").encode("utf-8")
            day = dt.datetime.fromtimestamp(record.created, JST).date()
            os.write(self._open(day), line)  # handle() holds the handler's lock around emit()
        except Exception:  # noqa: BLE001 - logging must never break the process
            self.handleError(record)

    def close(self) -> None:
        """Close the current file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()


def configure_log_file(settings: Settings, process_kind: str) -> DailyJsonFileHandler | None:
    """Add the JSON log file to the root logger (once per process); None when ``KYODO_LOG_DIR`` is unset."""
    directory = settings.app.log_dir
    if directory is None:
        return None
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, DailyJsonFileHandler):
            return handler
    handler = DailyJsonFileHandler(directory, process_kind, settings.app.log_retention_days)
    handler.setLevel(settings.app.log_level.upper())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > handler.level:
        root.setLevel(handler.level)
    _keep_after_celery_setup(handler)
    return handler


def _keep_after_celery_setup(handler: DailyJsonFileHandler) -> None:
    """Celery replaces the root logger's handlers when a worker or beat starts: add the file again then."""
    try:
        from celery.signals import after_setup_logger  # noqa: PLC0415 - only where Celery is installed
    except ImportError:  # pragma: no cover - Celery is a dependency
        return

    def again(logger: logging.Logger, **_: object) -> None:
        if handler not in logger.handlers:
            logger.addHandler(handler)

    after_setup_logger.connect(again, weak=False)
