"""A process's imports run without the cyclic collector, and what they made is frozen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import gc
from core.startup import startup_imports

with startup_imports():
    assert not gc.isenabled()
    import kyodo.models  # noqa: F401
assert gc.isenabled()
print(gc.get_freeze_count())
gc.disable()
with startup_imports():
    pass
print(gc.isenabled())
"""


def test_the_imports_are_frozen_and_the_collector_is_back_as_it_was() -> None:
    # In a child: freezing the test process's own heap would outlive the test.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    frozen, enabled_after = result.stdout.split()
    assert int(frozen) > 100_000, "the models' objects are in the permanent generation"
    assert enabled_after == "False", "a collector that was off stays off"


def test_the_command_starts_through_the_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kyodo", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "worker" in result.stdout


def test_the_models_load_without_the_pdf_stack() -> None:
    # What every operator command imports first; the sealer and the layout come on first use.
    probe = (
        "import sys, kyodo.models, signing\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pyhanko', 'fontTools', 'aiohttp', 'fpdf'})\n"
        "print(heavy)\n"
        "signing.Sealer\n"
        "print('pyhanko' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]
