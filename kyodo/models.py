"""Every model of every domain, imported once so that the metadata is complete.

Alembic and the tests import this module; a domain adds its ``models`` module to
the list below when it gets tables.
"""

from __future__ import annotations

from kyodo.db import metadata
from kyodo.outbox import OutboxMessage

__all__ = ["OutboxMessage", "metadata"]
