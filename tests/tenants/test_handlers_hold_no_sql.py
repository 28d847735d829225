"""The administration handlers (screens and JSON API) hold no query and no commit: services do the work.

The request commits after a successful answer, so that after-commit work (the
announcement of a role change) runs only for work that was kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLER_MODULES = (
    "tenants/controllers.py",
    "tenants/api.py",
    "policy/controllers.py",
    "tenants/invitation_controllers.py",
    "tenants/notification_controllers.py",
    "signing/webhook_controllers.py",
    "signing/controllers/_api.py",
    "signing/controllers/_bulk.py",
    "signing/controllers/_bulk_api.py",
)
SESSION_CALLS = {"execute", "scalar", "scalars", "get", "add", "delete", "commit", "rollback", "flush"}


def _offences(source: str, module: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        # Only the session's type may come from SQLAlchemy: no select(), update(), text() ...
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = [a.name for a in node.names]
            if names != ["AsyncSession"]:
                found.append(f"{module}:{node.lineno} imports {', '.join(names)} from {node.module}")
        # … and the session is only handed on, never used: db_session.execute(), .get(), .commit() ...
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and "session" in node.func.value.id
            and node.func.attr in SESSION_CALLS
        ):
            found.append(f"{module}:{node.lineno} {ast.unparse(node.func)}(…)")
    return found


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_handlers_call_services_only(module: str) -> None:
    assert _offences((ROOT / module).read_text(encoding="utf-8"), module) == []


def test_the_scan_finds_a_query_and_a_commit() -> None:
    sample = (
        "from sqlalchemy import select\n"
        "async def h(db_session):\n"
        "    await db_session.execute(select(X))\n"
        "    await db_session.get(X, 1)\n"
        "    await db_session.commit()\n"
    )
    assert len(_offences(sample, "sample")) == 4


READS = {"all", "tree", "staff_counts", "listing", "entry", "titles_of", "roles", "checked"}


def _service_calls(source: str, controller: str | None = None) -> set[tuple[str, str]]:
    """(service, method) of every call like ``member_services(…).staff.create(…)`` or ``RoleService(…).delete(…)``."""
    tree = ast.parse(source)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and (controller is None or n.name == controller)]
    found: set[tuple[str, str]] = set()
    for cls in classes:
        for handler in [n for n in cls.body if isinstance(n, ast.AsyncFunctionDef)]:
            # A service handed in as a dependency: ``bulk: NamedDependency[svc.BulkSending]``.
            aliases: dict[str, str] = {
                arg.arg: ast.unparse(arg.annotation.slice).rsplit(".", 1)[-1]
                for arg in handler.args.kwonlyargs + handler.args.args
                if isinstance(arg.annotation, ast.Subscript) and ast.unparse(arg.annotation.value) == "NamedDependency"
                if ast.unparse(arg.annotation.slice).startswith("svc.")
            }

            def service_of(node: ast.expr, aliases: dict[str, str] = aliases) -> str | None:
                if isinstance(node, ast.Name):
                    return aliases.get(node.id)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
                    return node.attr if ast.unparse(node.value.func) == "member_services" else None
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "RoleService":
                    return "roles"
                return None

            for node in ast.walk(handler):
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    service = service_of(node.value)
                    if service:
                        aliases[node.targets[0].id] = service
            for node in ast.walk(handler):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    service = service_of(node.func.value)
                    if service and node.func.attr not in READS:
                        found.add((service, node.func.attr))
    return found


@pytest.mark.parametrize(
    ("screens", "api"),
    [
        (("tenants/controllers.py", "AdminController"), ("tenants/api.py", "AdminApiController")),
        (("policy/controllers.py", "RoleController"), ("policy/controllers.py", "RoleApiController")),
        (
            ("signing/controllers/_bulk.py", "BulkSendingController"),
            ("signing/controllers/_bulk_api.py", "BulkSendingApiController"),
        ),
    ],
)
def test_screens_and_api_change_data_through_the_same_service_methods(
    screens: tuple[str, str], api: tuple[str, str]
) -> None:
    on_screens = _service_calls((ROOT / screens[0]).read_text(encoding="utf-8"), screens[1])
    on_api = _service_calls((ROOT / api[0]).read_text(encoding="utf-8"), api[1])
    assert on_screens, "the scan found the screens' service calls"
    assert on_screens == on_api
