"""The layers point one way: ``kyodo`` → domains → ``tenants``/``policy`` → ``core``.

The test reads every module's imports from its syntax tree (function-local and
``TYPE_CHECKING`` imports included: a cycle hidden in a function is still a
cycle) and fails on an import that points up a layer, and on a cycle between
packages of the same layer. The README's Architecture section draws the same
picture; change both together.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS: dict[str, int] = {
    "core": 0,
    "policy": 1,
    "tenants": 1,
    "testpki": 1,
    "consortium": 2,
    "onboarding": 2,
    "signing": 2,
    "reporting": 2,
    "kyodo": 3,
}
"""Package → layer; a package may import its own layer and the layers below."""


def imports_of(package: str) -> dict[str, set[tuple[str, str]]]:
    """Imported top-level project package → {(file, module)} for every module of ``package``."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in LAYERS and top != package:
                    found[top].add((str(path.relative_to(ROOT)), module))
    return found


GRAPH = {package: imports_of(package) for package in LAYERS}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_package_imports_a_higher_layer(package: str) -> None:
    upward = sorted(
        f"{file} imports {module}"
        for target, uses in GRAPH[package].items()
        if LAYERS[target] > LAYERS[package]
        for file, module in uses
    )
    assert not upward, f"{package} (layer {LAYERS[package]}) imports upward:\n" + "\n".join(upward)


def test_the_kernel_imports_nothing_of_the_project() -> None:
    assert not GRAPH["core"], GRAPH["core"]


def _cycle() -> list[str] | None:
    edges = {package: set(GRAPH[package]) for package in LAYERS}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for package in sorted(LAYERS):
        if package not in state and (found := visit(package)):
            return found
    return None


def test_no_cycle_between_packages() -> None:
    cycle = _cycle()
    assert cycle is None, " → ".join(cycle or [])


def test_every_project_package_has_a_layer() -> None:
    packages = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in {"tests", "alembic", "deploy"}
    }
    assert packages == set(LAYERS), packages ^ set(LAYERS)
