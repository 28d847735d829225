"""What a process loads when it starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_command_lists_its_commands() -> None:
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
