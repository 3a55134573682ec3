"""Translations: every German msgid has an English text, catalogues compile, requests pick the locale."""

from __future__ import annotations

import functools
import os
import re
import shutil
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select

from ews_cases.api.errors import STATUS_TITLES
from ews_cases.api.field_messages import localise_field_message
from ews_cases.i18n import translate
from ews_cases.i18n.build import TRANSLATIONS_DIR, compile_catalogues

ROOT = Path(__file__).resolve().parents[1]
PERCENT_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]")
EN_PO = TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"


def setup_module() -> None:
    # Flask-Babel reads the compiled `.mo`, which is build output and not committed.
    compile_catalogues()


@functools.cache
def extracted_msgids() -> dict[str, list[str]]:
    """What `pybabel extract -F babel.cfg -k _ -k N_` finds: msgid → source locations."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(["_", "N_"])}
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def english_catalogue() -> dict[str, str]:
    with EN_PO.open("rb") as po:
        catalog = read_po(po, locale="en")
    return {m.id: m.string for m in catalog if m.id and m.string and "fuzzy" not in m.flags}


def placeholders(text: str) -> set[str]:
    """`{name}` (Python code, `ews_cases.i18n.translate._`) and `%(name)s` (Jinja templates, Flask-Babel's `_`)."""
    braces = {
        f"{{{name}}}" for _text, name, _spec, _conv in string.Formatter().parse(text) if name is not None
    }
    return braces | {f"%({name})" for name in PERCENT_PLACEHOLDER.findall(text)}


# -- (a) the English catalogue is complete ------------------------------------------------------------------
def test_extraction_finds_the_marked_strings():
    msgids = extracted_msgids()
    assert "Entwurf" in msgids  # state label (N_ in workflows/definition.py)
    assert "Die Bewerbungsfrist ist am {deadline} abgelaufen." in msgids  # guard message
    assert "Bewerbung {ref} eingegangen" in msgids  # email subject (_ in services/notifications.py)
    assert "Bitte melden Sie sich an: Authorization: Bearer <Token>." in msgids  # API error
    assert not any("tests/" in loc for locs in msgids.values() for loc in locs)


def test_every_msgid_has_an_english_translation_with_the_same_placeholders():
    english = english_catalogue()
    untranslated = {msgid: locs for msgid, locs in extracted_msgids().items() if msgid not in english}
    assert not untranslated, (
        "German msgids without an English translation (see babel.cfg for the update commands): "
        + "; ".join(f"{msgid!r} at {', '.join(locs)}" for msgid, locs in untranslated.items())
    )
    mismatched = {msgid: text for msgid, text in english.items() if placeholders(msgid) != placeholders(text)}
    assert not mismatched, f"translations with other {{placeholders}} than their msgid: {mismatched}"


def test_templates_fill_braced_placeholders_like_the_code(app):
    """Templates call the same `_` as the code (set in create_app), so `{name}` placeholders are filled."""
    with app.test_request_context(headers={"Accept-Language": "de"}):
        rendered = app.jinja_env.from_string(
            '{{ _("{email} erhält keine Erinnerungen an die Bewerbungsfrist mehr.", email="a@example.org") }}'
        ).render()
    assert rendered == "a@example.org erhält keine Erinnerungen an die Bewerbungsfrist mehr."


def test_problem_titles_are_translated():
    english = english_catalogue()
    assert sorted(title for title in STATUS_TITLES.values() if title not in english) == []


# -- (b) compiling ------------------------------------------------------------------------------------------
def test_compile_catalogues_writes_each_mo_once(tmp_path: Path):
    shutil.copytree(TRANSLATIONS_DIR, tmp_path, dirs_exist_ok=True)
    for stale in tmp_path.rglob("*.mo"):
        stale.unlink()
    mo_path = tmp_path / "en" / "LC_MESSAGES" / "messages.mo"

    assert compile_catalogues(tmp_path) == [mo_path]
    assert Translations.load(str(tmp_path), ["en"]).gettext("Entwurf") == "Draft"
    assert compile_catalogues(tmp_path) == []  # nothing changed: nothing compiled

    po_path = mo_path.with_suffix(".po")
    for shift in (+2_000_000_000, -2_000_000_000):  # edited (newer), or replaced by an older-dated copy
        changed = mo_path.stat().st_mtime_ns + shift
        os.utime(po_path, ns=(changed, changed))
        assert compile_catalogues(tmp_path) == [mo_path]
        assert compile_catalogues(tmp_path) == []
    assert compile_catalogues(tmp_path, force=True) == [mo_path]
    assert not list(mo_path.parent.glob("*.tmp"))


def test_compile_catalogues_compiles_the_package_catalogues():
    compile_catalogues()
    assert (TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.mo").is_file()


# -- (c) the locale of the request --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("en", "Draft"),
        ("en-GB,en;q=0.9", "Draft"),
        ("de", "Entwurf"),
        ("de-DE,de;q=0.9,en;q=0.8", "Entwurf"),
        ("de-DE,en;q=0.5", "Entwurf"),
        ("", "Entwurf"),
    ],
)
def test_request_locale_selects_the_translation(app, accept_language: str, expected: str):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    with app.test_request_context(headers=headers):
        assert translate._("Entwurf") == expected


