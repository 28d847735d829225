"""Member administration: departments, staff, contract titles and grants, IP ranges, API keys, contacts.

Every service works inside one member: it is built with the member's id and
reads through the member's :class:`~tenants.repository.TenantRepository`
(row-level security is the second line behind it). A row of another member is
simply "not found", whatever its id.

Each action is one method taking one typed input (``StaffIn``, ``StaffPatch``,
…): the screens build it from their form, the JSON API receives it as its body,
and both call the same method. Services never commit; the request does, and
role changes are announced to every process after that commit
(:func:`policy.services.policy_changed`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tenants.services._accounts import change_own_password
from tenants.services._api_keys import ApiKeyEntry, ApiKeyIn, ApiKeyService
from tenants.services._common import UNSET, generate_password
from tenants.services._contact import CONTACT_LIMIT, Contacts, ContactService
from tenants.services._departments import (
    DepartmentIn,
    DepartmentNode,
    DepartmentPatch,
    DepartmentService,
    on_department_merge,
)
from tenants.services._networks import IpRangeIn, IpRangeService
from tenants.services._staff import (
    PasswordIn,
    StaffEntry,
    StaffIn,
    StaffPatch,
    StaffService,
    login_id_taken,
)
from tenants.services._titles import TitleEntry, TitleIn, TitlePatch, TitleService

__all__ = [
    "CONTACT_LIMIT",
    "UNSET",
    "ApiKeyEntry",
    "ApiKeyIn",
    "ApiKeyService",
    "ContactService",
    "Contacts",
    "DepartmentIn",
    "DepartmentNode",
    "DepartmentPatch",
    "DepartmentService",
    "IpRangeIn",
    "IpRangeService",
    "MemberServices",
    "PasswordIn",
    "StaffEntry",
    "StaffIn",
    "StaffPatch",
    "StaffService",
    "TitleEntry",
    "TitleIn",
    "TitlePatch",
    "TitleService",
    "change_own_password",
    "generate_password",
    "login_id_taken",
    "member_services",
    "on_department_merge",
]


@dataclass
class MemberServices:
    """Every administration service of one member, sharing a session."""

    departments: DepartmentService
    staff: StaffService
    titles: TitleService
    ip_ranges: IpRangeService
    api_keys: ApiKeyService
    contacts: ContactService


def member_services(session: AsyncSession, member_id: uuid.UUID) -> MemberServices:
    """The services of ``member_id`` on ``session``."""
    return MemberServices(
        departments=DepartmentService(session, member_id),
        staff=StaffService(session, member_id),
        titles=TitleService(session, member_id),
        ip_ranges=IpRangeService(session, member_id),
        api_keys=ApiKeyService(session, member_id),
        contacts=ContactService(session, member_id),
    )
