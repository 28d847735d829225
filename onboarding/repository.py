"""Every query of a member-owned row in onboarding.

:class:`OnboardingRepository` holds onboarding's own member-owned tables (trial
runs, usage events, staff imports) and the generic statements over every
member-owned table that promotion to live (test data) and a leaving member's
export and deletion need. :class:`StaffDirectoryRepository` reads and writes the
member administration's rows (departments, titles, roles, staff and their grants)
that a bulk staff import checks and changes.

Both are built for one member (``member_id``) and filter every statement to it
through :meth:`~core.repository.MemberScopedRepository.scoped`; row-level
security enforces the same boundary. Made with ``member_id=None`` inside
:func:`core.scope.elevated`, :class:`OnboardingRepository` answers across
members: the secretariat's trial-run figures and a task finding its import.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Delete, Select, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from core.db import MemberOwned, append_only_tables, complete_metadata
from core.repository import MemberScopedRepository
from core.scope import member_owned_tables
from onboarding.models import Environment, StaffImport, TrialRun, UsageEvent, UsageKind
from policy.models import MemberRole, PolicyRule
from tenants.models import ContractTitle, Department, Staff, TitleGrant

__all__ = ["OnboardingRepository", "StaffDirectoryRepository", "member_tables_in_fk_order"]


def member_tables_in_fk_order() -> list[str]:
    """Every member-owned table, parents before children."""
    owned = set(member_owned_tables(complete_metadata()))
    return [t.name for t in complete_metadata().sorted_tables if t.name in owned]


class _OneMember(MemberScopedRepository):
    def _member(self) -> uuid.UUID:
        if self.member_id is None:
            raise ValueError("this statement is for one member's rows: build the repository with its member_id")
        return self.member_id

    def _delete(self, model: type[MemberOwned]) -> Delete:
        """``delete(model)`` limited to this repository's member."""
        return delete(model).where(model.member_id == self._member())

    async def _count(self, statement: Select[Any]) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


