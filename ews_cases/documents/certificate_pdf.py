"""The certificate as an A4 PDF/A-2b in German: tagged, with the fonts shipped in the package embedded.

fpdf2 writes it: Noto Sans (OFL, `fonts/`) embedded as subsets, text shaped by HarfBuzz (any Latin, Greek,
Cyrillic or Vietnamese name, composed or not), XMP with `pdfaid:part 2`/`conformance B`, an sRGB output intent
(`color/sRGB.icc`), a structure tree (H1, P, Figure; the frame marked as artifact) with `/Lang de`. The QR code
is drawn as vector squares (no image, no transparency). Sealing is a separate step (`documents/seal.py`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile
from fpdf.prefs import ViewerPreferences

from ews_cases.i18n.formatting import de_date

HERE = Path(__file__).resolve().parent
FONTS = HERE / "fonts"
SRGB_PROFILE = HERE / "color" / "sRGB.icc"
FAMILY = "NotoSans"
PROGRAMME = "Entwicklungswerkstatt für kommunale Engagementstrategien"
PROGRAMME_LINE = "Ein Programm des Landes Nordrhein-Westfalen"
#: The programme's colour (a dark petrol blue) and the grey of secondary text, sRGB.
RGB = tuple[int, int, int]
ACCENT: RGB = (0, 84, 112)
GREY: RGB = (90, 90, 90)


@dataclass(frozen=True, slots=True)
class CertificateText:
    holder_name: str
    municipality: str
    cohort_number: int
    cohort_title: str
    project_title: str
    place: str
    issued_on: date
    signatory_name: str
    signatory_title: str
    serial: str
    verification_url: str
    starts_on: date | None = None
    ends_on: date | None = None
    logo: Path | None = None


def _nfc(text: str) -> str:
    """Names typed with combining marks (e + ̂ + ̃) and precomposed (ễ) print and extract alike."""
    return unicodedata.normalize("NFC", text)


def short_url(url: str) -> str:
    """The verification link as printed under the QR code: without the scheme."""
    return url.split("://", 1)[-1]


def programme_period(starts_on: date | None, ends_on: date | None) -> str | None:
    if starts_on and ends_on:
        return f"{de_date(starts_on)} – {de_date(ends_on)}"
    if starts_on:
        return f"ab {de_date(starts_on)}"
    return None


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes:
    return SRGB_PROFILE.read_bytes()


class _CertificatePDF(FPDF):
    """fpdf2 with the marked content the structure tree needs (fpdf2 itself tags only images and links)."""

    @contextmanager
    def tagged(self, tag: str, alt: str | None = None) -> Iterator[None]:
        mcid = self.struct_builder.next_mcid_for_page(self.page)
        self._add_marked_content(struct_type=f"/{tag}", mcid=mcid, alt_text=alt)
        self._out(f"/{tag} <</MCID {mcid}>> BDC")
        yield
        self._out("EMC")

    @contextmanager
    def artifact(self) -> Iterator[None]:
        self._out("/Artifact BMC")
        yield
        self._out("EMC")


def _new_pdf(title: str) -> _CertificatePDF:
    pdf = _CertificatePDF(format="A4", unit="mm", enforce_compliance="PDF/A-2B")
    pdf.set_title(title)
    pdf.set_author(PROGRAMME)
    pdf.set_subject(f"{PROGRAMME} – {PROGRAMME_LINE}")
    pdf.set_creator("EWS Cases")
    pdf.set_lang("de")
    pdf.viewer_preferences = ViewerPreferences(display_doc_title=True)
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB IEC61966-2.1",
        output_condition="sRGB",
        registry_name="https://www.color.org",
        dest_output_profile=PDFICCProfile(contents=_srgb_profile(), n=3, alternate="DeviceRGB"),
        info="sRGB IEC61966-2.1",
    )
    pdf.add_font(FAMILY, "", FONTS / "NotoSans-Regular.ttf")
    pdf.add_font(FAMILY, "B", FONTS / "NotoSans-Bold.ttf")
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(False)
    pdf.set_margins(25, 20, 25)
    return pdf


def _qr(pdf: _CertificatePDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code as filled squares (one rectangle per run of dark modules in a row)."""
    matrix = segno.make(url, error="m").matrix
    module = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    with pdf.tagged("Figure", alt=f"QR-Code mit dem Link zur Prüfseite: {url}"):
        for row, cells in enumerate(matrix):
            start = None
            for col, dark in enumerate([*cells, 0]):
                if dark and start is None:
                    start = col
                elif not dark and start is not None:
                    pdf.rect(x + start * module, y + row * module, (col - start) * module, module, style="F")
                    start = None
    pdf.link(x, y, size, size, url)


