"""The password rules (BSI: length over composition) in the one function every password-setting place calls."""

from __future__ import annotations

import pytest

from ews_cases.services.passwords import MAX_LENGTH, MIN_LENGTH, check_new_password, common_passwords

EMAIL, NAME = "erika.mustermann@finnentrop.de", "Erika Mustermann"


def problems(password: str) -> list[str]:
    return check_new_password(password, email=EMAIL, name=NAME)


@pytest.mark.parametrize(
    "password",
    [
        "Mein Hund heißt Bello seit 2019",  # a sentence: long, no special characters needed
        "zwei Kaffee und ein Brötchen",
        "7gh!8Ks02#91",  # random, exactly the minimum
        "8713!0429#55",  # random digits and symbols
        "korrekt pferd batterie heftklammer",
        "x" * 3 + "Ölkännchen-Rüsselsheim",
        "ä" * 4 + "ö" * 4 + "ü" * 4 + "ß",
    ],
)
def test_long_passwords_without_composition_rules_are_accepted(password):
    assert problems(password) == []


def test_length_is_counted_in_characters_with_the_bounds_named():
    assert problems("a1!" + "b" * (MIN_LENGTH - 4)) == [
        f"Das Passwort ist zu kurz: mindestens {MIN_LENGTH} Zeichen, Sie haben {MIN_LENGTH - 1} eingegeben. "
        "Am besten eignet sich ein Satz aus mehreren Wörtern."
    ]
    assert problems("Hänsel&Gretel" + "!" * (MAX_LENGTH - 13)) == []
    assert problems("Hänsel&Gretel" + "!" * (MAX_LENGTH - 12)) == [
        f"Das Passwort ist zu lang: höchstens {MAX_LENGTH} Zeichen."
    ]
    assert len(problems("")) == len(problems("demo")) == 1


COMMON = (
    "Dieses Passwort ist zu verbreitet: Es steht (auch mit Ziffern oder Zeichen davor oder dahinter) auf "
    "einer Liste häufig verwendeter Passwörter."
)


@pytest.mark.parametrize(
    "password",
    [
        "sonnenschein",  # on the list as it is
        "Sonnenschein",  # case does not matter
        "Sommer2025!!",  # a listed word with the usual decoration
        "passwort1234",
        "!!Fussball2024",
        "Entwicklungswerkstatt2025",  # the service's own name
        "q1w2e3r4t5y6",
    ],
)
def test_common_passwords_from_the_shipped_list_are_refused(password):
    assert problems(password) == [COMMON]


def test_the_shipped_list_is_read_from_the_package():
    words = common_passwords()
    assert len(words) >= 19_000
    assert {"passwort", "hallo123", "sonnenschein", "123456"} <= words


SEQUENCE = (
    "Das Passwort ist eine Zeichenfolge oder Wiederholung (z. B. „123456789012“) und leicht zu erraten."
)


@pytest.mark.parametrize(
    "password",
    ["123456789012", "210987654321", "abcdefghijklm", "qwertzuiopü1", "aaaaaaaaaaaa", "abcabcabcabc"],
)
def test_sequences_and_repetitions_are_refused(password):
    assert problems(password) == [SEQUENCE]


@pytest.mark.parametrize(
    "password",
    [
        "erika.mustermann@finnentrop.de",
        "ERIKA.MUSTERMANN@finnentrop.de",
        "erika.mustermann",
        "Erika Mustermann",
        "erikamustermann2025!",
        "Mustermann12345",
    ],
)
def test_the_persons_own_address_or_name_is_refused(password):
    assert problems(password) == ["Das Passwort darf nicht Ihre E-Mail-Adresse oder Ihr Name sein."]
    # Somebody else may use it (it is not common, merely somebody's name).
    assert check_new_password(password, email="someone@example.org", name="Max Muster") == []


def test_the_messages_are_translated_in_a_request_that_prefers_english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert problems("kurz") == [
            f"The password is too short: at least {MIN_LENGTH} characters, you entered 4. "
            "A sentence of several words works best."
        ]
