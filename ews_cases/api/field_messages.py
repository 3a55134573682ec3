"""German versions of the English validation messages of marshmallow, webargs and APIFlask.

Those libraries write their messages in English and offer no catalogue, so the API's problem handler passes
each field message through `localise_field_message` for the reader's locale. Fixed messages are looked up
exactly; parameterised ones are matched by pattern and keep their numbers, choices and values.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FIXED: dict[str, str] = {
    # marshmallow.fields.Field and the schema
    "Missing data for required field.": "Diese Angabe ist erforderlich.",
    "Field may not be null.": "Dieses Feld darf nicht null sein.",
    "Invalid value.": "Ungültiger Wert.",
    "Invalid input type.": "Ungültiger Eingabetyp.",
    "Invalid type.": "Ungültiger Typ.",
    "Unknown field.": "Unbekanntes Feld.",
    # scalar fields
    "Not a valid string.": "Keine gültige Zeichenkette.",
    "Not a valid utf-8 string.": "Keine gültige UTF-8-Zeichenkette.",
    "Not a valid number.": "Keine gültige Zahl.",
    "Number too large.": "Die Zahl ist zu groß.",
    "Not a valid integer.": "Keine gültige ganze Zahl.",
    "Special numeric values (nan or infinity) are not permitted.": (
        "Besondere Zahlenwerte (NaN oder unendlich) sind nicht zulässig."
    ),
    "Not a valid boolean.": "Kein gültiger Wahrheitswert (true oder false).",
    "Not a valid UUID.": "Keine gültige UUID.",
    "Not a valid URL.": "Keine gültige URL.",
    "Not a valid email address.": "Keine gültige E-Mail-Adresse.",
    "Not a valid IP address.": "Keine gültige IP-Adresse.",
    "Not a valid IPv4 address.": "Keine gültige IPv4-Adresse.",
    "Not a valid IPv6 address.": "Keine gültige IPv6-Adresse.",
    "Not a valid IP interface.": "Keine gültige IP-Schnittstelle.",
    "Not a valid IPv4 interface.": "Keine gültige IPv4-Schnittstelle.",
    "Not a valid IPv6 interface.": "Keine gültige IPv6-Schnittstelle.",
    # dates and times
    "Not a valid datetime.": "Kein gültiger Zeitpunkt (Datum und Uhrzeit).",
    "Not a valid naive datetime.": "Kein gültiger Zeitpunkt ohne Zeitzone.",
    "Not a valid aware datetime.": "Kein gültiger Zeitpunkt mit Zeitzone.",
    "Not a valid date.": "Kein gültiges Datum.",
    "Not a valid time.": "Keine gültige Uhrzeit.",
    "Not a valid naive time.": "Keine gültige Uhrzeit ohne Zeitzone.",
    "Not a valid aware time.": "Keine gültige Uhrzeit mit Zeitzone.",
    "Not a valid period of time.": "Keine gültige Zeitspanne.",
    # containers
    "Not a valid list.": "Keine gültige Liste.",
    "Not a valid tuple.": "Keine gültige Folge von Werten.",
    "Not a valid mapping type.": "Kein gültiges Objekt.",
    "Not a valid delimited list.": "Keine gültige Liste mit Trennzeichen.",
    "Not a valid delimited tuple.": "Keine gültige Folge von Werten mit Trennzeichen.",
    "Not a valid file.": "Keine gültige Datei.",
    # validators
    "String does not match expected pattern.": "Der Text entspricht nicht dem erwarteten Format.",
    "Invalid input.": "Ungültige Eingabe.",
    # webargs
    "Invalid JSON body.": "Der Inhalt ist kein gültiges JSON.",
}

_TEMPORAL = {"datetime": "Zeitpunkt", "date": "Datum", "time": "Uhrzeit", "timedelta": "Zeitspanne"}
_LOWER = {"greater than or equal to": "mindestens {}", "greater than": "größer als {}"}
_UPPER = {"less than or equal to": "höchstens {}", "less than": "kleiner als {}"}
_LOWER_OPS = "|".join(map(re.escape, _LOWER))  # longest alternative first: "… or equal to" before "than"
_UPPER_OPS = "|".join(map(re.escape, _UPPER))


def _range(match: re.Match[str]) -> str:
    """Range's "Must be greater than … and less than or equal to …" in German."""
    found = match.groupdict()
    low_op, high_op = found.get("low_op"), found.get("high_op")
    if low_op == "greater than or equal to" and high_op == "less than or equal to":
        return f"Erlaubt sind Werte von {found['low']} bis {found['high']}."
    parts = ([_LOWER[low_op].format(found["low"])] if low_op else []) + (
        [_UPPER[high_op].format(found["high"])] if high_op else []
    )
    return f"Der Wert muss {' und '.join(parts)} sein."


PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    # marshmallow.validate.Length
    (
        re.compile(r"Length must be between (?P<min>.+?) and (?P<max>.+)\."),
        lambda m: f"Die Länge muss zwischen {m['min']} und {m['max']} liegen.",
    ),
    (
        re.compile(r"Longer than maximum length (?P<max>.+)\."),
        lambda m: f"Die Länge darf höchstens {m['max']} betragen.",
    ),
    (
        re.compile(r"Shorter than minimum length (?P<min>.+)\."),
        lambda m: f"Die Länge muss mindestens {m['min']} betragen.",
    ),
    (re.compile(r"Length must be (?P<equal>.+)\."), lambda m: f"Die Länge muss genau {m['equal']} betragen."),
    # marshmallow.validate.Range
    (
        re.compile(
            rf"Must be (?P<low_op>{_LOWER_OPS}) (?P<low>.+?) and (?P<high_op>{_UPPER_OPS}) (?P<high>.+)\."
        ),
        _range,
    ),
    (re.compile(rf"Must be (?P<low_op>{_LOWER_OPS}) (?P<low>.+)\."), _range),
    (re.compile(rf"Must be (?P<high_op>{_UPPER_OPS}) (?P<high>.+)\."), _range),
    # OneOf, Enum, ContainsOnly, ContainsNoneOf, Equal
    (re.compile(r"Must be one of: (?P<choices>.*)\."), lambda m: f"Erlaubt sind: {m['choices']}."),
    (
        re.compile(r"One or more of the choices you made was not in: (?P<choices>.*)\."),
        lambda m: f"Mindestens eine Auswahl ist nicht zulässig; erlaubt sind: {m['choices']}.",
    ),
    (
        re.compile(r"One or more of the choices you made was in: (?P<values>.*)\."),
        lambda m: f"Mindestens eine Auswahl ist nicht zulässig: {m['values']}.",
    ),
    (re.compile(r"Must be equal to (?P<other>.*)\."), lambda m: f"Der Wert muss gleich {m['other']} sein."),
    # temporal fields that cannot serialise a value
    (
        re.compile(r"(?P<input>.*) cannot be formatted as a (?P<type>datetime|date|time|timedelta)\."),
        lambda m: f"{m['input']} lässt sich nicht als {_TEMPORAL[m['type']]} darstellen.",
    ),
    # flask_marshmallow.validate.FileType
    (
        re.compile(r"Not an allowed file type\. Allowed file types: \[(?P<extensions>.*)\]"),
        lambda m: f"Dieser Dateityp ist nicht erlaubt. Erlaubt sind: {m['extensions']}.",
    ),
)


def localise_field_message(message: str, locale: str) -> str:
    """`message` (a library's English validation message) in `locale`; unknown messages stay as they are."""
    if str(locale).replace("-", "_").split("_", 1)[0].lower() != "de":
        return message
    fixed = FIXED.get(message)
    if fixed is not None:
        return fixed
    for pattern, render in PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return render(match)
    return message