class OnboardingRepository(_OneMember):
    """A member's trial runs, usage events and staff imports; its rows in every member-owned table."""

    # ----------------------------------------------------------------- staff imports

    async def staff_import(self, job_id: uuid.UUID) -> StaffImport | None:
        """The import ``job_id`` if it is the member's (any member's when made with ``member_id=None``)."""
        return await self.get(StaffImport, job_id)

    async def recent_staff_imports(self, limit: int = 20) -> Sequence[StaffImport]:
        """The member's latest imports, newest first."""
        return await self.all(self.scoped(StaffImport).order_by(StaffImport.created_at.desc()).limit(limit))

    # ----------------------------------------------------------------- trial runs

    async def add_trial_run(self, contract_id: uuid.UUID) -> bool:
        """Count ``contract_id`` as a trial run; False when it had been counted before."""
        counted = self.scoped(TrialRun).where(TrialRun.contract_id == contract_id)
        if await self._count(counted):
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(TrialRun(member_id=self._member(), contract_id=contract_id))
        except IntegrityError:
            return False
        return True

    async def trial_run_count(self) -> int:
        """The member's trial runs since it last went live."""
        self._member()
        return await self._count(self.scoped(TrialRun))

    async def trial_run_counts(self, member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Member id → trial runs, for several members (``member_id=None``, inside elevated())."""
        statement = (
            self.scoped(TrialRun)
            .where(TrialRun.member_id.in_(member_ids))
            .with_only_columns(TrialRun.member_id, func.count())
            .group_by(TrialRun.member_id)
        )
        rows = (await self.session.execute(statement)).tuples().all()
        return {member_id: int(n) for member_id, n in rows}

    async def delete_trial_runs(self) -> int:
        """Reset the member's trial-run counter; returns the rows deleted."""
        result = await self.session.execute(self._delete(TrialRun))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- usage

    async def record_usage(
        self, kind: UsageKind, subject_id: uuid.UUID, *, occurred_at: dt.datetime, environment: Environment
    ) -> None:
        """One usage event of the member per subject and kind (reporting it again changes nothing)."""
        await self.session.execute(
            insert(UsageEvent)
            .values(
                member_id=self._member(),
                kind=kind,
                subject_id=subject_id,
                occurred_at=occurred_at,
                environment=environment,
            )
            .on_conflict_do_nothing(index_elements=["member_id", "kind", "subject_id"])
        )

    async def live_conclusion_times(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """When the member's live contracts were concluded in ``[start, end)``, in order."""
        self._member()
        statement = (
            self.scoped(UsageEvent)
            .where(
                UsageEvent.kind == UsageKind.CONTRACT_CONCLUDED,
                UsageEvent.environment == Environment.LIVE,
                UsageEvent.occurred_at >= start,
                UsageEvent.occurred_at < end,
            )
            .with_only_columns(UsageEvent.occurred_at)
            .order_by(UsageEvent.occurred_at, UsageEvent.id)
        )
        return list((await self.session.scalars(statement)).all())

    # ----------------------------------------------------------------- every member-owned table

    async def count_test_data(self, tables: Iterable[str]) -> dict[str, int]:
        """How many ``environment = 'test'`` rows of the member each of ``tables`` holds (what a promotion deletes)."""
        member_id = self._member()
        counted: dict[str, int] = {}
        for name in sorted(set(tables)):
            result = await self.session.execute(
                text(f"SELECT count(*) FROM \"{name}\" WHERE member_id = :m AND environment = 'test'"),  # noqa: S608 - names from metadata
                {"m": member_id},
            )
            counted[name] = int(result.scalar_one())
        return counted

    async def delete_test_data(self, tables: Iterable[str]) -> dict[str, int]:
        """Delete the member's ``environment = 'test'`` rows of ``tables`` (children first); table → rows."""
        member_id = self._member()
        wanted = set(tables)
        cleared: dict[str, int] = {}
        for name in reversed([t.name for t in complete_metadata().sorted_tables if t.name in wanted]):
            result = await self.session.execute(
                text(f"DELETE FROM \"{name}\" WHERE member_id = :m AND environment = 'test'"),  # noqa: S608 - names from metadata
                {"m": member_id},
            )
            cleared[name] = int(result.rowcount)  # type: ignore[attr-defined]
        return cleared

    async def export_rows(self, name: str, columns: Sequence[str]) -> Sequence[Any]:
        """The member's rows of table ``name`` (``columns`` only), in primary-key order."""
        table = complete_metadata().tables[name]
        order = ", ".join(f'"{c}"' for c in table.primary_key.columns.keys())  # noqa: SIM118 - a ColumnCollection
        listed = ", ".join(f'"{c}"' for c in columns)
        result = await self.session.execute(
            text(f'SELECT {listed} FROM "{name}" WHERE member_id = :m ORDER BY {order}'),  # noqa: S608 - names from metadata
            {"m": self._member()},
        )
        return result.all()

    async def delete_everything(self) -> dict[str, int]:
        """Delete the member's rows from every member-owned table; table → rows deleted.

        Append-only tables (audit trails, issued reports) go through the database
        function ``kyodo_purge_leaving_member``, which deletes for a leaving member only.
        """
        member_id = self._member()
        owned = member_tables_in_fk_order()
        append_only = set(append_only_tables(complete_metadata()))
        counts: dict[str, int] = {}
        # Rows that point at rows of the same table (a department inside another)
        # are cut loose first, so children-first order is enough for the rest.
        for name in owned:
            table = complete_metadata().tables[name]
            for fk in table.foreign_keys:
                if fk.column.table is table and fk.parent.nullable:
                    await self.session.execute(
                        text(f'UPDATE "{name}" SET "{fk.parent.name}" = NULL WHERE member_id = :m'),  # noqa: S608
                        {"m": member_id},
                    )
        for name in reversed(owned):
            if name in append_only:
                purged = await self.session.scalar(
                    text("SELECT kyodo_purge_leaving_member(:m, :t)"), {"m": member_id, "t": name}
                )
                counts[name] = int(purged or 0)
                continue
            result = await self.session.execute(
                text(f'DELETE FROM "{name}" WHERE member_id = :m'),  # noqa: S608 - names from metadata
                {"m": member_id},
            )
            counts[name] = int(result.rowcount)  # type: ignore[attr-defined]
        return counts


class StaffDirectoryRepository(_OneMember):
    """The member's departments, titles, roles, staff and grants, as a bulk import reads and writes them."""

    async def departments(self) -> Sequence[Department]:
        """Every department of the member."""
        return await self.all(self.scoped(Department))

    async def active_titles(self) -> Sequence[ContractTitle]:
        """The member's contract titles in use."""
        return await self.all(self.scoped(ContractTitle).where(ContractTitle.active.is_(True)))

    async def custom_roles(self) -> Sequence[MemberRole]:
        """The member's own roles."""
        return await self.all(self.scoped(MemberRole))

    async def role_permissions(self) -> list[tuple[str, str, str]]:
        """``(role, object, action)`` of every permission rule of the member's own roles."""
        statement = (
            self.scoped(PolicyRule)
            .where(PolicyRule.ptype == "p")
            .with_only_columns(PolicyRule.v0, PolicyRule.v2, PolicyRule.v3)
        )
        return [(str(r), str(o), str(a)) for r, o, a in (await self.session.execute(statement)).tuples()]

    async def staff(self) -> Sequence[Staff]:
        """Every account of the member."""
        return await self.all(self.scoped(Staff))

    async def staff_roles(self) -> dict[str, set[str]]:
        """Subject (``staff:<id>``) → the roles assigned to it."""
        statement = (
            self.scoped(PolicyRule)
            .where(PolicyRule.ptype == "g", PolicyRule.v0.like("staff:%"))
            .with_only_columns(PolicyRule.v0, PolicyRule.v1)
        )
        result: dict[str, set[str]] = {}
        for subject, role in (await self.session.execute(statement)).tuples():
            result.setdefault(subject, set()).add(role)
        return result

    async def title_grants(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(staff id, title id)`` of every title grant of the member."""
        statement = self.scoped(TitleGrant).with_only_columns(TitleGrant.staff_id, TitleGrant.title_id)
        return list((await self.session.execute(statement)).tuples().all())

    def assign_roles(self, subject: str, roles: Iterable[str]) -> None:
        """Give ``subject`` each of ``roles`` (written at the next flush)."""
        self.session.add_all(PolicyRule(member_id=self._member(), ptype="g", v0=subject, v1=r) for r in sorted(roles))

    async def unassign_roles(self, subject: str, roles: Iterable[str]) -> None:
        """Take each of ``roles`` away from ``subject``."""
        await self.session.execute(
            self._delete(PolicyRule).where(
                PolicyRule.ptype == "g", PolicyRule.v0 == subject, PolicyRule.v1.in_(sorted(roles))
            )
        )

    def grant_titles(self, staff_id: uuid.UUID, title_ids: Iterable[uuid.UUID]) -> None:
        """Let ``staff_id`` sign under each of ``title_ids`` (written at the next flush)."""
        member_id = self._member()
        self.session.add_all(TitleGrant(member_id=member_id, staff_id=staff_id, title_id=t) for t in title_ids)

    async def revoke_titles(self, staff_id: uuid.UUID, title_ids: Iterable[uuid.UUID]) -> None:
        """Take the grants of ``title_ids`` away from ``staff_id``."""
        await self.session.execute(
            self._delete(TitleGrant).where(TitleGrant.staff_id == staff_id, TitleGrant.title_id.in_(list(title_ids)))
        )

    async def flush(self) -> None:
        """Write pending changes now (constraints are checked here, not at commit)."""
        await self.session.flush()
