"""Tests only: let a test's own session see every member's rows for the rest of the test.

The platform itself switches scope only inside :func:`core.scope.elevated`, which
always gives the previous scope back; a test that sets up rows of two members
and then inspects them needs the switch for its whole body instead.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.scope import MEMBER_SETTING, SYSTEM_SETTING

__all__ = ["system_access"]


async def system_access(session: AsyncSession) -> None:
    """See every member's rows from now on in ``session`` (the test's, never the platform's)."""
    session.info["system"] = True
    session.info["member_id"] = ""
    if session.in_transaction():
        await session.execute(
            text("SELECT set_config(:s_key, 'on', true), set_config(:m_key, '', true)"),
            {"s_key": SYSTEM_SETTING, "m_key": MEMBER_SETTING},
        )
