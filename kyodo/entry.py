"""Entry points that import the platform with :func:`core.startup.startup_imports`.

``kyodo`` (the command) and the web processes of ``kyodo serve`` start here; the
modules they load are imported only inside the block.
"""

from __future__ import annotations

from typing import Any

from core.startup import startup_imports

__all__ = ["create_app", "main"]


def main() -> None:
    """The ``kyodo`` command (:func:`kyodo.cli.main`)."""
    with startup_imports():
        from kyodo.cli import main as run  # noqa: PLC0415 - imported inside the block on purpose

    run()


def create_app() -> Any:
    """The web application of one uvicorn worker process (:func:`kyodo.app.create_app`)."""
    with startup_imports():
        from kyodo.app import create_app as build  # noqa: PLC0415 - imported inside the block on purpose

        return build()
