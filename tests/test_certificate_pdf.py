"""The certificate PDF checked with outside tools: every name right (pdftotext, pdffonts), PDF/A-2b and tagged
(pikepdf, qpdf), the PAdES seal (pyHanko), and the upload check of `POST /verify/<code>`. The rendering of the
design is written to docs/screenshots/certificate.png (pdftoppm)."""

from __future__ import annotations

import asyncio
import io
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pikepdf
import pytest
import segno
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from ews_cases.documents.certificate_pdf import CertificateText, render_certificate
from ews_cases.documents.seal import load_signer, seal_pdf
from ews_cases.models import Certificate
from ews_cases.services.cases import MemberInput
from testkit.factories import FINNENTROP, complete_content
from workflows import State

ROOT = Path(__file__).resolve().parents[1]
#: Between them: ß Ł ą ş ı ğ ễ Ω Ж, and German umlauts.
NAMES = [
    "Łucja Wąsik-Nguyễn",
    "Ayşe Yılmaz-Doğan",
    "Jürgen Weißenböck",
    "Ωραιοζήλη Παπαδοπούλου",
    "Жанна Жукова",
]
TEXT = CertificateText(
    holder_name=NAMES[0],
    municipality="Finnentrop",
    cohort_number=6,
    cohort_title="6. Entwicklungswerkstatt",
    project_title="Engagementlotsen – gemeinsam für Finnentrop",
    place="Düsseldorf",
    issued_on=date(2027, 11, 20),
    signatory_name="Dr. Maria Muster",
    signatory_title="Ministerium für Heimat, Kommunales, Bau und Digitalisierung NRW",
    serial="EWS6-2027-004",
    verification_url="http://ews.test/verify/Qm9va2luZ0NvZGUxMjM0NTY",
    starts_on=date(2027, 3, 1),
    ends_on=date(2027, 11, 20),
)


def tool(tmp_path: Path, pdf: bytes, *command: str) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [*command, str(path), *(["-"] if command[0] == "pdftotext" else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def sealed(app) -> bytes:
    with app.app_context():
        return seal_pdf(render_certificate(TEXT), app.extensions["ews"].settings, TEXT.serial).pdf


@pytest.mark.parametrize("name", NAMES)
def test_every_name_is_extracted_exactly_and_every_font_is_embedded(app, tmp_path, name):
    with app.app_context():
        pdf = seal_pdf(
            render_certificate(replace(TEXT, holder_name=name)), app.extensions["ews"].settings, "X"
        ).pdf
    text = tool(tmp_path, pdf, "pdftotext", "-layout")
    assert name in text
    assert "?" not in text  # nothing replaced by a question mark
    assert "„Engagementlotsen – gemeinsam für Finnentrop“" in text  # German quotes and the en dash
    fonts = tool(tmp_path, pdf, "pdffonts").splitlines()[2:]
    assert fonts, "no fonts listed"
    for line in fonts:
        emb, sub = line.split()[-5], line.split()[-4]
        assert (emb, sub) == ("yes", "yes"), line
        assert "NotoSans" in line


def test_combining_marks_print_as_the_composed_letters(app, tmp_path):
    decomposed = "Łucja Wąsik-Nguye\u0302\u0303n"
    pdf = render_certificate(replace(TEXT, holder_name=decomposed))
    assert "Łucja Wąsik-Nguyễn" in tool(tmp_path, pdf, "pdftotext", "-layout")


def test_the_pdf_is_pdfa_2b_tagged_german_with_an_srgb_output_intent(sealed, tmp_path):
    with pikepdf.open(io.BytesIO(sealed)) as pdf:
        metadata = pdf.open_metadata()
        assert metadata["pdfaid:part"] == "2"
        assert metadata["pdfaid:conformance"] == "B"
        [intent] = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        profile = intent.DestOutputProfile
        assert profile.N == 3
        assert profile.read_bytes()[36:40] == b"acsp"  # an ICC profile
        assert "sRGB" in str(intent.OutputConditionIdentifier)
        assert "/StructTreeRoot" in pdf.Root
        [document] = pdf.Root.StructTreeRoot.K
        assert document.S == "/Document"
        kinds = {str(kid.S) for kid in document.K}
        assert {"/H1", "/P", "/Figure"} <= kinds
        assert str(pdf.Root.Lang) == "de"
        assert bool(pdf.Root.MarkInfo.Marked)
        assert metadata["dc:title"] == f"Zertifikat {TEXT.serial} – {NAMES[0]}"  # title and author
        assert metadata["dc:creator"] == ["Entwicklungswerkstatt für kommunale Engagementstrategien"]
        assert bool(pdf.Root.ViewerPreferences.DisplayDocTitle)
    path = tmp_path / "c.pdf"
    path.write_bytes(sealed)
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def _validate(pdf: bytes, app):
    with app.app_context():
        trust = load_signer(app.extensions["ews"].settings).signing_cert
    reader = PdfFileReader(io.BytesIO(pdf))
    [signature] = reader.embedded_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[trust]))


