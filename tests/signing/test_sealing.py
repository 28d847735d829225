"""Sealing against the real loopback TSA/OCSP/CRL, verified offline and by poppler."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from core.settings import SigningSettings
from signing import (
    Sealer,
    SealingInputError,
    SealingUnavailable,
    SigningConfigurationError,
    TextBoxFill,
    TextOverflowError,
    UnsupportedCharactersError,
    verify_async,
)
from testpki import PKIServer, TestPKI

from .conftest import HAVE_POPPLER, free_port, needs_poppler, pdfsig, pdftotext
from .pdfgen import make_pdf

REASON = "札幌市 / 庁舎清掃業務委託契約 / 契約番号 R7-0123 の締結"
LOCATION = "札幌市（北海道）"
PARTY = "株式会社テスト商事　代表取締役　髙橋一郎"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _page_text(pdf: bytes, page: int) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        text: str = doc[page].get_textpage().get_text_range()
        return _squash(text)
    finally:
        doc.close()


async def _seal(signing_settings: SigningSettings, pdf: bytes, fields: list[TextBoxFill]) -> bytes:
    async with Sealer(signing_settings) as sealer:
        return await sealer.seal(pdf, fields, reason=REASON, location=LOCATION)


@pytest.fixture
async def sealed_one_page(signing_settings: SigningSettings) -> bytes:
    fields = [
        TextBoxFill(page=0, x=72, y=600, width=320, height=22, text=PARTY),
        TextBoxFill(page=0, x=72, y=520, width=140, height=60, text="契約金額：金１，２３４，５６７円（税込）とする。"),
    ]
    return await _seal(signing_settings, make_pdf(1), fields)


async def test_one_page_seal_is_pades_lta_valid_offline(sealed_one_page: bytes, pki: TestPKI) -> None:
    report = await verify_async(sealed_one_page, trust_roots=[pki.root_cert])
    assert report.ok, report.problems
    assert report.certified
    assert report.archive_timestamped
    sig, doc_ts = report.signatures
    assert sig.kind == "signature"
    assert doc_ts.kind == "document_timestamp"
    assert "Kyodo Test Provider Seal" in sig.signer_subject
    assert sig.certification == "NO_CHANGES"
    assert sig.intact
    assert sig.valid
    assert sig.trusted
    assert sig.docmdp_ok
    assert sig.ltv == "OK"
    assert sig.coverage == "entire_revision"
    assert sig.modification_level == "LTA_UPDATES"
    assert sig.timestamp_time is not None
    assert sig.signing_time is not None
    assert doc_ts.trusted
    assert "Kyodo Test TSA 1" in doc_ts.signer_subject
    # JSON-serialisable, Japanese preserved
    assert json.loads(report.to_json())["sha256"] == report.sha256
    r = PdfFileReader(io.BytesIO(sealed_one_page))
    seal = r.embedded_signatures[0]
    assert seal.sig_object["/Reason"] == REASON
    assert seal.sig_object["/Location"] == LOCATION
    assert "/DSS" in r.root  # validation data embedded
    assert all(float(v) == 0 for v in seal.sig_field["/Rect"])  # the seal is invisible


async def test_filled_text_is_on_the_page(sealed_one_page: bytes, tmp_path: Path) -> None:
    text = _page_text(sealed_one_page, 0)
    assert _squash(PARTY) in text
    assert "契約金額：金１，２３４，５６７円（税込）とする。" in text
    # flattened: no widget/form field carries the values
    reader = PdfFileReader(io.BytesIO(sealed_one_page))
    fields = reader.root["/AcroForm"]["/Fields"]
    assert all(f.get_object().get("/FT") == "/Sig" for f in fields)


@needs_poppler
async def test_poppler_sees_a_valid_signature(sealed_one_page: bytes, tmp_path: Path) -> None:
    assert _squash(PARTY) in _squash(pdftotext(sealed_one_page, tmp_path))
    out = pdfsig(sealed_one_page, tmp_path)
    first = out.split("Signature #2")[0]
    assert "Signature is Valid" in first
    assert "ETSI.CAdES.detached" in first


async def test_changed_byte_is_detected(sealed_one_page: bytes, pki: TestPKI, tmp_path: Path) -> None:
    tampered = bytearray(sealed_one_page)
    at = tampered.index(b"Contract page 1")
    tampered[at] = ord("X")
    report = await verify_async(bytes(tampered), trust_roots=[pki.root_cert])
    assert not report.ok
    assert not report.signatures[0].intact
    assert any("signed bytes were changed" in p for p in report.problems)
    if HAVE_POPPLER:
        out = pdfsig(bytes(tampered), tmp_path).split("Signature #2")[0]
        assert "Signature is Valid" not in out


def _add_annotation(pdf: bytes) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = w.find_page_for_modification(0)
    page = page_ref.get_object()
    annot = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/FreeText"),
            pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (300, 700, 500, 730)]),
            pdf_name("/Contents"): generic.TextStringObject("支払済み"),
            pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
        }
    )
    page[pdf_name("/Annots")] = generic.ArrayObject([w.add_object(annot)])
    w.mark_update(page_ref)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _replace_page_content(pdf: bytes) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = w.find_page_for_modification(0)
    page = page_ref.get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 770 Td (Amount: 1 yen) Tj ET")
    page[pdf_name("/Contents")] = w.add_object(forged)
    w.mark_update(page_ref)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("tamper", [_add_annotation, _replace_page_content], ids=["annotation", "content"])
async def test_incremental_update_after_sealing_is_detected(
    sealed_one_page: bytes, pki: TestPKI, tmp_path: Path, tamper: object
) -> None:
    assert callable(tamper)
    changed = tamper(sealed_one_page)
    assert changed.startswith(sealed_one_page)  # the signed bytes are untouched
    report = await verify_async(changed, trust_roots=[pki.root_cert])
    assert not report.ok
    seal = report.signatures[0]
    assert seal.intact
    assert seal.valid
    assert seal.docmdp_ok is False  # ...but the certification level forbids the change
    assert any("modified after sealing" in p for p in report.problems)
    if HAVE_POPPLER:
        # pdfsig only checks the signed bytes and so misses this (pitfall 7).
        assert "Signature is Valid" in pdfsig(changed, tmp_path).split("Signature #2")[0]


async def test_several_files_and_pages_with_one_sealer(signing_settings: SigningSettings, pki: TestPKI) -> None:
    docs = {
        "one": (make_pdf(1, title="A"), [TextBoxFill(0, 72, 700, 250, 20, "甲：札幌市")]),
        "five": (
            make_pdf(5, title="B"),
            [TextBoxFill(p, 72, 100, 300, 20, f"第{p + 1}頁　乙：株式会社テスト") for p in (0, 2, 4)],
        ),
        "twelve": (
            make_pdf(12, title="C"),
            [
                TextBoxFill(11, 300, 80, 200, 40, "令和7年4月1日\n札幌市長", align="right"),
                TextBoxFill(0, 50, 50, 500, 30, "Kyodo contract no. R7-0456 — 契約書", align="center"),
            ],
        ),
    }
    async with Sealer(signing_settings) as sealer:
        sealed = await asyncio.gather(
            *(sealer.seal(pdf, boxes, reason=REASON, location=LOCATION) for pdf, boxes in docs.values())
        )
    for (name, (_, boxes)), out in zip(docs.items(), sealed, strict=True):
        report = await verify_async(out, trust_roots=[pki.root_cert])
        assert report.ok, (name, report.problems)
        for box in boxes:
            assert _squash(box.text) in _page_text(out, box.page), (name, box.page)
    assert "第2頁" not in _page_text(sealed[1], 1)  # nothing leaked onto other pages


def _signature_room(pdf: bytes) -> int:
    _zero, start, end, _rest = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].byte_range
    return int(end) - int(start) - 2


async def test_later_seals_reuse_the_room_the_first_needed_and_recover_when_it_is_too_small(
    signing_settings: SigningSettings, pki: TestPKI
) -> None:
    """pyHanko sizes the signature container once per sealer; a container that outgrows it is sealed again."""
    boxes = [TextBoxFill(0, 72, 700, 250, 20, "甲：札幌市")]
    async with Sealer(signing_settings) as sealer:
        first = await sealer.seal(make_pdf(1, title="A"), boxes, reason=REASON, location=LOCATION)
        room = _signature_room(first)
        sealer._reserved = room + 1000  # as if the first seal had needed more: the next one is given that much
        second = await sealer.seal(make_pdf(1, title="B"), boxes, reason=REASON, location=LOCATION)
        assert _signature_room(second) == room + 1000
        sealer._reserved = 1000  # far too small for the chain and the TSA's token
        third = await sealer.seal(make_pdf(1, title="C"), boxes, reason=REASON, location=LOCATION)
        assert _signature_room(third) == room  # sized by pyHanko again, and learned again
        assert sealer._reserved == room
    for out in (first, second, third):
        report = await verify_async(out, trust_roots=[pki.root_cert])
        assert report.ok, report.problems
        assert report.archive_timestamped


def _count_requests(services: PKIServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"tsa": 0, "ocsp": 0, "crl": 0}
    for kind in counts:
        answer = getattr(services, f"answer_{kind}")

        def counted(*args: object, _answer: Any = answer, _kind: str = kind) -> bytes:
            counts[_kind] += 1
            result: bytes = _answer(*args)
            return result

        monkeypatch.setattr(services, f"answer_{kind}", counted)
    return counts


def _revocation_data(pdf: bytes) -> tuple[int, int]:
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf)))
    return len(dss.ocsps), len(dss.crls)


async def test_seals_in_a_row_reuse_the_revocation_data_and_still_embed_it(
    signing_settings: SigningSettings, services: PKIServer, pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = _count_requests(services, monkeypatch)
    async with Sealer(signing_settings) as sealer:
        first = await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        fetched = dict(counts)
        second = await sealer.seal(make_pdf(2), [], reason=REASON, location=LOCATION)
    # The seal and TSA certificates' OCSP answers and the CA's CRL, asked for once...
    assert fetched["ocsp"] == 2
    assert fetched["crl"] == 2
    assert counts["ocsp"] == fetched["ocsp"]
    assert counts["crl"] == fetched["crl"]
    # ...the timestamps never: each seal has its own two.
    assert counts["tsa"] == fetched["tsa"] + 2
    # Both documents carry all of it and validate on their own, long-term.
    assert _revocation_data(first) == _revocation_data(second) == (2, 2)
    for pdf in (first, second):
        report = await verify_async(pdf, trust_roots=[pki.root_cert])
        assert report.ok, report.problems
        assert report.signatures[0].ltv == "OK"


async def test_revocation_data_is_fetched_again_after_its_time_and_after_a_failure(
    signing_settings: SigningSettings, services: PKIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    counts = _count_requests(services, monkeypatch)
    async with Sealer(replace(signing_settings, revocation_reuse_seconds=0)) as sealer:
        for _ in range(2):
            await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
    assert counts["ocsp"] == 4  # 0: every seal asks

    async with Sealer(replace(signing_settings, revocation_reuse_seconds=0.5)) as sealer:
        await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        services.revocation_available = False
        # Within the half second the answers fetched are still good.
        await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        await asyncio.sleep(0.6)
        with pytest.raises(SealingUnavailable):
            await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        services.revocation_available = True
        # The failure is not remembered: the next seal fetches and succeeds.
        assert await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)


async def test_sandbox_certificate_is_labelled(pki: TestPKI, pki_server: PKIServer) -> None:
    out = await _seal(pki.signing_settings("sandbox"), make_pdf(1), [])
    report = await verify_async(out, trust_roots=[pki.root_cert])
    assert report.ok, report.problems
    assert "TEST ENVIRONMENT — 試験用" in report.signatures[0].signer_subject


async def test_tsa_unreachable_raises_and_returns_nothing(pki: TestPKI, pki_server: PKIServer) -> None:
    signing_settings = pki.signing_settings(tsa_url=f"http://127.0.0.1:{free_port()}/tsa")
    result = None
    with pytest.raises(SealingUnavailable):
        result = await _seal(signing_settings, make_pdf(1), [])
    assert result is None


async def test_tsa_refusing_after_start_raises(signing_settings: SigningSettings, services: PKIServer) -> None:
    async with Sealer(signing_settings) as sealer:
        await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)  # pins the TSA
        services.tsa_available = False
        with pytest.raises(SealingUnavailable):
            await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        services.tsa_available = True
        assert await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)  # recovers


async def test_revocation_unavailable_raises(signing_settings: SigningSettings, services: PKIServer) -> None:
    services.revocation_available = False
    with pytest.raises(SealingUnavailable):
        await _seal(signing_settings, make_pdf(1), [])


async def test_bad_inputs_are_refused(signing_settings: SigningSettings, sealed_one_page: bytes) -> None:
    async with Sealer(signing_settings) as sealer:
        with pytest.raises(SealingInputError, match="already signed"):
            await sealer.seal(sealed_one_page, [], reason=REASON, location=LOCATION)
        with pytest.raises(SealingInputError, match="readable"):
            await sealer.seal(b"not a pdf", [], reason=REASON, location=LOCATION)
        with pytest.raises(SealingInputError, match="page 3"):
            await sealer.seal(make_pdf(1), [TextBoxFill(3, 0, 0, 50, 20, "x")], reason=REASON, location=LOCATION)
        with pytest.raises(TextOverflowError):
            await sealer.seal(
                make_pdf(1),
                [TextBoxFill(0, 0, 0, 40, 8, "とても長い文章" * 20)],
                reason=REASON,
                location=LOCATION,
            )
        with pytest.raises(UnsupportedCharactersError, match=r"U\+1F600"):
            await sealer.seal(make_pdf(1), [TextBoxFill(0, 0, 0, 100, 20, "OK 😀")], reason=REASON, location=LOCATION)


def test_wrong_passphrase_is_a_configuration_error(signing_settings: SigningSettings) -> None:
    from dataclasses import replace

    with pytest.raises(SigningConfigurationError, match="passphrase"):
        Sealer(replace(signing_settings, pkcs12_passphrase="wrong"))


def test_a_worker_seals_with_one_sealer_on_its_one_loop(signing_settings: SigningSettings, pki: TestPKI) -> None:
    from core.asyncrun import run_async
    from signing import verify

    # What a Celery worker does: one Sealer per process, run on the process's loop.
    sealer = Sealer(signing_settings)
    try:
        first = run_async(
            sealer.seal(make_pdf(1), [TextBoxFill(0, 72, 700, 200, 20, "同期")], reason=REASON, location=LOCATION)
        )
        session = sealer._session
        second = run_async(sealer.seal(make_pdf(2), [], reason=REASON, location=LOCATION))
        assert sealer._session is session  # one HTTP session (and TSA client) across tasks
        with pytest.raises(RuntimeError, match="bound to the event loop"):
            asyncio.run(sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION))
    finally:
        run_async(sealer.aclose())
    assert verify(first, trust_roots=[pki.root_pem_path]).ok
    assert verify(second, trust_roots=[pki.root_cert.dump()]).ok


async def test_sync_verify_refuses_a_running_loop(pki: TestPKI) -> None:
    from signing import verify

    with pytest.raises(RuntimeError, match="verify_async"):
        verify(make_pdf(1), trust_roots=[pki.root_cert])


async def test_tsa_certificate_rollover_is_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    from datetime import UTC, datetime, timedelta

    caplog.set_level(logging.WARNING, logger="signing.sealing")

    pki = TestPKI.ensure(tmp_path / "rollover-pki", port=free_port())
    with PKIServer(pki):
        async with Sealer(pki.signing_settings()) as sealer:
            before = await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
            # The TSA switches to a new certificate behind the same URL.
            pki.add_successor_tsa(valid_from=datetime.now(UTC) - timedelta(hours=1))
            after = await sealer.seal(make_pdf(1), [], reason=REASON, location=LOCATION)
        assert "re-pinning" in caplog.text  # the first attempt noticed the new certificate
        for pdf, tsa in ((before, "Kyodo Test TSA 1"), (after, "Kyodo Test TSA 2")):
            report = await verify_async(pdf, trust_roots=[pki.root_cert])
            assert report.ok, report.problems
            assert tsa in report.signatures[-1].signer_subject
