"""Letters as templates: one file per kind, the same frame for all, plain text, the programme's language."""

from __future__ import annotations

import pytest

from ews_cases.mail import letters
from ews_cases.mail.letters import TEMPLATES, render_letter
from workflows import Effect

#: Every kind of letter the service writes; each is `templates/mail/<kind>.txt`.
KINDS = {
    "confirm_submission",
    "explain_revision",
    "notify_coordinators_reviewed",
    "announce_admission",
    "announce_waitlist",
    "explain_rejection",
    "confirm_withdrawal",
    "announce_free_place",
    "welcome_with_calendar",
    "explain_drop_out",
    "send_certificates",
}

#: Enough data for any letter: a name a template does not know fails the rendering (StrictUndefined).
SAMPLE = {
    "ref": "EWS-2026-001",
    "town": "Altena",
    "cohort": "7. Entwicklungswerkstatt",
    "reason": "Die Begründung.",
    "case_link": "https://ews.example.org/faelle/1",
    "serial": "EWS7-0001",
    "url": "https://ews.example.org/verify/abc",
}
SIGNATURE = "Mit freundlichen Grüßen\nIhr Team der Entwicklungswerkstatt für kommunale Engagementstrategien\n"


def test_every_kind_has_its_template_and_no_template_is_left_over():
    files = {path.stem for path in (TEMPLATES / "mail").glob("*.txt") if not path.name.startswith("_")}
    assert files == KINDS


def test_every_effect_but_the_certificate_issuance_writes_a_letter_of_its_own_kind():
    assert {effect.value for effect in Effect} - KINDS == {Effect.QUEUE_CERTIFICATES.value}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_letter_has_a_one_line_subject_and_the_shared_greeting_and_signature(kind: str):
    letter = render_letter(kind, **SAMPLE)
    assert letter.subject
    assert letter.subject.strip() == letter.subject
    assert "\n" not in letter.subject
    assert letter.body.startswith("Guten Tag,\n\n")
    assert letter.body.endswith("\n\n" + SIGNATURE)
    assert "\n\n\n" not in letter.body  # paragraphs apart by one empty line (a reason is given here)


def test_plain_text_letters_are_not_html_escaped():
    town, reason = "O'Brien & Söhne", 'Fehlt: "Anlage <3>" & Unterschrift'
    letter = render_letter(
        "explain_drop_out", **{**SAMPLE, "town": town, "cohort": "A & B", "reason": reason}
    )
    assert letter.subject == "Teilnahme an der A & B beendet"
    assert f"die Teilnahme der Kommune {town} an der A & B ist beendet." in letter.body
    assert f"\n\n{reason}\n\n" in letter.body
    assert "&amp;" not in letter.body
    assert "&#39;" not in letter.body


def test_braces_in_the_data_are_kept():
    letter = render_letter("confirm_withdrawal", **{**SAMPLE, "ref": "{ref} {0}"})
    assert letter.subject == "Bewerbung {ref} {0} zurückgezogen"


def test_a_name_the_template_does_not_get_fails_the_rendering():
    with pytest.raises(Exception, match="'ref' is undefined"):
        render_letter("confirm_withdrawal")


@pytest.mark.parametrize(
    ("programme", "reader", "subject"),
    [
        ("de", "en", "Bewerbung EWS-2026-001 eingegangen"),
        ("en", "de", "Application EWS-2026-001 received"),
    ],
)
def test_letters_are_written_in_the_programme_language_whatever_the_readers(
    app, monkeypatch, programme: str, reader: str, subject: str
):
    settings = app.extensions["ews"].settings.model_copy(update={"default_locale": programme})
    monkeypatch.setattr(letters, "current_settings", lambda: settings)
    with app.test_request_context(headers={"Accept-Language": reader}):
        assert render_letter("confirm_submission", **SAMPLE).subject == subject
