"""Whom a contractor may call: the member's and each department's contact, printed in every mail and page.

A contract's mails, its contractor pages and the dead-link and lock-out pages name
the contact of the contract's department, else the member's, else the drafter's
name and address (:class:`signing.repositories.senders.SenderRepository`). The
administrator sets the first two here, one line each (a phone number and hours,
say); the line is text on the page and in the mail's footer, never a header.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import Invalid
from core.i18n import gettext as _
from tenants import oplog
from tenants.models import Department, Member
from tenants.services._common import MemberService

__all__ = ["CONTACT_LIMIT", "ContactService", "Contacts", "contact_line"]

CONTACT_LIMIT = 300
"""Characters of one contact line (the column's size)."""


def contact_line(value: str | None, *, label: str) -> str:
    """``value`` as one stripped line of at most :data:`CONTACT_LIMIT` characters, or Invalid naming ``label``."""
    text = (value or "").strip()
    if any(ch in text for ch in "\r\n\t\x00"):
        raise Invalid(_("The contact of {label} must be one line.").format(label=label))
    if len(text) > CONTACT_LIMIT:
        raise Invalid(
            _("The contact of {label} is {n} characters long; at most {limit} fit.").format(
                label=label, n=len(text), limit=CONTACT_LIMIT
            )
        )
    return text


@dataclass(frozen=True)
class Contacts:
    """The member's contact and its departments' (in code order)."""

    member: Member
    departments: list[Department]


class ContactService(MemberService):
    """The contact lines of one member and its departments."""

    async def current(self) -> Contacts:
        """The member and its departments with their contacts."""
        member = await self.session.get(Member, self.member_id)
        assert member is not None, "the caller's member exists"
        return Contacts(member=member, departments=list(await self.repository.departments()))

    async def change(self, member_contact: str, departments: Mapping[uuid.UUID, str]) -> Contacts:
        """Set the member's contact and the given departments' (others stay); each change is in the operation log.

        Nothing is stored when one line is refused (Invalid names it).
        """
        contacts = await self.current()
        by_id = {d.id: d for d in contacts.departments}
        member_line = contact_line(member_contact, label=contacts.member.name)
        lines = {
            department_id: contact_line(value, label=by_id[department_id].name)
            for department_id, value in departments.items()
            if department_id in by_id
        }
        if member_line != contacts.member.contact:
            target = oplog.target("member", contacts.member.id, contacts.member.name)
            await self._record_change(target, {"contact": contacts.member.contact}, {"contact": member_line})
            contacts.member.contact = member_line
        for department_id, line in lines.items():
            department = by_id[department_id]
            if line != department.contact:
                target = oplog.target("department", department.id, f"{department.code} {department.name}")
                await self._record_change(target, {"contact": department.contact}, {"contact": line})
                department.contact = line
        await self.session.flush()
        return contacts
