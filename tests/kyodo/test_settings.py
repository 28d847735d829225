"""Every KYODO_* variable the code reads is documented in the README, and vice versa."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings, to_psycopg_url

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "kyodo", "consortium", "tenants", "policy", "signing", "reporting", "onboarding", "tests")
SOURCES = [p for d in PACKAGES for p in (ROOT / d).rglob("*.py")]


def test_readme_documents_every_variable() -> None:
    used = {m for p in SOURCES for m in re.findall(r"\"(KYODO_[A-Z0-9_]*[A-Z0-9])\"", p.read_text())}
    used = {v for v in used if not v.startswith("KYODO_TEST__")}  # internal to the test harness
    documented = set(re.findall(r"`(KYODO_[A-Z0-9_]+)`", (ROOT / "README.md").read_text()))
    assert used - documented == set(), "variables missing from the README"
    assert documented - used == set(), "README documents variables the code does not read"


def test_defaults_need_no_configuration(monkeypatch) -> None:
    for name in ("KYODO_DATABASE_URL", "KYODO_REDIS_URL", "KYODO_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database.is_embedded
    assert settings.redis.is_embedded
    assert settings.server.port == 8000
    assert settings.server.base_url() == "http://127.0.0.1:8000"


def test_database_urls_use_psycopg3() -> None:
    assert to_psycopg_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert to_psycopg_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_only_the_settings_module_reads_the_environment() -> None:
    # Children's environments may be built from os.environ (dict(os.environ, ...)); reading a setting is settings' job.
    reads = re.compile(r"(os\.environ\.get\(|os\.getenv\(|os\.environ\[)\s*[\"']KYODO_(?![^\n]*\]\s*=[^=])")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for d in PACKAGES
        if d != "tests"
        for p in (ROOT / d).rglob("*.py")
        if p != ROOT / "core" / "settings.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if reads.search(line)
    ]
    assert offenders == [], offenders
