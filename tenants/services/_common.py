"""What every administration service shares: the member's repository, lookups by id, input checks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import MemberOwned
from core.errors import Invalid, NotFound
from core.i18n import gettext as _
from core.scope import Principal
from core.text import normalized_email, readable_secret
from policy.services import RoleService
from tenants import oplog
from tenants.models import OperationKind
from tenants.passwords import MIN_PASSWORD_LENGTH
from tenants.repository import TenantRepository

UNSET: Any = msgspec.UNSET
"""A field of a change that was left out (``None`` may be a value, e.g. no department)."""

M = TypeVar("M", bound=MemberOwned)


def given(value: object) -> bool:
    """True if a change sets this field."""
    return value is not msgspec.UNSET


def required(value: str | None, label: str) -> str:
    """``value`` stripped, or Invalid asking for ``label``."""
    text = (value or "").strip()
    if not text:
        raise Invalid(_("Please enter {field}.").format(field=label))
    return text


def valid_email(value: str | None) -> str:
    """A well-formed e-mail address in its normal form (no line breaks, no spaces)."""
    email = required(value, _("an e-mail address"))
    normalized = normalized_email(email)
    if normalized is None:
        raise Invalid(_("The e-mail address {email} is not valid.").format(email=email.strip()[:254]))
    return normalized


def generate_password() -> str:
    """A random initial password (shown once to the administrator, never stored in clear).

    Sixteen characters without look-alikes (no l/1, o/0, i: read off a screen or
    paper without mistakes), about 79 bits.
    """
    return readable_secret(16)


def check_password(password: str) -> str:
    """``password`` if long enough, else Invalid."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(_("The password must be at least {n} characters long.").format(n=MIN_PASSWORD_LENGTH))
    return password


def not_found() -> NotFound:
    """Another member's id and an id that never existed answer alike."""
    return NotFound(_("The page or item was not found. It may have been deleted, or the address is wrong."))


class MemberService:
    """A service of one member: its repository and lookups by id (another member's id is "not found")."""

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        self.session = session
        self.member_id = member_id
        self.repository = TenantRepository(session, member_id)
        oplog.attach(session)  # role changes made through policy are recorded too, also outside a request

    async def _find(self, model: type[M], row_id: uuid.UUID) -> M:
        row = await self.repository.get(model, row_id)
        if row is None:
            raise not_found()
        return row

    async def _record(self, kind: OperationKind, target: str, detail: Mapping[str, Any] | None = None) -> None:
        """Put an administrative change in the member's operation log (who: the request's caller)."""
        await oplog.record(self.session, member_id=self.member_id, kind=kind, target=target, detail=detail)

    async def _record_change(self, target: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Record the fields that changed (before → after); nothing when none did."""
        diff = oplog.changes(before, after)
        if diff["after"]:
            await self._record(OperationKind.CHANGED, target, diff)


def fields_of(row: object, *names: str) -> dict[str, Any]:
    """The named attributes of ``row``, to compare before and after a change."""
    return {name: getattr(row, name) for name in names}


class RoleHolderService(MemberService):
    """A service whose rows hold roles (staff, API keys): the Casbin subject is ``<kind>:<id>``."""

    subject_kind: str

    def __init__(self, session: AsyncSession, member_id: uuid.UUID) -> None:
        super().__init__(session, member_id)
        self.roles = RoleService(session, member_id)

    def subject(self, row_id: uuid.UUID) -> str:
        """The Casbin subject of a row."""
        return f"{self.subject_kind}:{row_id}"

    async def _give_roles(self, editor: Principal, row_id: uuid.UUID, roles: list[str]) -> list[str]:
        for role in roles:
            await self.roles.assign(editor=editor, subject=self.subject(row_id), role_name=role)
        return await self.roles.roles_of(self.subject(row_id))
