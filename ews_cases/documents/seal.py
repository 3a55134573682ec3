"""The programme's seal on each certificate: a PAdES signature (pyHanko) covering the whole file.

The key and certificate come from `EWS_SEAL_P12` / `EWS_SEAL_PASSWORD`. Without them, development and tests make
a self-signed seal under the data folder on first use (and log where); production issues unsealed PDFs and
warns at every issuance (`seal_pdf` returns the PDF unchanged and `sealed=False`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash

from ews_cases.settings import Settings

log = logging.getLogger(__name__)

SEAL_NAME = "EWS-Siegel (Entwicklung, selbst signiert)"
DEV_SEAL_PASSWORD = b"development-seal"
SEAL_FIELD = "Siegel"

_lock = threading.Lock()


class SealSigner(signers.SimpleSigner):
    """pyHanko's signer with the private key parsed once (pyHanko parses and checks it at every signature,
    ≈ 100 ms for RSA) and the signature's space reserved from the certificates' size (no dry-run signature)."""

    def __init__(self, loaded: signers.SimpleSigner) -> None:
        super().__init__(
            signing_cert=loaded.signing_cert,
            signing_key=loaded.signing_key,
            cert_registry=loaded.cert_registry,
        )
        self.key = serialization.load_der_private_key(loaded.signing_key.dump(), password=None)
        certificates = [loaded.signing_cert, *loaded.cert_registry]
        self.bytes_reserved = 8192 + 2 * sum(len(c.dump()) for c in certificates)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        if isinstance(self.key, rsa.RSAPrivateKey) and mechanism.signature_algo == "rsassa_pkcs1v15":
            return self.key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)


_signers: dict[tuple[str, float], SealSigner] = {}


@dataclass(frozen=True, slots=True)
class Sealed:
    pdf: bytes
    sealed: bool


def development_seal_path(settings: Settings) -> Path:
    return settings.data_dir / "seal" / "development-seal.p12"


def seal_configured(settings: Settings) -> bool:
    """Whether certificates get sealed: a configured seal, or (outside production) the development seal."""
    return settings.seal_p12 is not None or settings.env != "production"


def make_self_signed_seal(path: Path, password: bytes, common_name: str = SEAL_NAME) -> None:
    """A PKCS#12 file with a new RSA key and a self-signed certificate fit for document signing."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, "Entwicklungswerkstatt für kommunale Engagementstrategien"
            ),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"ews-seal", key, certificate, None, serialization.BestAvailableEncryption(password)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.chmod(0o600)
    temporary.replace(path)


def _seal_file(settings: Settings) -> tuple[Path, bytes | None] | None:
    if settings.seal_p12 is not None:
        password = settings.seal_password.encode() if settings.seal_password is not None else None
        return settings.seal_p12, password
    if settings.env == "production":
        return None
    path = development_seal_path(settings)
    if not path.is_file():
        make_self_signed_seal(path, DEV_SEAL_PASSWORD)
        log.warning(
            "No EWS_SEAL_P12 configured: created a self-signed development seal at %s; certificates sealed "
            "with it prove nothing outside this installation",
            path.resolve(),
        )
    return path, DEV_SEAL_PASSWORD


def load_signer(settings: Settings) -> SealSigner | None:
    """The seal's signer (read once per file and modification), or None in production without a seal."""
    with _lock:
        found = _seal_file(settings)
        if found is None:
            return None
        path, password = found
        key = (str(path.resolve()), path.stat().st_mtime)
        signer = _signers.get(key)
        if signer is None:
            loaded = signers.SimpleSigner.load_pkcs12(str(path), passphrase=password)
            if loaded is None:
                raise RuntimeError(f"EWS_SEAL_P12 {path} could not be read (wrong EWS_SEAL_PASSWORD?)")
            signer = _signers[key] = SealSigner(loaded)
        return signer


def seal_pdf(pdf: bytes, settings: Settings, serial: str) -> Sealed:
    """The PDF with the programme's PAdES seal appended as an incremental update."""
    signer = load_signer(settings)
    if signer is None:
        log.warning("Certificate %s issued UNSEALED: EWS_SEAL_P12 is not configured in production", serial)
        return Sealed(pdf, sealed=False)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"Zertifikat {serial}",
        location="Nordrhein-Westfalen",
        md_algorithm="sha256",
    )
    signing = signers.async_sign_pdf(writer, metadata, signer=signer, bytes_reserved=signer.bytes_reserved)
    return Sealed(_run(signing).getvalue(), sealed=True)


def _run(coroutine: Coroutine[Any, Any, io.BytesIO]) -> io.BytesIO:
    """pyHanko signs in asyncio; a caller already inside an event loop (a Playwright test, an async server)
    gets the signature made on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
