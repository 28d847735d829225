"""The offline test PKI: identities, persistence, export and HTTP services."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from asn1crypto import algos, ocsp, pem, tsp, x509
from asn1crypto import crl as asn1_crl

from core.settings import KeySource, SigningSettings
from signing.errors import SigningConfigurationError
from signing.sealing import check_settings
from testpki import PKIServer, TestPKI


def _fetch(url: str, body: bytes | None = None, content_type: str = "") -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if body else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        data: bytes = resp.read()
        return data


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    cert_id = ocsp.CertId(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
            "issuer_name_hash": issuer.subject.sha1,
            "issuer_key_hash": issuer.public_key.sha1,
            "serial_number": cert.serial_number,
        }
    )
    return bytes(ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump())


def _ocsp_status(body: bytes) -> str:
    resp = ocsp.OCSPResponse.load(body)
    status: str = resp["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]["cert_status"].name
    return status


def test_identities_are_clearly_labelled(pki: TestPKI) -> None:
    provider = pki.cert("provider")
    sandbox = pki.cert("sandbox")
    assert provider.subject.native["common_name"] == "Kyodo Test Provider Seal"
    assert "TEST ENVIRONMENT — 試験用" in sandbox.subject.native["common_name"]
    assert pki.cert("tsa-1").extended_key_usage_value.native == ["time_stamping"]
    assert pki.cert("ocsp").ocsp_no_check_value is not None
    for label in ("provider", "sandbox", "tsa-1"):
        cert = pki.cert(label)
        assert cert.ocsp_urls, label
        assert cert.crl_distribution_points, label
        assert cert.issuer == pki.cert("interm").subject


def test_reopening_gives_identical_certificates(pki: TestPKI) -> None:
    again = TestPKI.ensure(pki.directory, port=pki.port)
    for label in ("root", "interm", "provider", "sandbox", "tsa-1", "ocsp"):
        assert again.cert(label).dump() == pki.cert(label).dump()
    with pytest.raises(ValueError, match="generated for"):
        TestPKI.ensure(pki.directory, port=pki.port + 1)


def test_root_export_for_acrobat(pki: TestPKI, tmp_path: Path) -> None:
    pem_path, der_path = pki.export_root_certificate(tmp_path)
    assert der_path.read_bytes() == pki.root_cert.dump()
    kind, _, der = pem.unarmor(pem_path.read_bytes())
    assert kind == "CERTIFICATE"
    assert der == pki.root_cert.dump()


def test_services_answer_over_http(pki: TestPKI, pki_server: PKIServer) -> None:
    base = pki.base_url
    assert _fetch(f"{base}/root.cer") == pki.root_cert.dump()
    crl = asn1_crl.CertificateList.load(_fetch(f"{base}/kyodo-test/crls/interm/latest.crl"))
    assert crl.issuer == pki.cert("interm").subject

    req = _ocsp_request(pki.cert("provider"), pki.cert("interm"))
    posted = _fetch(f"{base}/kyodo-test/ocsp/interm", req, "application/ocsp-request")
    assert _ocsp_status(posted) == "good"
    import base64

    got = _fetch(f"{base}/kyodo-test/ocsp/interm/" + base64.urlsafe_b64encode(req).decode())
    assert _ocsp_status(got) == "good"

    ts_req = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\x01" * 32,
            },
            "cert_req": True,
        }
    )
    answer = tsp.TimeStampResp.load(_fetch(pki.tsa_url, bytes(ts_req.dump()), "application/timestamp-query"))
    assert answer["status"]["status"].native == "granted"


def test_signing_settings_point_at_pkcs12(pki: TestPKI) -> None:
    signing_settings = pki.signing_settings("sandbox")
    assert signing_settings.key_source is KeySource.PKCS12
    assert signing_settings.pkcs12_path is not None
    assert signing_settings.pkcs12_path.exists()
    assert signing_settings.trust_root_paths == (pki.root_pem_path,)
    assert signing_settings.pkcs12_passphrase
    assert signing_settings.pkcs12_passphrase not in repr(signing_settings)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KYODO_SIGNING_KEY_SOURCE", "pkcs11")
    monkeypatch.setenv("KYODO_SIGNING_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
    monkeypatch.setenv("KYODO_SIGNING_PKCS11_TOKEN_LABEL", "kyodo")
    monkeypatch.setenv("KYODO_SIGNING_PKCS11_KEY_LABEL", "seal")
    monkeypatch.setenv("KYODO_SIGNING_PKCS11_PIN", "1234")
    monkeypatch.setenv("KYODO_SIGNING_TSA_URL", "https://tsa.example.jp/tsa")
    monkeypatch.setenv("KYODO_SIGNING_TRUST_ROOTS", f"{tmp_path}/a.pem:{tmp_path}/b.pem")
    signing_settings = SigningSettings()
    assert signing_settings.key_source is KeySource.PKCS11
    assert signing_settings.pkcs11_token_label == "kyodo"
    assert len(signing_settings.trust_root_paths) == 2
    assert "1234" not in repr(signing_settings)
    check_settings(signing_settings)
    with pytest.raises(SigningConfigurationError, match="TSA"):
        check_settings(SigningSettings(tsa_url=""))


def test_tokens_and_ocsp_answers_carry_the_pki_certificates_at_the_server_clock(tmp_path: Path) -> None:
    """The timestamper and responder kept between answers still answer as certomancer does."""
    from datetime import UTC, datetime, timedelta

    from asn1crypto import cms

    pki = TestPKI.ensure(tmp_path / "pki", port=1)
    moments = [datetime(2031, 4, 1, 9, 0, tzinfo=UTC)]
    server = PKIServer(pki, clock=lambda: moments[-1])
    ts_req = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x02" * 32},
            "nonce": 7,
            "cert_req": True,
        }
    ).dump()
    for moment in (moments[0], moments[0] + timedelta(hours=1)):
        moments.append(moment)
        token = tsp.TimeStampResp.load(server.answer_tsa(None, ts_req))["time_stamp_token"]
        signed = token["content"]
        info = signed["encap_content_info"]["content"].parsed
        assert info["gen_time"].native == moment
        assert info["nonce"].native == 7
        embedded = {c.chosen.dump() for c in signed["certificates"] if isinstance(c, cms.CertificateChoices)}
        assert embedded == {pki.cert("tsa-1").dump(), pki.cert("interm").dump()}

        ocsp_answer = ocsp.OCSPResponse.load(
            server.answer_ocsp("interm", _ocsp_request(pki.cert("provider"), pki.cert("interm")))
        )
        basic = ocsp_answer["response_bytes"]["response"].parsed
        assert basic["tbs_response_data"]["produced_at"].native == moment
        assert [c.dump() for c in basic["certs"]] == [pki.cert("ocsp").dump()]

    # A successor TSA reloads the PKI: its tokens come from the new certificate.
    successor = pki.add_successor_tsa(valid_from=moments[-1] - timedelta(days=1))
    token = tsp.TimeStampResp.load(server.answer_tsa(None, ts_req))["time_stamp_token"]
    embedded = {c.chosen.dump() for c in token["content"]["certificates"]}
    assert pki.cert(successor.label).dump() in embedded
