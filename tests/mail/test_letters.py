"""Letters as templates: one file per kind, the same frame for all, plain text, the programme's language."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

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
    "deadline_reminder",
    "session_reminder",
    "password_reset",
    "replace_certificate",
}

#: Enough data for any letter: a name a template does not know fails the rendering (StrictUndefined).
SAMPLE = {
    "ref": "EWS-2026-001",
    "town": "Altena",
    "cohort": "7. Entwicklungswerkstatt",
    "reason": "Die Begründung.",
    "case_link": "https://ews.example.org/faelle/1",
    "serial": "EWS7-0001",
    "old_serial": "EWS7-0000",
    "url": "https://ews.example.org/verify/abc",
    "deadline": "09.03.2026",
    "days": 7,
    "size": 3,
    "form_url": "https://ews.example.org/bewerbungen/neu?durchgang=7",
    "has_draft": False,
    "unsubscribe_url": "https://ews.example.org/unsubscribe/xyz",
    "title": "Auftaktwerkstatt",
    "session_kind": "workshop",
    "session_kind_label": "Workshop",
    "date": "23.03.2026",
    "time": "10:00",
    "place": "Köln",
    "rule": "nach mittlerer Punktzahl, dann Eingangsreihenfolge",
    "next_ref": "EWS7-0003",
    "next_town": "Olpe",
    "next_score": "3,8",
    "dashboard_link": "https://ews.example.org/programm?durchgang=7",
    "email": "erika@example.org",
    "link": "https://ews.example.org/passwort-vergessen/abc",
    "until": "23.03.2026, 11:00 Uhr",
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
    assert "\n\n" + SIGNATURE in letter.body
    assert letter.body.endswith("\n")
    assert "\n\n\n" not in letter.body  # paragraphs apart by one empty line (a reason is given here)


def test_a_letter_given_a_name_greets_its_reader_by_name():
    assert render_letter("confirm_withdrawal", **SAMPLE, name="Dana Entwurf").body.startswith(
        "Guten Tag Dana Entwurf,\n\n"
    )


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
    with pytest.raises(UndefinedError, match="'ref' is undefined"):
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


@pytest.mark.parametrize("has_draft", [False, True])
@pytest.mark.parametrize("name", ["Dana Entwurf", "O'Brien & {Söhne} {0} %s \\", None])
@pytest.mark.parametrize("town", ["Altena", "{town} & {name}"])
def test_a_letter_form_filled_in_is_the_letter_rendered_for_that_reader(
    has_draft: bool, name: str | None, town: str
):
    reader = {"town": town, "unsubscribe_url": "https://ews.example.org/unsubscribe/{t}"}
    data = {k: v for k, v in SAMPLE.items() if k not in reader} | {
        "cohort": "7. {x} & Co",
        "has_draft": has_draft,
    }
    named = {"name": name} if name is not None else {}
    blanks = ["town", "unsubscribe_url", *named]
    form = letters.letter_form("deadline_reminder", blanks, **data)
    assert form.fill(**reader, **named) == render_letter("deadline_reminder", **data, **reader, **named)


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (
            "deadline_reminder",
            {"days": 1},
            "\n\nDie Bewerbungsfrist endet morgen, am 09.03.2026 um 23:59 Uhr.\n\n",
        ),
        (
            "session_reminder",
            {"days": 1},
            "\n\nMorgen findet die Veranstaltung „Auftaktwerkstatt“ (Workshop) der 7. Entwicklungswerkstatt "
            "statt: am 23.03.2026 um 10:00 Uhr in Köln.\n\n",
        ),
        ("session_reminder", {"session_kind": "sonstiges", "session_kind_label": None}, " (sonstiges) "),
        # Without a reason its paragraph stays, empty, as the letters were joined before the templates.
        ("explain_rejection", {"reason": ""}, " nicht berücksichtigen. Begründung:\n\n\n\nMit freundlichen"),
    ],
)
def test_variants_the_recording_does_not_show(kind: str, data: dict, expected: str):
    assert expected in render_letter(kind, **{**SAMPLE, **data}).body
