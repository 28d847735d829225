"""Departments (課・室) of one member, nested."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Invalid, NotFound
from core.i18n import gettext as _
from tenants import oplog
from tenants.models import Department, OperationKind
from tenants.services._common import UNSET, MemberService, fields_of, given, required

DEPARTMENT_FIELDS = ("code", "name", "parent_id")


class DepartmentIn(msgspec.Struct):
    """A new department, inside ``parent_id`` if given."""

    code: str
    name: str
    parent_id: uuid.UUID | None = None


class DepartmentPatch(msgspec.Struct):
    """Rename (``name``/``code``) and/or move (``parent_id``; null = top level); left out = unchanged."""

    name: str | msgspec.UnsetType = UNSET
    code: str | msgspec.UnsetType = UNSET
    parent_id: uuid.UUID | msgspec.UnsetType | None = UNSET


@dataclass(frozen=True)
class DepartmentNode:
    """A department with its depth in the tree, for indented lists."""

    department: Department
    depth: int
    path: str
    """Names from the top, e.g. 総務部 / 総務課."""


class DepartmentService(MemberService):
    """Departments of one member."""

    async def find(self, department_id: uuid.UUID) -> Department:
        """One department of the member, or NotFound."""
        return await self._find(Department, department_id)

    async def all(self) -> Sequence[Department]:
        """Every department of the member, by code."""
        return await self.repository.departments()

    async def tree(self) -> list[DepartmentNode]:
        """Departments in tree order (parents before their children)."""
        children: dict[uuid.UUID | None, list[Department]] = {}
        for row in await self.all():
            children.setdefault(row.parent_id, []).append(row)
        out: list[DepartmentNode] = []

        def walk(parent: uuid.UUID | None, depth: int, prefix: str) -> None:
            for row in children.get(parent, []):
                path = f"{prefix} / {row.name}" if prefix else row.name
                out.append(DepartmentNode(row, depth, path))
                walk(row.id, depth + 1, path)

        walk(None, 0, "")
        return out

    async def staff_counts(self) -> dict[uuid.UUID, int]:
        """Department id → how many staff belong to it."""
        return await self.repository.staff_per_department()

    async def _parent(self, parent_id: uuid.UUID | None) -> uuid.UUID | None:
        if parent_id is None:
            return None
        try:
            return (await self.find(parent_id)).id
        except NotFound:
            raise Invalid(_("The parent department does not exist.")) from None

    async def _free_code(self, code: str) -> str:
        if await self.repository.department_code_taken(code):
            raise Conflict(_("The code {code} is already used by another department.").format(code=code))
        return code

    async def create(self, data: DepartmentIn) -> Department:
        """Create a department."""
        department = Department(
            code=await self._free_code(required(data.code, _("a code"))),
            name=required(data.name, _("a name")),
            parent_id=await self._parent(data.parent_id),
        )
        self.repository.add(department)
        await self.repository.flush()
        await self._record(
            OperationKind.CREATED, _target(department), {"after": fields_of(department, *DEPARTMENT_FIELDS)}
        )
        return department

    async def change(self, department_id: uuid.UUID, data: DepartmentPatch) -> Department:
        """Rename and/or move; never inside itself or one of its sub-departments."""
        department = await self.find(department_id)
        before = fields_of(department, *DEPARTMENT_FIELDS)
        if isinstance(data.name, str):
            department.name = required(data.name, _("a name"))
        if isinstance(data.code, str) and data.code.strip() and data.code.strip() != department.code:
            department.code = await self._free_code(data.code.strip())
        if given(data.parent_id):
            new_parent = await self._parent(data.parent_id if isinstance(data.parent_id, uuid.UUID) else None)
            by_id = {d.id: d for d in await self.all()}
            cursor = new_parent
            while cursor is not None:
                if cursor == department.id:
                    raise Invalid(_("A department cannot be moved inside itself or one of its sub-departments."))
                cursor = by_id[cursor].parent_id
            department.parent_id = new_parent
        await self.repository.flush()
        await self._record_change(_target(department), before, fields_of(department, *DEPARTMENT_FIELDS))
        return department

    async def delete(self, department_id: uuid.UUID) -> None:
        """Delete a department that has no sub-departments and no staff."""
        department = await self.find(department_id)
        if await self.repository.has_sub_departments(department.id):
            raise Conflict(_("The department still has sub-departments. Move or delete them first."))
        staff_count = await self.repository.staff_in(department.id)
        if staff_count:
            raise Conflict(
                _("{n} staff still belong to the department. Move them to another department first.").format(
                    n=staff_count
                )
            )
        before = fields_of(department, *DEPARTMENT_FIELDS)
        await self.repository.remove(department)
        await self._record(OperationKind.DELETED, _target(department), {"before": before})

    async def merge(self, source_id: uuid.UUID, target_id: uuid.UUID) -> dict[str, int]:
        """Merge a department into another (a reorganisation): its staff, sub-departments and, through
        :func:`on_department_merge`, its contracts move to ``target``; then it is deleted. Returns the counts.
        """
        source = await self.find(source_id)
        try:
            target = await self.find(target_id)
        except NotFound:
            raise Invalid(_("Please choose the department to merge into.")) from None
        by_id = {d.id: d for d in await self.all()}
        cursor: uuid.UUID | None = target.id
        while cursor is not None:
            if cursor == source.id:
                raise Invalid(_("A department cannot be merged into itself or one of its sub-departments."))
            cursor = by_id[cursor].parent_id
        counts = {
            "staff": await self.repository.move_department_staff(source.id, target.id),
            "departments": await self.repository.move_sub_departments(source.id, target.id),
        }
        for merger in _MERGERS:
            counts[merger.__name__.strip("_")] = await merger(self.session, self.member_id, source, target)
        before = fields_of(source, *DEPARTMENT_FIELDS)
        await self.repository.remove(source)
        await self._record(
            OperationKind.DELETED, _target(source), {"before": before, "merged_into": _target(target), **counts}
        )
        return counts


DepartmentMerger = Callable[[AsyncSession, uuid.UUID, Department, Department], Awaitable[int]]
"""What another domain does when ``source`` merges into ``target`` (e.g. move its contracts); returns a count."""

_MERGERS: list[DepartmentMerger] = []


def on_department_merge(merger: DepartmentMerger) -> DepartmentMerger:
    """Register what a domain moves along when departments merge (the domain that keeps rows naming one)."""
    if merger not in _MERGERS:
        _MERGERS.append(merger)
    return merger


def _target(department: Department) -> str:
    return oplog.target("department", department.id, f"{department.code} {department.name}")
