"""API keys of one member: the key is shown once, only its digest is kept."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import msgspec

from core.i18n import gettext as _
from core.scope import Principal, PrincipalKind
from tenants import oplog
from tenants.models import ApiKey, OperationKind
from tenants.passwords import api_key_digest, new_api_key
from tenants.services._common import RoleHolderService, required


class ApiKeyIn(msgspec.Struct):
    """A new key: what it is for, and roles to give it at once (each within what the issuer holds)."""

    label: str
    roles: list[str] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class ApiKeyEntry:
    """A key with its roles; ``key`` itself only in the answer that issued it."""

    api_key: ApiKey
    roles: list[str]
    key: str | None = None


class ApiKeyService(RoleHolderService):
    """API keys of one member."""

    subject_kind = "apikey"

    async def find(self, key_id: uuid.UUID) -> ApiKey:
        """One key of the member, or NotFound."""
        return await self._find(ApiKey, key_id)

    async def listing(self) -> list[ApiKeyEntry]:
        """Every key with its roles, newest first (never the keys themselves)."""
        roles = await self.roles.assignments()
        return [ApiKeyEntry(k, roles.get(self.subject(k.id), [])) for k in await self.repository.api_keys()]

    async def issue(self, *, label: str, created_by_id: uuid.UUID | None) -> tuple[ApiKey, str]:
        """A new key without roles: the row and the key itself (never stored; show it once)."""
        key, prefix = new_api_key()
        row = ApiKey(
            prefix=prefix,
            key_hash=api_key_digest(key),
            label=required(label, _("a label")),
            created_by_id=created_by_id,
        )
        self.repository.add(row)
        await self.repository.flush()
        # The key itself is never written anywhere; its prefix names it.
        after = {"label": row.label, "prefix": row.prefix}
        await self._record(OperationKind.CREATED, _target(row), {"after": after})
        return row, key

    async def create(self, editor: Principal, data: ApiKeyIn) -> ApiKeyEntry:
        """Issue a key for ``editor`` and give it ``data.roles``; the answer carries the key once."""
        row, key = await self.issue(
            label=data.label, created_by_id=editor.id if editor.kind is PrincipalKind.STAFF else None
        )
        return ApiKeyEntry(row, await self._give_roles(editor, row.id, data.roles), key)

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        """Stop the key from working (kept in the list, marked revoked)."""
        row = await self.find(key_id)
        if row.revoked_at is None:
            row.revoked_at = dt.datetime.now(dt.UTC)
            await self.repository.flush()
            await self._record(
                OperationKind.CHANGED, _target(row), oplog.changes({"revoked": False}, {"revoked": True})
            )
        return row

    async def give_role(self, editor: Principal, key_id: uuid.UUID, role: str) -> ApiKeyEntry:
        """Give a role to a key (only if ``editor`` holds all its permissions)."""
        row = await self.find(key_id)
        return ApiKeyEntry(row, await self._give_roles(editor, row.id, [role]))

    async def take_role(self, editor: Principal, key_id: uuid.UUID, role: str) -> ApiKeyEntry:
        """Take a role from a key (within what ``editor`` holds; a key never takes its own role management)."""
        row = await self.find(key_id)
        await self.roles.unassign(editor=editor, subject=self.subject(row.id), role_name=role)
        return ApiKeyEntry(row, await self.roles.roles_of(self.subject(row.id)))


def _target(row: ApiKey) -> str:
    return oplog.target("api_key", row.id, f"{row.prefix} {row.label}")
