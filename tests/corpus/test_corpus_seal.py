"""Every file of the producer corpus is sealed with a text box on every page (SIG-1, WF-11).

Boxes are placed in the page as displayed (see :class:`signing.TextBoxFill`): user-space
units from the lower-left corner of the visible area (CropBox clipped to the MediaBox)
after /Rotate, y upwards; the displayed size is what pypdfium2 reports. Each sealed
file must then validate offline at PAdES B-LTA, satisfy poppler's ``pdfsig``, show the
typed text upright inside its box on its own page, and keep the producer's pages
(count, displayed size, rotation, unit, text and its position) as they were.

Where the text is read back (``pdftotext -cropbox -bbox``, origin top-left of the
displayed page) is explained in :mod:`tests.corpus.checks`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import pytest

from core.settings import SigningSettings
from signing import Sealer, SealingInputError, verify_async
from signing.pdfcheck import PdfRejectedError, check_pdf
from testpki import TestPKI
from tests.corpus.checks import BOTTOM, HEIGHT, LEFT, SEALABLE, WIDTH, box_text, boxes_for, find_value, shapes, words
from tests.corpus.producers import CATALOGUE, SIGNED, Corpus
from tests.signing.conftest import pdfsig, pdftotext

REASON = "盛岡市 / 庁舎清掃業務委託契約 / 契約番号 R7-0123 の締結"
LOCATION = "盛岡市（岩手県）"
TOLERANCE = 3.0
MAX_BYTES = 20 * 1024 * 1024


async def sealed_file(corpus: Corpus, settings: SigningSettings, name: str) -> bytes:
    """The entry sealed with a box on every page, once per test PKI (each xdist worker has its own).

    Kept beside the corpus, under the fingerprint of the PKI's root, so that a worker
    never validates a file sealed by another worker's provider certificate.
    """
    pki_tag = hashlib.sha256(settings.trust_root_paths[0].read_bytes()).hexdigest()[:12]
    directory = corpus.directory / "sealed" / pki_tag
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pdf"
    if not path.is_file():
        pdf = corpus.data(corpus.entry(name))
        async with Sealer(settings) as sealer:
            sealed = await sealer.seal(pdf, boxes_for(pdf), reason=REASON, location=LOCATION)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(sealed)
        tmp.replace(path)
    return path.read_bytes()


def test_the_corpus_has_every_entry_with_pages_to_seal(corpus: Corpus) -> None:
    assert [e.name for e in corpus.entries] == [name for name, *_ in CATALOGUE]
    for entry in corpus.entries:
        data = corpus.data(entry)
        assert data.startswith(b"%PDF-"), entry.name
        assert len(shapes(data)) >= 2, entry.name


@pytest.mark.parametrize("name", SEALABLE)
def test_upload_accepts_the_file_and_records_its_displayed_page_sizes(corpus: Corpus, name: str) -> None:
    data = corpus.data(corpus.entry(name))
    checked = check_pdf(data, f"{name}.pdf", max_bytes=MAX_BYTES)
    assert [[round(w, 2), round(h, 2)] for w, h in checked.page_sizes] == [[w, h] for w, h, *_ in shapes(data)]


@pytest.mark.parametrize("name", SEALABLE)
async def test_sealed_file_validates_at_pades_lta_and_for_poppler(
    corpus: Corpus, signing_settings: SigningSettings, pki: TestPKI, name: str, tmp_path: Path
) -> None:
    sealed = await sealed_file(corpus, signing_settings, name)
    report = await verify_async(sealed, trust_roots=[pki.root_cert])
    assert report.ok, report.problems
    assert report.certified
    assert report.archive_timestamped
    first = pdfsig(sealed, tmp_path).split("Signature #2")[0]
    assert "Signature is Valid" in first, first
    assert "ETSI.CAdES.detached" in first, first


@pytest.mark.parametrize("name", SEALABLE)
async def test_typed_text_is_upright_in_its_box_on_its_own_page(
    corpus: Corpus, signing_settings: SigningSettings, name: str, tmp_path: Path
) -> None:
    original = corpus.data(corpus.entry(name))
    sealed = await sealed_file(corpus, signing_settings, name)
    pages = words(sealed, tmp_path)
    for index, (_width, height, _rotate, _unit) in enumerate(shapes(original)):
        value = box_text(index)
        run = find_value(pages[index], value)
        assert run is not None, (index, value, [w.text for w in pages[index]])
        where = [(round(w.x0, 1), round(w.y0, 1), round(w.x1, 1), round(w.y1, 1)) for w in run]
        # pdftotext measures y from the top of the displayed page.
        top, bottom = height - BOTTOM - HEIGHT, height - BOTTOM
        for word in run:
            assert word.x0 >= LEFT - TOLERANCE, (index, where)
            assert word.x1 <= LEFT + WIDTH + TOLERANCE, (index, where)
            assert top - TOLERANCE <= word.y0, (index, where, (top, bottom))
            assert word.y1 <= bottom + TOLERANCE, (index, where, (top, bottom))
        # Upright as displayed: one horizontal line, read left to right.
        assert all(a.x1 <= b.x0 + 0.5 for a, b in itertools.pairwise(run)), (index, where)
        assert max(w.y1 for w in run) - min(w.y1 for w in run) < 1.0, (index, where)
        assert all(w.x1 - w.x0 > w.y1 - w.y0 for w in run if len(w.text) > 2), (index, where)
        others = [i for i, page in enumerate(pages) if i != index and find_value(page, value)]
        assert not others, (value, others)


@pytest.mark.parametrize("name", SEALABLE)
async def test_pages_keep_their_shape_and_the_producers_text(
    corpus: Corpus, signing_settings: SigningSettings, name: str, tmp_path: Path
) -> None:
    entry = corpus.entry(name)
    original = corpus.data(entry)
    sealed = await sealed_file(corpus, signing_settings, name)
    assert shapes(sealed) == shapes(original)
    before, after = words(original, tmp_path), words(sealed, tmp_path)
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        moved = [
            w.text
            for w in old
            if not any(
                n.text == w.text and abs(n.x0 - w.x0) < 0.1 and abs(n.y0 - w.y0) < 0.1 and abs(n.x1 - w.x1) < 0.1
                for n in new
            )
        ]
        assert not moved, (index, moved[:10])
    if entry.text is not None:
        assert entry.text in re.sub(r"\s+", "", pdftotext(sealed, tmp_path))


async def test_a_file_signed_by_someone_else_is_refused(
    corpus: Corpus, signing_settings: SigningSettings, pki: TestPKI
) -> None:
    data = corpus.data(corpus.entry(SIGNED))
    theirs = await verify_async(data, trust_roots=[pki.root_cert])
    assert len(theirs.signatures) == 1
    assert theirs.signatures[0].intact  # really signed, by a key we do not trust
    assert not theirs.ok
    with pytest.raises(SealingInputError, match="already signed"):
        async with Sealer(signing_settings) as sealer:
            await sealer.seal(data, boxes_for(data), reason=REASON, location=LOCATION)
    with pytest.raises(PdfRejectedError):
        check_pdf(data, "signed.pdf", max_bytes=MAX_BYTES)
