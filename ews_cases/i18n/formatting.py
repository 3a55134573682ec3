"""German dates, times and numbers as every page, letter and document shows them (Europe/Berlin).

One set of functions, registered once as Jinja filters (`{{ case.submitted_at|de_date }}`) and called by
services where they write text (letters, certificates).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from babel.dates import format_date as babel_format_date
from flask import Flask, has_app_context
from flask_babel import format_date

from ews_cases.i18n.translate import _
from workflows import BERLIN


def de_date(value: date | datetime | None) -> str:
    """30.06.2027; a moment is shown as its day in Europe/Berlin; nothing for no value."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BERLIN)
    return value.strftime("%d.%m.%Y")


def de_time(value: datetime) -> str:
    """23:59, the moment's time of day in Europe/Berlin."""
    return value.astimezone(BERLIN).strftime("%H:%M")


def de_datetime(value: datetime | None) -> str:
    """30.06.2027, 23:59 Uhr in Europe/Berlin."""
    if value is None:
        return ""
    return _("{day}, {time} Uhr", day=de_date(value), time=de_time(value))


def de_timestamp(value: datetime) -> str:
    """30.06.2027 23:59:07 in Europe/Berlin, to the second (the audit trail)."""
    return value.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M:%S")


def iso_ms(value: date | datetime | None) -> str:
    """The `datetime` attribute of `<time>`: UTC to the millisecond (`2027-06-30T22:30:05.123Z`), or a day.

    HTML allows at most three fractional digits; the audit trail stores microseconds."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return value.isoformat()
    moment = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def de_number(value: Decimal | float | None, places: int = 1) -> str:
    """3,5 (a dash for no value)."""
    return "–" if value is None else f"{float(value):.{places}f}".replace(".", ",")


def long_date(value: date | datetime | None, *, weekday: bool = False) -> str:
    """15. Juli 2027 (with `weekday`: Donnerstag, 15. Juli 2027), in the current language; a moment is
    shown as its day in Europe/Berlin; nothing for no value. For running text: letters, not tables."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BERLIN).date()
    pattern = "full" if weekday else "long"
    # Outside an app (a worker thread, a script) the German text, as `_` gives the German msgid there.
    return (
        format_date(value, format=pattern) if has_app_context() else babel_format_date(value, pattern, "de")
    )


#: Quotation marks a title may already carry, and what they become inside German quotes („…‘…‘…“).
_OUTER_QUOTES = (("„", "“"), ('"', '"'), ("“", "”"), ("»", "«"))
_INNER_QUOTES = str.maketrans({"„": "‚", "“": "‘", "”": "‘", "»": "›", "«": "‹"})


def quoted(value: object) -> str:
    """`value` in German quotation marks, „…“, once: a value already in quotes is not quoted again, and
    quotes inside it become single ones (Auftakt „Engagement“ → „Auftakt ‚Engagement‘“)."""
    text = str(value).strip()
    for opening, closing in _OUTER_QUOTES:
        if len(text) > 1 and text.startswith(opening) and text.endswith(closing):
            text = text[1:-1]
            break
    if '"' in text:  # straight quotes in pairs: "a" → ‚a‘
        parts = text.split('"')
        text = "".join(p + ("‚" if i % 2 == 0 else "‘") for i, p in enumerate(parts[:-1])) + parts[-1]
    return f"„{text.translate(_INNER_QUOTES)}“"


FILTERS = {
    "de_date": de_date,
    "de_time": de_time,
    "de_datetime": de_datetime,
    "de_timestamp": de_timestamp,
    "de_number": de_number,
    "iso_ms": iso_ms,
    "long_date": long_date,
    "quoted": quoted,
}


def register_filters(app: Flask) -> None:
    """Make the formatters available to every template as filters."""
    app.jinja_env.filters.update(FILTERS)
