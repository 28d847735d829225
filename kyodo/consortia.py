"""Founding a consortium and adding its members, for the CLI and the operator screens (no SQL).

A consortium's quality targets live in the reporting domain and its accounts in
the consortium domain; this wiring module sets both in one transaction, so a
consortium never exists without its secretariat and its targets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consortium.founding import DEFAULT_LATEST_END, MIN_NOTICE_DAYS, Founded, found_consortium
from consortium.services import MembershipService
from core.dates import JST
from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from reporting.figures import DEFAULT_TARGETS
from reporting.services import set_targets
from tenants.models import Consortium, Member, MemberKind, MemberStatus, Staff

__all__ = ["AddedMember", "ConsortiumDefaults", "add_member", "consortia", "found"]


@dataclass(frozen=True)
class ConsortiumDefaults:
    """What a new consortium starts with."""

    notice_days: int = MIN_NOTICE_DAYS
    latest_end: dt.date = DEFAULT_LATEST_END
    availability_percent: Decimal = DEFAULT_TARGETS.availability_percent
    recovery_minutes: int = DEFAULT_TARGETS.recovery_minutes
    response_ms: int = DEFAULT_TARGETS.response_ms


@dataclass(frozen=True)
class AddedMember:
    """A new member, its first administrator and that account's initial password (show it once)."""

    member: Member
    admin: Staff
    password: str


async def found(
    session: AsyncSession,
    *,
    name: str,
    slug: str,
    secretariat_login_id: str,
    secretariat_name: str,
    secretariat_email: str,
    defaults: ConsortiumDefaults | None = None,
) -> Founded:
    """A consortium with its secretariat account and targets from this month on (see :mod:`consortium.founding`)."""
    chosen = defaults or ConsortiumDefaults()
    if not Decimal("0") < chosen.availability_percent <= Decimal("100"):
        raise Invalid(_("The availability target is a percentage above 0 and at most 100."))
    if chosen.recovery_minutes <= 0 or chosen.response_ms <= 0:
        raise Invalid(_("Recovery time and response time targets must be positive."))
    founded = await found_consortium(
        session,
        name=name,
        slug=slug,
        notice_days=chosen.notice_days,
        latest_end=chosen.latest_end,
        secretariat_login_id=secretariat_login_id,
        secretariat_name=secretariat_name,
        secretariat_email=secretariat_email,
    )
    await set_targets(
        session,
        founded.consortium.id,
        effective_from=dt.datetime.now(JST).date().replace(day=1),
        availability_percent=chosen.availability_percent,
        recovery_minutes=chosen.recovery_minutes,
        response_ms=chosen.response_ms,
    )
    return founded


async def consortia(session: AsyncSession) -> list[Consortium]:
    """Every consortium, by name."""
    return list((await session.scalars(select(Consortium).order_by(Consortium.name))).all())


async def add_member(
    session: AsyncSession,
    *,
    slug: str,
    lg_code: str,
    name: str,
    kind: MemberKind,
    admin_login_id: str,
    admin_name: str,
    admin_email: str,
    joined_on: dt.date | None = None,
) -> AddedMember:
    """A new member of the consortium ``slug`` (in its sandbox) with its first administrator.

    :raises NotFound: no consortium has that slug.
    """
    consortium = await session.scalar(select(Consortium).where(Consortium.slug == slug.strip()))
    if consortium is None:
        raise NotFound(_("There is no consortium {slug}.").format(slug=slug))
    member, admin, password = await MembershipService(session, consortium.id).add(
        lg_code=lg_code,
        name=name,
        kind=kind,
        joined_on=joined_on or dt.datetime.now(JST).date(),
        admin_login_id=admin_login_id,
        admin_name=admin_name,
        admin_email=admin_email,
        status=MemberStatus.SANDBOX,
    )
    return AddedMember(member, admin, password)
