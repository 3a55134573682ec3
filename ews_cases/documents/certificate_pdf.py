"""The certificate as an A4 PDF in German, with a QR code pointing to its public verification page."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import segno
from fpdf import FPDF

from ews_cases.i18n.formatting import de_date

# The PDF core fonts cover Latin-1 (all German letters); typographic marks outside it get plain stand-ins.
_REPLACEMENTS = str.maketrans(
    {
        "„": '"',
        "“": '"',
        "”": '"',
        "‚": "'",
        "‘": "'",
        "’": "'",
        "–": "-",
        "—": "-",
        "…": "...",
        "\u00a0": " ",
    }
)


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


def _latin1(text: str) -> str:
    return text.translate(_REPLACEMENTS).encode("latin-1", "replace").decode("latin-1")


def render_certificate(text: CertificateText) -> bytes:
    """The PDF bytes; deterministic content apart from the PDF's creation date."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(_latin1(f"Zertifikat {text.serial}"))
    pdf.set_author("Entwicklungswerkstatt für kommunale Engagementstrategien")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    width = pdf.w - 40

    def line(value: str, size: float, style: str = "", gap: float = 4) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.set_x(20)
        pdf.multi_cell(width, size * 0.5, _latin1(value), align="C")
        pdf.ln(gap)

    pdf.set_y(35)
    line("ZERTIFIKAT", 30, "B", 8)
    line("Entwicklungswerkstatt für kommunale Engagementstrategien", 14, "", 2)
    numbered = text.cohort_title.startswith(f"{text.cohort_number}.")
    line(
        text.cohort_title if numbered else f"{text.cohort_title} ({text.cohort_number}. Durchgang)",
        12,
        "",
        16,
    )
    line(text.holder_name, 24, "B", 8)
    line(
        f"hat als Mitglied des Entwicklungsteams der Kommune {text.municipality} erfolgreich an der "
        f"Entwicklungswerkstatt teilgenommen und das Praxisprojekt",
        12,
        "",
        3,
    )
    line(f"„{text.project_title}“", 14, "B", 3)
    line("in der eigenen Kommune umgesetzt.", 12, "", 20)
    line(f"{text.place}, den {de_date(text.issued_on)}", 12, "", 24)
    pdf.set_draw_color(80, 80, 80)
    pdf.line(pdf.w / 2 - 40, pdf.get_y(), pdf.w / 2 + 40, pdf.get_y())
    pdf.ln(3)
    line(text.signatory_name, 12, "B", 1)
    line(text.signatory_title, 10, "", 0)

    qr = io.BytesIO()
    segno.make(text.verification_url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    pdf.image(qr, x=20, y=pdf.h - 62, w=38, h=38)
    pdf.set_xy(62, pdf.h - 56)
    pdf.set_font("helvetica", "", 9)
    pdf.multi_cell(
        pdf.w - 82, 5, _latin1(f"Zertifikat Nr. {text.serial}\nEchtheit prüfen: {text.verification_url}")
    )
    pdf.link(20, pdf.h - 62, 38, 38, text.verification_url)
    return bytes(pdf.output())
