"""Fixtures of the corpus tests: the corpus, built once per run, and the signing test PKI.

Under pytest-xdist every worker asks for the same directory in the run's shared
temporary folder; the first one builds the corpus under a file lock and the others
wait for it and read its manifest.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.corpus.producers import Corpus, ensure_corpus
from tests.signing.conftest import pki, pki_server, signing_settings

__all__ = ["corpus", "pki", "pki_server", "signing_settings"]

PROGRAMS = ("soffice", "ps2pdf", "qpdf", "pdftotext", "pdfsig")


def corpus_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole run, shared by its xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/, whose popen-gwN/ are the workers' own
    return Path(base) / "pdf-corpus"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `bash deploy/install-system-deps.sh` (make setup)")
    return ensure_corpus(corpus_directory(tmp_path_factory))
