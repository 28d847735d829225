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


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path: Path) -> None:
    # Container secrets are files (/run/secrets/...): NAME_FILE names one, NAME itself still wins.
    key = tmp_path / "master_key"
    key.write_text("c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE=\n")
    monkeypatch.delenv("KYODO_MASTER_KEY", raising=False)
    monkeypatch.setenv("KYODO_MASTER_KEY_FILE", str(key))
    monkeypatch.setenv("KYODO_SIGNING_PKCS12_PASSPHRASE_FILE", str(key))
    settings = Settings()
    assert settings.contracts.master_key == "c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
    assert settings.seal_key.pkcs12_passphrase == settings.contracts.master_key
    monkeypatch.setenv("KYODO_MASTER_KEY", "direct")
    assert Settings().contracts.master_key == "direct"
