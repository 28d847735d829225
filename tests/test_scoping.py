"""Member scoping lives in one place per domain: its repository.

Every query of a member-owned model (a table with ``member_id``, protected by
row-level security as well) is written in the domain's ``repository`` module
(or ``repositories`` package), through its scoped method; services and
controllers ask the repository. The test reads the syntax tree of every module
and fails on ``select(Model)``, ``update(Model)``, ``delete(Model)`` or
``session.get(Model, …)`` of a member-owned model anywhere else, and on a raw
switch to system access outside the kernel's :func:`core.scope.elevated`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kyodo.models  # noqa: F401 - every domain's tables
from core.db import MemberOwned

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kyodo", "consortium", "onboarding", "signing", "reporting", "tenants", "policy")
QUERY_FUNCTIONS = {"select", "update", "delete", "insert"}


def _member_owned_names() -> set[str]:
    found: set[str] = set()
    pending: list[type[object]] = [MemberOwned]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            table = getattr(sub, "__table__", None)
            if table is not None and "member_id" in table.c:
                found.add(sub.__name__)
            pending.append(sub)
    return found


MEMBER_OWNED = _member_owned_names()


def _is_repository(path: Path) -> bool:
    rel = path.relative_to(ROOT)
    return rel.name in {"repository.py"} or "repositories" in rel.parts


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT)
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = _name(node.func)
        if func == "system_access":
            found.append(f"{rel}:{node.lineno} switches to system access (use core.scope.elevated)")
        if _is_repository(path):
            continue
        targets: list[ast.expr] = []
        if func in QUERY_FUNCTIONS:
            targets = list(node.args)
        elif func == "get" and isinstance(node.func, ast.Attribute) and node.args:
            targets = [node.args[0]]
        for target in targets:
            # select(Contract) and select(Contract.id, …) both read a member-owned table.
            base = target.value if isinstance(target, ast.Attribute) else target
            name = _name(base) if isinstance(base, ast.Name | ast.Attribute) else None
            if name in MEMBER_OWNED:
                found.append(f"{rel}:{node.lineno} {func}({name}) outside the repository")
    return found


def test_the_scan_knows_the_member_owned_models() -> None:
    assert {"Contract", "Staff", "PolicyRule", "MonthlyReport"} <= MEMBER_OWNED
    assert "Member" not in MEMBER_OWNED


@pytest.mark.parametrize("package", PACKAGES)
def test_member_owned_models_are_queried_only_in_repositories(package: str) -> None:
    offences = [o for path in sorted((ROOT / package).rglob("*.py")) for o in _offences(path)]
    assert offences == [], "\n".join(offences)


SQL_CALLS = {"select", "update", "delete", "insert", "text"}
SESSION_METHODS = {"execute", "scalar", "scalars", "get", "commit", "rollback", "flush"}


def _is_controller(path: Path) -> bool:
    rel = path.relative_to(ROOT)
    return (
        "controllers" in rel.stem or rel.stem == "api" or any("controllers" in part for part in rel.parts[:-1])
    ) and rel.parts[0] != "kyodo"


def _controller_sql(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT)
    # @delete("/…") and friends are Litestar's route decorators, not SQL.
    decorators = {
        id(d) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for d in n.decorator_list
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in decorators:
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in SQL_CALLS:
            found.append(f"{rel}:{node.lineno} {func.id}()")
        elif isinstance(func, ast.Attribute) and func.attr in SESSION_METHODS:
            owner = func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if "session" in name:
                found.append(f"{rel}:{node.lineno} {name}.{func.attr}()")
    return found


def test_controllers_hold_no_sql_and_no_commit() -> None:
    controllers = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py")) if _is_controller(p)]
    assert len(controllers) >= 10, controllers
    offences = [o for path in controllers for o in _controller_sql(path)]
    assert offences == [], "\n".join(offences)
