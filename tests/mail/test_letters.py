"""Letters as templates: one file per kind, the same frame for all, plain text and its HTML alternative,
the programme's language."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from jinja2 import UndefinedError

from ews_cases.i18n.formatting import long_date, quoted
from ews_cases.mail import letters
from ews_cases.mail.letters import TEMPLATES, formal_name, greeting, greetings, letter_html, render_letter
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
    "session_changed",
    "password_reset",
    "invitation",
    "access_declined",
    "replace_certificate",
    "report_barrier",
    "audit_checkpoint",
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
    "role": "applicant",
    "cancelled": False,
    "fachtagung": {
        "title": "Fachtagung",
        "date": "Mittwoch, 15. September 2027",
        "time": "10:00",
        "place": "Düsseldorf",
    },
    "account_holders": [],
    "access_link": "https://ews.example.org/zugang/beantragen",
    "description": "Der Kontrast ist zu schwach.",
    "page": "Anmeldung",
    "sender": "Rita Rückmeldung",
    "note": (
        "ews.example.org/audit-log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— ews.example.org/audit-log AAA=\n"
    ),
    "origin": "ews.example.org/audit-log",
    "created": "23.03.2026, 11:00 Uhr",
    "filename": "pruefpunkt-3.txt",
    "checkpoints_url": "https://ews.example.org/api/v1/audit/checkpoints",
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
    named = {"name": name, "salutation": "Herr"} if name is not None else {}
    form = letters.letter_form("deadline_reminder", ["opening", "town", "unsubscribe_url"], **data)
    opening = greetings()(name, "Herr")
    assert form.fill(**reader, opening=opening) == render_letter(
        "deadline_reminder", **data, **reader, **named
    )


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (
            "deadline_reminder",
            {"days": 1},
            "\n\nDie Bewerbungsfrist endet morgen, am 09.03.2026, um 23:59 Uhr.\n\n",
        ),
        (
            "session_reminder",
            {"days": 1},
            "\n\nMorgen findet die Veranstaltung „Auftaktwerkstatt“ (Workshop) der 7. Entwicklungswerkstatt "
            "statt: am 23.03.2026, um 10:00 Uhr in Köln.\n\n",
        ),
        ("session_reminder", {"session_kind": "sonstiges", "session_kind_label": None}, " (sonstiges) "),
        # A title already in quotes, or with quotes inside, is quoted once, German style.
        ("session_reminder", {"title": '"Auftakt"'}, " die Veranstaltung „Auftakt“ (Workshop) "),
        (
            "session_reminder",
            {"title": "Tag „Engagement“"},
            " die Veranstaltung „Tag ‚Engagement‘“ (Workshop) ",
        ),
        ("deadline_reminder", {"days": 0}, "\n\nDie Bewerbungsfrist endet heute um 23:59 Uhr.\n\n"),
        (
            "announce_admission",
            {"fachtagung": None},
            "\n\nDie 7. Entwicklungswerkstatt beginnt mit einer Fachtagung. Ihren Termin und Ort teilen wir "
            "Ihnen mit, sobald sie feststehen.\n\n",
        ),
        (
            "announce_admission",
            {"fachtagung": {**SAMPLE["fachtagung"], "title": "Auftakt „Engagement“"}},
            " mit der Fachtagung „Auftakt ‚Engagement‘“ am Mittwoch, 15. September 2027, um 10:00 Uhr in Düsseldorf.",
        ),
        # Without a reason its paragraph stays, empty, as the letters were joined before the templates.
        ("explain_rejection", {"reason": ""}, " nicht berücksichtigen. Begründung:\n\n\n\nMit freundlichen"),
    ],
)
def test_variants_the_recording_does_not_show(kind: str, data: dict, expected: str):
    assert expected in render_letter(kind, **{**SAMPLE, **data}).body


@pytest.mark.parametrize(
    ("name", "salutation", "first_line"),
    [
        ("Anna Heide", "Frau", "Sehr geehrte Frau Heide,"),
        ("Jonas Berg", "Herr", "Sehr geehrter Herr Berg,"),
        ("Dr. Anna von der Heide", "Frau", "Sehr geehrte Frau Dr. von der Heide,"),
        ("Prof. Dr. Jan de Vries", "Herr", "Sehr geehrter Herr Prof. Dr. de Vries,"),
        ("Kim Sommer", "", "Guten Tag Kim Sommer,"),  # no salutation stated (e.g. divers)
        ("Kim Sommer", None, "Guten Tag Kim Sommer,"),
        ("", "Frau", "Guten Tag,"),
        (None, None, "Guten Tag,"),
    ],
)
def test_letters_greet_formally_when_the_salutation_is_known(name, salutation, first_line):
    named = {"name": name} if name is not None else {}
    if salutation is not None:
        named["salutation"] = salutation
    assert render_letter("confirm_withdrawal", **SAMPLE, **named).body.split("\n", 1)[0] == first_line
    assert greeting(name, salutation) == first_line
    assert greetings()(name, salutation) == first_line  # the same for many readers of one letter form


def test_a_single_word_name_is_the_family_name():
    assert formal_name("Heide") == "Heide"
    assert formal_name("von Heide") == "von Heide"


def test_every_letter_is_signed_with_the_programme_office_from_the_settings(app, monkeypatch):
    settings = app.extensions["ews"].settings
    for field, value in {
        "office_name": "Programmbüro EWS",
        "office_phone": "0211 1234-0",
        "office_email": "ews@land.example",
        "office_address": "Horionplatz 1, 40213 Düsseldorf",
    }.items():
        monkeypatch.setattr(settings, field, value)
    with app.app_context():
        body = render_letter("confirm_withdrawal", **SAMPLE).body
        assert (
            SIGNATURE + "\nProgrammbüro EWS\nHorionplatz 1, 40213 Düsseldorf\nTelefon: 0211 1234-0\n"
            "E-Mail: ews@land.example\n"
        ) in body
        monkeypatch.setattr(settings, "office_phone", "")  # a line without a value is left out
        assert "Telefon" not in render_letter("confirm_withdrawal", **SAMPLE).body


@pytest.mark.parametrize(
    ("holders", "expected"),
    [
        (
            ["Erika Muster (erika@altena.example)"],
            "In der Anwendung hat Erika Muster (erika@altena.example) einen Zugang für Altena und kann die "
            "Bewerbung dort überarbeiten und erneut einreichen.",
        ),
        (
            ["A (a@altena.example)", "B (b@altena.example)", "C (c@altena.example)"],
            "In der Anwendung haben A (a@altena.example), B (b@altena.example) und C (c@altena.example) einen "
            "Zugang für Altena und können die Bewerbung dort überarbeiten und erneut einreichen.",
        ),
        (
            [],
            "Für Altena hat noch niemand einen Zugang zur Anwendung. Einen Zugang können Sie hier beantragen: "
            "https://ews.example.org/zugang/beantragen",
        ),
    ],
)
def test_a_reader_without_an_account_learns_who_can_revise_instead_of_a_link(holders, expected):
    data = {k: v for k, v in SAMPLE.items() if k != "case_link"} | {"account_holders": holders}
    body = render_letter("explain_revision", **data).body
    assert expected in body
    assert "/faelle/" not in body


class _Text(HTMLParser):
    """The text of an HTML document's body and the targets of its links."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.title = ""
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self._in.append(tag)
        if tag == "a":
            self.links.append(dict(attrs)["href"])
        if tag == "br":
            self._in.pop()

    def handle_endtag(self, tag):
        self._in.pop()

    def handle_data(self, data):
        if "title" in self._in:
            self.title += data
        elif "body" in self._in:
            self.text.append(data)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_letter_renders_as_text_and_as_html_from_the_same_data(kind: str):
    """The HTML alternative says exactly what the text says: the same words, every address a link."""
    data = {**SAMPLE, "town": "O'Brien & <Söhne>", "reason": 'Fehlt: "Anlage <3>" & Unterschrift'}
    letter = render_letter(kind, **data)
    parsed = _Text()
    parsed.feed(letter.html)
    assert parsed.title == letter.subject
    assert " ".join("".join(parsed.text).split()) == " ".join(letter.body.split())
    urls = [word.rstrip(".,;:") for word in letter.body.split() if word.startswith("https://")]
    assert parsed.links == urls
    assert letter.html.startswith('<!DOCTYPE html>\n<html lang="de">')
    assert "<Söhne>" not in letter.html  # escaped: data is never markup


def test_html_keeps_the_lines_of_a_paragraph_and_leaves_out_empty_ones():
    html = letter_html("Betreff", "Guten Tag,\n\nZeile eins\nZeile zwei\n\n\n\nEnde\n")
    assert "<p>Guten Tag,</p>" in html
    assert "<p>Zeile eins<br>\nZeile zwei</p>" in html
    assert "<p></p>" not in html


def test_quoted_and_long_date(app):
    from datetime import date

    assert quoted("Fachtagung") == "„Fachtagung“"
    assert quoted("„Fachtagung“") == "„Fachtagung“"
    assert quoted('"Fachtagung"') == "„Fachtagung“"
    assert quoted('Tag "A" und „B“') == "„Tag ‚A‘ und ‚B‘“"
    with app.test_request_context():
        assert long_date(date(2027, 7, 15)) == "15. Juli 2027"
        assert long_date(date(2027, 7, 15), weekday=True) == "Donnerstag, 15. Juli 2027"
