"""Operator commands of onboarding (``kyodo billing …``, ``kyodo member …``), callable from tests.

Each opens its own session (:func:`core.db.session_scope`, or
:func:`core.db.system_session` where every member's rows must be seen); what
deletes a member's own rows runs inside :func:`core.scope.elevated`.
Deletion connects as the schema owner (``KYODO_DATABASE_ADMIN_URL``): it must be
able to remove rows of every member-owned table, including append-only ones
(audit trails) that the application role may not delete from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import session_scope
from core.errors import NotFound
from core.runtime import database_admin_url
from core.settings import Settings
from onboarding.billing import issue_month
from onboarding.leaving import ReportSealer, delete_member
from onboarding.models import DeletionReport, Invoice
from tenants.models import Consortium, Member

__all__ = ["UnknownMember", "operator", "run_billing", "run_delete"]


class UnknownMember(NotFound):
    """No member has this local government code."""


def operator() -> str:
    """Who runs the command, as recorded in history and reports."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _member(session: AsyncSession, code: str) -> Member:
    member = await session.scalar(select(Member).where(Member.lg_code == code.strip()))
    if member is None:
        raise UnknownMember(f"地方公共団体コード {code} の構成団体は登録されていません。")
    return member


async def run_billing(settings: Settings, month: dt.date) -> list[Invoice]:
    """Issue the month's invoices of every consortium; returns the new ones."""
    issued: list[Invoice] = []
    async with session_scope(settings) as session:
        ids = (await session.scalars(select(Consortium.id))).all()
    for consortium_id in ids:
        async with session_scope(settings) as session:
            issued.extend(await issue_month(session, consortium_id, month, by=operator(), issuer=settings.invoice))
    return issued


def _owner_settings(settings: Settings) -> Settings:
    admin = database_admin_url(settings)
    return dataclasses.replace(settings, database=dataclasses.replace(settings.database, url=admin, admin_url=admin))


async def run_delete(
    settings: Settings,
    code: str,
    *,
    export_sha256: str = "",
    requested_by: str = "",
    seal_report: ReportSealer | None = None,
) -> DeletionReport:
    """Delete everything of the member (it must be ``leaving``) and return the report.

    The readable export of a leaving member is :func:`signing.exit.run_member_export`.
    """
    async with session_scope(_owner_settings(settings)) as session:
        member = await _member(session, code)
        return await delete_member(
            session,
            member,
            settings,
            by=operator(),
            export_sha256=export_sha256,
            requested_by=requested_by,
            seal_report=seal_report,
        )
