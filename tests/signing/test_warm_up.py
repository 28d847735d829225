"""Processes do their one-time work when they start, not while the first contract waits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tenants.passwords import SecretKind
from testpki import TestPKI


def _run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _signing_env(pki: TestPKI) -> dict[str, str]:
    settings = pki.signing_settings()
    assert settings.pkcs12_path is not None
    return {
        "KYODO_SIGNING_PKCS12_PATH": str(settings.pkcs12_path),
        "KYODO_SIGNING_PKCS12_PASSPHRASE": settings.pkcs12_passphrase or "",
        "KYODO_SIGNING_TSA_URL": settings.tsa_url,
        "KYODO_SIGNING_TRUST_ROOTS": ":".join(str(p) for p in settings.trust_root_paths),
    }


def test_a_worker_process_reads_catalogs_font_and_key_at_start(pki: TestPKI) -> None:
    out = _run(
        """
        import core.fonts, core.i18n
        from signing.seal_tasks import _Pool
        assert not core.fonts._PARSED and _Pool.pool is None
        from kyodo.celery_app import _warm_up
        _warm_up()
        print(len(core.fonts._PARSED), core.i18n.translations.cache_info().currsize, _Pool.pool is not None)
        """,
        _signing_env(pki),
    )
    assert out == "1 2 True"


def test_a_worker_without_a_sealing_key_still_starts(pki: TestPKI) -> None:
    env = {**_signing_env(pki), "KYODO_SIGNING_TSA_URL": ""}
    out = _run(
        """
        from kyodo.celery_app import _warm_up
        from signing.seal_tasks import _Pool
        _warm_up()
        print(_Pool.pool is None)
        """,
        env,
    )
    assert out == "True"


def test_a_web_process_starts_the_pdf_fork_server_at_start() -> None:
    out = _run(
        """
        import multiprocessing.forkserver as fs
        from kyodo.app import _warm_up
        assert fs._forkserver._forkserver_pid is None
        _warm_up()
        print(fs._forkserver._forkserver_pid is not None)
        """,
        {},
    )
    assert out == "True"


def test_a_web_process_makes_the_dummy_hashes_before_a_sign_in_could_time_them() -> None:
    # Verifying a missing account against a dummy hash made at that moment would take
    # a hash longer than a wrong password: the first such answer would give the account away.
    out = _run(
        """
        from tenants import passwords
        assert passwords._dummy_hash.cache_info().currsize == 0, "not made at import"
        from kyodo.app import _warm_up
        _warm_up()
        print(passwords._dummy_hash.cache_info().currsize)
        """,
        {},
    )
    assert out == str(len(SecretKind))


def test_a_worker_starts_even_when_its_warm_up_fails(pki: TestPKI) -> None:
    env = {**_signing_env(pki), "KYODO_SIGNING_FONT_PATH": "/nonexistent/font.ttf"}
    out = _run(
        """
        from kyodo.celery_app import _warm_up
        from signing.seal_tasks import _Pool
        _warm_up()
        print(_Pool.pool is not None)
        """,
        env,
    )
    assert out == "True"  # the font failed; the catalogs and the key were still loaded
