"""German dates, times and numbers: one set of formatters, registered once as template filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from ews_cases.i18n import formatting
from ews_cases.i18n.formatting import de_date, de_datetime, de_number, de_time, de_timestamp, iso_ms
from workflows import BERLIN

LATE_EVENING = datetime(2027, 6, 30, 22, 30, 5, tzinfo=UTC)  # 1 July, 00:30 in Berlin (summer time)


def test_moments_are_shown_in_berlin_time():
    assert de_date(LATE_EVENING) == "01.07.2027"
    assert de_time(LATE_EVENING) == "00:30"
    assert de_datetime(LATE_EVENING) == "01.07.2027, 00:30 Uhr"
    assert de_timestamp(LATE_EVENING) == "01.07.2027 00:30:05"
    assert de_date(date(2027, 6, 30)) == "30.06.2027"


def test_no_value_and_numbers():
    assert de_date(None) == ""
    assert de_datetime(None) == ""
    assert de_number(None) == "–"
    assert de_number(Decimal("3.75")) == "3,8"
    assert de_number(4, places=2) == "4,00"


def test_time_elements_get_utc_to_the_millisecond():
    """HTML's `<time datetime>` allows at most three fractional digits; the audit trail has six."""
    assert iso_ms(LATE_EVENING.replace(microsecond=123_456)) == "2027-06-30T22:30:05.123Z"
    assert iso_ms(LATE_EVENING.astimezone(BERLIN)) == "2027-06-30T22:30:05.000Z"
    assert iso_ms(datetime(2027, 6, 30, 22, 30, 5, 999_999)) == "2027-06-30T22:30:05.999Z"  # naive: UTC
    assert iso_ms(date(2027, 6, 30)) == "2027-06-30"
    assert iso_ms(None) == ""


def test_every_formatter_is_a_template_filter(app):
    assert {name: app.jinja_env.filters[name] for name in formatting.FILTERS} == formatting.FILTERS
    with app.app_context():
        rendered = app.jinja_env.from_string("{{ moment|de_datetime }} · {{ 3.5|de_number }}").render(
            moment=LATE_EVENING
        )
    assert rendered == "01.07.2027, 00:30 Uhr · 3,5"