def test_placeholders_are_filled_after_translation(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert (
            translate._("Bewerbung {ref} eingegangen", ref="EWS-2025-001")
            == "Application EWS-2025-001 received"
        )
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert (
            translate._("Bewerbung {ref} eingegangen", ref="EWS-2025-001")
            == "Bewerbung EWS-2025-001 eingegangen"
        )


def test_a_refusal_is_rendered_in_the_readers_language_with_the_status_pages_and_api_share(app):
    from ews_cases.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed

    refusal = Conflict("Bewerbung {ref} eingegangen", ref="EWS-2025-001")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert refusal.render(translate._) == "Application EWS-2025-001 received"
    assert refusal.render(translate._) == "Bewerbung EWS-2025-001 eingegangen"  # no request: the German msgid
    statuses = [cls("x").status for cls in (NotFound, Forbidden, Conflict, DomainError)]
    assert statuses == [404, 403, 409, 400]
    assert ValidationFailed({"name": ["leer"]}).status == 422


def test_without_app_context_the_german_msgid_is_used():
    assert translate._("Entwurf") == "Entwurf"


# -- (d) the API answers in the reader's language -----------------------------------------------------------
def test_problem_detail_follows_accept_language(app):
    client = app.test_client()
    english = client.get("/api/v1/cases", headers={"Accept-Language": "en"})
    assert english.status_code == 401
    assert english.mimetype == "application/problem+json"
    assert english.json["detail"] == "Please sign in: Authorization: Bearer <Token>."
    assert english.json["title"] == "Not signed in"

    german = client.get("/api/v1/cases", headers={"Accept-Language": "de"})
    assert german.json["detail"] == "Bitte melden Sie sich an: Authorization: Bearer <Token>."
    assert german.json["title"] == "Nicht angemeldet"


def test_emails_are_in_the_programme_language_whatever_the_callers_language(app, session, factory):
    """An office worker reading the API in English still writes to the municipalities in German."""
    from ews_cases.models import OutboxMessage
    from tests.api.test_participation_api import token_for
    from workflows import State

    # Arranged in the `session` fixture's app context: the request gets its own (tests/conftest.py), so its
    # locale is the caller's, not one cached by the arranging code.
    case = factory.case(factory.cohort(), state=State.REVIEWED)
    token = token_for(session, factory, "coordinator")
    case_id, reference, version = case.id, case.reference, case.version
    answer = app.test_client().post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"name": "waitlist", "version": version},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json["state_label"] == "Waiting list"  # the answer follows the reader's language
    emails = session.execute(
        select(OutboxMessage.subject, OutboxMessage.body).where(
            OutboxMessage.case_id == case_id, OutboxMessage.kind == "announce_waitlist"
        )
    ).all()
    assert [subject for subject, _body in emails] == [f"Bewerbung {reference}: Warteliste"]
    assert emails[0].body.startswith("Guten Tag Erika Beispiel,")
    assert "steht auf der Warteliste" in emails[0].body


