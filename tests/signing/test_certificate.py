"""The certificate of conclusion renders every party, agreement and file hash in Japanese (WF-12)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from pypdf import PdfReader

from signing.certificate import AgreementLine, CertificateData, PartyLine, SealedFileLine, render_certificate

JST = dt.timezone(dt.timedelta(hours=9))


def _data(**overrides: object) -> CertificateData:
    values: dict[str, object] = {
        "member_name": "盛岡市",
        "title_formal_name": "盛岡市長 内舘 茂",
        "subject": "盛岡市立図書館空調設備改修工事",
        "contract_number": "R8-契-0042",
        "amount": 12_345_000,
        "transaction_date": dt.date(2026, 11, 20),
        "counterparty": "株式会社岩手建設",
        "concluded_at": dt.datetime(2026, 11, 21, 9, 30, tzinfo=JST),
        "contract_id": "01a2-0042",
        "parties": [
            PartyLine(1, "契約者", "株式会社岩手建設", "岩手太郎", "taro@iwate-kensetsu.example.jp", "合意済み"),
            PartyLine(2, "盛岡市長", "盛岡市", "盛岡花子", "hanako@city.morioka.lg.jp", "合意済み"),
        ],
        "events": [
            AgreementLine(
                dt.datetime(2026, 11, 20, 14, 0, tzinfo=JST),
                "転送",
                "岩手一郎",
                "ichiro@iwate-kensetsu.example.jp",
                "203.0.113.7",
            ),
            AgreementLine(
                dt.datetime(2026, 11, 20, 15, 0, tzinfo=JST),
                "合意",
                "岩手太郎",
                "taro@iwate-kensetsu.example.jp",
                "203.0.113.8",
            ),
        ],
        "files": [SealedFileLine("契約書.pdf", "ab" * 32, 123_456)],
    }
    values.update(overrides)
    return CertificateData(**values)  # type: ignore[arg-type]


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_certificate_lists_contract_parties_agreements_and_hashes() -> None:
    text = _text(render_certificate(_data()))
    for expected in (
        "締結証明書",
        "盛岡市長 内舘 茂",
        "盛岡市立図書館空調設備改修工事",
        "12,345,000円",
        "令和8年11月20日",
        "株式会社岩手建設",
        "岩手太郎",
        "taro@iwate-kensetsu.example.jp",
        "203.0.113.8",
        "転送",
        "岩手一郎",
        "ab" * 32,
    ):
        assert expected in text.replace("\n", ""), expected


def test_test_environment_certificates_say_so_on_every_page() -> None:
    many = [PartyLine(i, "契約者", f"会社{i}", f"氏名{i}", f"p{i}@example.jp", "合意済み") for i in range(1, 80)]
    pdf = render_certificate(_data(test_environment=True, parties=many))
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) > 1
    assert all("テスト環境" in page.extract_text() for page in pages)


def test_the_japanese_font_is_embedded() -> None:
    reader = PdfReader(io.BytesIO(render_certificate(_data())))
    fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    descriptors = [f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"] for f in fonts.values()]
    assert any("/FontFile2" in d for d in descriptors)


def test_certificates_share_one_parsed_font_but_not_their_glyphs() -> None:
    """The font is parsed once per process; each certificate still embeds only its own characters."""
    from fontTools.ttLib import TTFont

    first = render_certificate(_data(counterparty="株式会社鬱蒼"))
    second = render_certificate(_data(counterparty="有限会社薔薇"))
    for pdf, own, other in ((first, "鬱蒼", "薔薇"), (second, "薔薇", "鬱蒼")):
        reader = PdfReader(io.BytesIO(pdf))
        text = reader.pages[0].extract_text()
        assert own in text
        assert other not in text
        fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
        assert len(fonts) == 1  # headings use the regular face: one subset embedded, not two
        descendant = next(iter(fonts.values())).get_object()["/DescendantFonts"][0].get_object()
        embedded = TTFont(io.BytesIO(descendant["/FontDescriptor"]["/FontFile2"].get_data()))
        assert len(embedded.getGlyphOrder()) < 400, "a subset, not the whole font"
        assert not any(ord(c) in (embedded.getBestCmap() or {}) for c in other)


def test_long_cells_wrap_inside_their_column_and_headings_repeat_on_each_page() -> None:
    """Cells break inside their column (Latin words whole); a table going on to a new page repeats its headings."""
    company = "株式会社岩手建設 Iwate Construction Holdings"
    many = [PartyLine(i, "契約者", f"{company} {i}", f"氏名{i}", f"p{i}@example.jp", "合意済み") for i in range(1, 60)]
    pdf = render_certificate(_data(parties=many))
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) > 1
    second = pages[1].extract_text()
    assert "事業者・名義" in second  # the parties' headings again on the next page
    words = second.split()
    assert "Construction" in words
    assert "Holdings" in words  # not cut in the middle
