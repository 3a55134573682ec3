"""The log's signing keys: from EWS_AUDIT_SIGNING_KEY (text or file), made in development, refused missing in
production, and previous keys signing beside the current one during a rotation."""

from __future__ import annotations

import stat

import pytest

from ews_cases.audit import notes, signing
from ews_cases.settings import Settings

SECRET = "x" * 40


def _settings(tmp_path, **values) -> Settings:
    return Settings(
        env="test", data_dir=tmp_path, secret_key=SECRET, public_url="https://ews.example.org", **values
    )


def test_development_key_is_made_once_under_the_data_folder(tmp_path, caplog):
    settings = _settings(tmp_path)
    assert settings.log_origin == "ews.example.org/audit-log"
    with caplog.at_level("WARNING"):
        first = signing.current_signer(settings)
    path = signing.development_key_path(settings)
    assert path.is_relative_to(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first.private_text + "\n"
    assert first.name == "ews.example.org/audit-log"
    assert str(path) in caplog.text
    assert first.verifier.text in caplog.text
    assert first.private_text not in caplog.text
    again = signing.current_signer(settings)
    assert again.verifier == first.verifier


def test_production_refuses_to_sign_without_a_key(tmp_path):
    settings = Settings(env="production", data_dir=tmp_path, secret_key=SECRET)
    with pytest.raises(signing.SigningKeyError, match="EWS_AUDIT_SIGNING_KEY is not set"):
        signing.log_signers(settings)
    assert not signing.development_key_path(settings).exists()


def test_key_as_text_or_as_file(tmp_path):
    signer = notes.Signer.generate("ews.example.org/audit-log")
    as_text = _settings(tmp_path, audit_signing_key=signer.private_text)
    assert signing.current_signer(as_text).verifier == signer.verifier
    path = tmp_path / "keys" / "log.key"
    signing.write_key(path, signer)
    with pytest.raises(FileExistsError):
        signing.write_key(path, signer)
    as_file = Settings(
        env="production",
        data_dir=tmp_path,
        secret_key=SECRET,
        audit_signing_key=str(path),
        public_url="https://ews.example.org",
    )
    assert signing.current_signer(as_file).verifier == signer.verifier


def test_unusable_keys_are_named_without_showing_them(tmp_path):
    signer = notes.Signer.generate("ews.example.org/audit-log")
    broken = signer.private_text[:-4] + "AAAA"
    with pytest.raises(
        signing.SigningKeyError, match="EWS_AUDIT_SIGNING_KEY: malformed signing key"
    ) as error:
        signing.current_signer(_settings(tmp_path, audit_signing_key=broken))
    assert broken.rsplit("+", 1)[1] not in str(error.value)
    with pytest.raises(signing.SigningKeyError, match=r"neither a signing key .* nor a readable file"):
        signing.current_signer(_settings(tmp_path, audit_signing_key=str(tmp_path / "missing.key")))
    witness = notes.Signer.generate("ews.example.org/audit-log", notes.COSIGNATURE_V1)
    with pytest.raises(signing.SigningKeyError, match="type 0x01"):
        signing.current_signer(_settings(tmp_path, audit_signing_key=witness.private_text))


def test_previous_keys_sign_beside_the_current_one(tmp_path):
    old, new = (
        notes.Signer.generate("ews.example.org/audit-log"),
        notes.Signer.generate("ews.example.org/audit-log"),
    )
    path = tmp_path / "old.key"
    signing.write_key(path, old)
    settings = _settings(
        tmp_path,
        audit_signing_key=new.private_text,
        audit_previous_signing_keys=f"{path}, {new.private_text}",
    )
    assert [s.verifier for s in signing.log_signers(settings)] == [new.verifier, old.verifier]


def test_origin_from_public_url_or_setting(tmp_path):
    assert Settings(public_url="http://127.0.0.1:5000/").log_origin == "127.0.0.1:5000/audit-log"
    assert Settings(public_url="https://example.org/ews/").log_origin == "example.org/ews/audit-log"
    assert Settings(audit_log_origin="lrh.nrw.example/ews").log_origin == "lrh.nrw.example/ews"
    with pytest.raises(ValueError, match="no spaces"):
        Settings(audit_log_origin="ews log")