# -- (e) the libraries' English validation messages in German ------------------------------------------------
@pytest.mark.parametrize(
    ("english", "german"),
    [
        ("Missing data for required field.", "Diese Angabe ist erforderlich."),
        ("Unknown field.", "Unbekanntes Feld."),
        ("Field may not be null.", "Dieses Feld darf nicht null sein."),
        ("Not a valid integer.", "Keine gültige ganze Zahl."),
        ("Not a valid email address.", "Keine gültige E-Mail-Adresse."),
        ("Invalid JSON body.", "Der Inhalt ist kein gültiges JSON."),
        ("Length must be between 1 and 200.", "Die Länge muss zwischen 1 und 200 liegen."),
        ("Longer than maximum length 20000.", "Die Länge darf höchstens 20000 betragen."),
        ("Shorter than minimum length 3.", "Die Länge muss mindestens 3 betragen."),
        ("Length must be 8.", "Die Länge muss genau 8 betragen."),
        (
            "Must be greater than or equal to 1 and less than or equal to 10000.",
            "Erlaubt sind Werte von 1 bis 10000.",
        ),
        ("Must be greater than or equal to 1.", "Der Wert muss mindestens 1 sein."),
        ("Must be less than or equal to 500.", "Der Wert muss höchstens 500 sein."),
        ("Must be greater than 0 and less than 1.", "Der Wert muss größer als 0 und kleiner als 1 sein."),
        ("Must be greater than 0.5.", "Der Wert muss größer als 0.5 sein."),
        ("Must be one of: draft, submitted, reviewed.", "Erlaubt sind: draft, submitted, reviewed."),
        ("String does not match expected pattern.", "Der Text entspricht nicht dem erwarteten Format."),
        ("Some message no library writes.", "Some message no library writes."),
    ],
)
def test_field_messages_in_german(english: str, german: str):
    assert localise_field_message(english, "de") == german
    assert localise_field_message(english, "de_DE") == german
    assert localise_field_message(english, "en") == english


def _raise(check: Callable[[], Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        check()
    messages = caught.value.messages
    return messages if isinstance(messages, list) else [str(m) for m in messages.values()]


LIBRARY_ERRORS: list[Callable[[], Any]] = [
    lambda: fields.Integer(required=True).deserialize(fields.missing_),
    lambda: fields.String().deserialize(None),
    lambda: fields.Integer().deserialize("x"),
    lambda: fields.Float().deserialize("x"),
    lambda: fields.Float().deserialize("nan"),
    lambda: fields.String().deserialize(1),
    lambda: fields.Boolean().deserialize("x"),
    lambda: fields.Date().deserialize("x"),
    lambda: fields.DateTime().deserialize("x"),
    lambda: fields.AwareDateTime().deserialize("2025-01-01T10:00"),
    lambda: fields.Time().deserialize("x"),
    lambda: fields.List(fields.Integer()).deserialize(1),
    lambda: fields.Dict().deserialize(1),
    lambda: fields.Email().deserialize("x"),
    lambda: fields.Url().deserialize("x"),
    lambda: fields.UUID().deserialize("x"),
    lambda: validate.Length(1, 5)(""),
    lambda: validate.Length(max=5)("123456"),
    lambda: validate.Length(min=2)("1"),
    lambda: validate.Length(equal=3)("1"),
    lambda: validate.Range(1, 10)(0),
    lambda: validate.Range(1)(0),
    lambda: validate.Range(max=5)(9),
    lambda: validate.Range(0, 1, min_inclusive=False, max_inclusive=False)(1),
    lambda: validate.OneOf(["a", "b"])("c"),
    lambda: validate.Regexp("x")("y"),
    lambda: validate.ContainsOnly([1, 2])([3]),
    lambda: validate.Equal(3)(4),
]


@pytest.mark.parametrize("check", LIBRARY_ERRORS)
def test_the_libraries_messages_are_all_known(check: Callable[[], Any]):
    """Guards against a marshmallow upgrade rewording its messages: each must still be localised."""
    for message in _raise(check):
        assert localise_field_message(message, "de") != message, message
