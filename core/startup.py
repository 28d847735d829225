"""A process's start: its imports run without the cyclic garbage collector.

Every ``kyodo`` process (the web server and each of its worker processes, a
Celery worker, beat, every operator command) starts by importing the platform:
SQLAlchemy's mappers, Litestar's routes, pydantic's schemas, pyHanko and the
rest, a few hundred thousand objects that live as long as the process. While
they are made, the collector runs again and again over a heap that only grows
and never holds garbage worth finding: about an eighth of the start's CPU.

:func:`startup_imports` switches it off for the imports, then moves everything
made so far into the permanent generation (:func:`gc.freeze`), so that later
collections of a long-running process do not walk those objects again either,
and a process that forks (Celery's prefork pool) keeps them shared with its
children instead of touching every page. Both are what the documentation of
:mod:`gc` suggests for a pre-forking server.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["startup_imports"]


@contextlib.contextmanager
def startup_imports() -> Iterator[None]:
    """Run the block (a process's imports) without the collector; freeze what it made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
