"""Metering: what billing and the monthly reports count (ONB-4).

The contract service calls :func:`record_conclusion` in the transaction that
concludes a contract. One event per contract (re-reporting is harmless), tagged
with the member's environment at that moment: billing counts ``live`` only, and
promotion to live clears the ``test`` ones.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from onboarding.environment import environment_of, is_test
from onboarding.models import UsageKind
from onboarding.repository import OnboardingRepository
from onboarding.stages import record_trial_run
from tenants.models import Member

__all__ = ["record_conclusion"]


async def record_conclusion(
    session: AsyncSession, member: Member, contract_id: uuid.UUID, *, occurred_at: dt.datetime | None = None
) -> None:
    """Meter a concluded contract of ``member`` (and count it as a trial run in test)."""
    await OnboardingRepository(session, member.id).record_usage(
        UsageKind.CONTRACT_CONCLUDED,
        contract_id,
        occurred_at=occurred_at or dt.datetime.now(dt.UTC),
        environment=environment_of(member),
    )
    if is_test(member):
        await record_trial_run(session, member.id, contract_id)