def render_certificate(text: CertificateText) -> bytes:
    """The PDF bytes; deterministic content apart from the PDF's creation date."""
    pdf = _new_pdf(f"Zertifikat {text.serial} – {_nfc(text.holder_name)}")
    pdf.add_page()
    width = pdf.w - 50

    def para(
        value: str, size: float, style: str = "", gap: float = 3.0, tag: str = "P", color: RGB = (0, 0, 0)
    ) -> None:
        pdf.set_font(FAMILY, style, size)
        pdf.set_text_color(*color)
        pdf.set_x(25)
        with pdf.tagged(tag):
            pdf.multi_cell(width, size * 0.48, _nfc(value), align="C")
        pdf.ln(gap)

    with pdf.artifact():
        pdf.set_draw_color(*ACCENT)
        pdf.set_line_width(0.9)
        pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
        pdf.set_line_width(0.25)
        pdf.rect(13, 13, pdf.w - 26, pdf.h - 26)

    top = 24.0
    if text.logo is not None and text.logo.is_file():
        pdf.image(str(text.logo), x=pdf.w / 2 - 20, y=top, h=18, keep_aspect_ratio=True, alt_text="Logo")
        top += 22
    pdf.set_y(top)
    para(PROGRAMME, 13, "B", 1.5, color=ACCENT)
    para(PROGRAMME_LINE, 10, "", 14, color=GREY)
    pdf.set_char_spacing(3)
    para("ZERTIFIKAT", 34, "B", 6, tag="H1", color=ACCENT)
    pdf.set_char_spacing(0)
    numbered = text.cohort_title.startswith(f"{text.cohort_number}.")
    para(
        text.cohort_title if numbered else f"{text.cohort_title} ({text.cohort_number}. Durchgang)", 12, "", 1
    )
    period = programme_period(text.starts_on, text.ends_on)
    if period:
        para(f"Programmzeitraum: {period}", 10, "", 0, color=GREY)
    pdf.ln(14)
    para("Hiermit wird bestätigt, dass", 12, "", 5)
    para(text.holder_name, 26, "B", 6)
    para(
        f"als Mitglied des Entwicklungsteams der Kommune {text.municipality} erfolgreich an der "
        "Entwicklungswerkstatt teilgenommen und das Praxisprojekt",
        12,
        "",
        4,
    )
    para(f"„{text.project_title}“", 14, "B", 4)
    para("in der eigenen Kommune umgesetzt hat.", 12, "", 18)
    para(f"{text.place}, den {de_date(text.issued_on)}", 12, "", 22)
    with pdf.artifact():
        pdf.set_draw_color(*GREY)
        pdf.set_line_width(0.3)
        pdf.line(pdf.w / 2 - 40, pdf.get_y(), pdf.w / 2 + 40, pdf.get_y())
    pdf.ln(3)
    para(text.signatory_name, 12, "B", 1)
    para(text.signatory_title, 10, "", 0, color=GREY)

    qr_size, qr_y = 32.0, pdf.h - 58
    _qr(pdf, text.verification_url, 25, qr_y, qr_size)
    pdf.set_xy(25 + qr_size + 6, qr_y + 8)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FAMILY, "B", 10)
    with pdf.tagged("P"):
        pdf.multi_cell(pdf.w - 25 - pdf.get_x(), 5, f"Zertifikat Nr. {text.serial}")
    pdf.set_x(25 + qr_size + 6)
    pdf.set_font(FAMILY, "", 9)
    with pdf.tagged("P"):
        pdf.multi_cell(pdf.w - 25 - pdf.get_x(), 4.6, f"Echtheit prüfen: {short_url(text.verification_url)}")
    return bytes(pdf.output())