def test_the_seal_covers_the_whole_file_and_one_changed_byte_breaks_it(app, sealed):
    status = _validate(sealed, app)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.bottom_line

    tampered = bytearray(sealed)
    tampered[len(sealed) // 4] ^= 0x01  # inside the signed range (the signature value sits near the end)
    assert not _validate(bytes(tampered), app).intact


def test_an_uploaded_file_is_the_issued_one_only_when_unchanged(app, session, factory):
    cohort = factory.cohort(title="6. Entwicklungswerkstatt", ceremony_place="Siegburg")
    factory.workshop(cohort)
    team = [
        MemberInput(NAMES[0], "lucja@example.org", "Leitung"),
        MemberInput(NAMES[4], "z@example.org", "Amt"),
    ]
    content = replace(complete_content(2), team=team)
    case = factory.case(cohort, FINNENTROP, content=content, state=State.CERTIFIED)
    session.commit()
    certificate = session.scalars(
        select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    ).first()
    issued = Path(certificate.pdf_path).read_bytes()
    assert _validate(issued, app).bottom_line  # the issued PDF carries the seal
    client = app.test_client()
    url = f"/verify/{certificate.verification_code}"

    def upload(data: bytes, accept: str = "application/json"):
        return client.post(
            url,
            data={"file": (io.BytesIO(data), "zertifikat.pdf")},
            headers={"Accept": accept},
            content_type="multipart/form-data",
        )

    same = upload(issued)
    assert (same.status_code, same.get_json()["file_matches"], same.get_json()["valid"]) == (200, True, True)
    tampered = bytearray(issued)
    tampered[len(issued) // 4] ^= 0x01
    other = upload(bytes(tampered))
    assert (other.status_code, other.get_json()["file_matches"]) == (200, False)
    page = upload(bytes(tampered), accept="text/html").get_data(as_text=True)
    assert "Die Datei ist nicht das ausgestellte Dokument." in page
    page = upload(issued, accept="text/html").get_data(as_text=True)
    assert "Die Datei ist das ausgestellte Dokument." in page
    assert client.post(url, data={}, headers={"Accept": "application/json"}).status_code == 400


def test_the_design_renders_to_the_screenshot(app, sealed, tmp_path):
    path = tmp_path / "certificate.pdf"
    path.write_bytes(sealed)
    target = ROOT / "docs" / "screenshots" / "certificate"
    result = subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-singlefile", str(path), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    png = target.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_sealing_works_inside_a_running_event_loop(app):
    """pyHanko signs in asyncio: a caller inside an event loop (Playwright, an async server) still gets a seal."""
    settings = app.extensions["ews"].settings

    async def inside_a_loop() -> bytes:
        return seal_pdf(render_certificate(TEXT), settings, TEXT.serial).pdf

    assert _validate(asyncio.run(inside_a_loop()), app).bottom_line


def test_a_logo_from_the_settings_is_printed_as_a_tagged_figure(tmp_path):
    logo = tmp_path / "logo.png"
    segno.make("EWS", micro=False).save(str(logo), kind="png", scale=4)  # any PNG will do
    pdf = render_certificate(replace(TEXT, logo=logo))
    with pikepdf.open(io.BytesIO(pdf)) as document:
        xobjects = document.pages[0].Resources.XObject
        images = [obj for _name, obj in xobjects.items() if obj.Subtype == "/Image"]
        assert len(images) == 1
        [structure] = document.Root.StructTreeRoot.K
        figures = [kid for kid in structure.K if kid.S == "/Figure"]
        assert [str(f.get("/Alt")) for f in figures] == [
            "Logo",
            f"QR-Code mit dem Link zur Prüfseite: {TEXT.verification_url}",
        ]
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    assert subprocess.run(["qpdf", "--check", str(path)], capture_output=True, check=False).returncode == 0
    assert NAMES[0] in tool(tmp_path, pdf, "pdftotext", "-layout")
