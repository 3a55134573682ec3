"""The values of audit events as the auditor's pages show them: coded values and field names in German
(the words: `auditing_labels`), dates as Germans write them, nested content flattened, edits as old → new."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ews_cases.i18n.formatting import de_date, de_datetime, de_timestamp
from ews_cases.i18n.translate import _
from ews_cases.web.auditing_labels import FIELD_LABELS, MEMBER_FIELDS, VALUE_LABELS
from ews_cases.web.auditing_names import Names

#: Fields that repeat what the sentence or the event itself already says; they stay in the raw JSON.
_SAID_ELSEWHERE = frozenset({"transition", "version"})
_DATES = frozenset({"application_deadline", "starts_on", "ends_on", "ceremony_on"})
_MOMENTS = frozenset({"applications_open_at", "starts_at", "ends_at"})
_TIMESTAMPS = frozenset({"scan_time", "at"})


@dataclass(frozen=True, slots=True)
class Change:
    """One edited field: its label, the old and the new value, as shown."""

    label: str
    old: str
    new: str


def label_of(kind: str, value: Any) -> str:
    """A coded value in German (`VALUE_LABELS[kind]`); an unknown value is shown as it is."""
    labels = VALUE_LABELS[kind]
    if isinstance(value, str) and value in labels:
        return _(labels[value])
    return show(value)


def show(value: Any, key: str = "") -> str:
    """A recorded value as text: dates in German, yes/no, lists joined; nothing is a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if isinstance(value, list):
        return ", ".join(show(item, key) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k)}: {show(v, k)}" for k, v in value.items())
    if isinstance(value, str):
        return _show_text(value, key)
    return str(value)


def _show_text(value: str, key: str) -> str:
    try:
        if key in _DATES:
            return de_date(date.fromisoformat(value[:10]))
        if key in _MOMENTS:
            return de_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        if key in _TIMESTAMPS:
            return de_timestamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
        if key == "min_attendance":
            return f"{Decimal(value) * 100:.0f} %"
        if key == "funding_eur":
            return f"{Decimal(value):,.2f} €".replace(",", " ").replace(".", ",").replace(" ", ".")
    except (ValueError, InvalidOperation):
        pass
    if key in ("recommendation", "role", "status"):
        return label_of(key, value)
    return value


def field_label(key: str) -> str:
    """A data key or a changed field in German; team members as "Entwicklungsteam, Person 2: E-Mail"."""
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "team" and parts[1].isdigit() and len(parts[1]) < 4:
        member_field = _(MEMBER_FIELDS[parts[2]]) if parts[2] in MEMBER_FIELDS else parts[2]
        return _("Entwicklungsteam, Person {n}: {field}", n=int(parts[1]) + 1, field=member_field)
    return _(FIELD_LABELS[key]) if key in FIELD_LABELS else key


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested content as `contact.name`, `team.0.email` (as `data.changes` of `case.updated` has it)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            for index, item in enumerate(value):
                flat.update(flatten(item, f"{path}.{index}."))
        else:
            flat[path] = value
    return flat


def labelled(data: Mapping[str, Any], *keys: str) -> list[tuple[str, str]]:
    """The given keys (or all but those said elsewhere) that hold something, labelled and shown."""
    chosen = keys or tuple(
        sorted((k for k in data if k not in _SAID_ELSEWHERE and k != "changes"), key=_position)
    )
    return [(field_label(k), show(data[k], _last(k))) for k in chosen if data.get(k) not in (None, "", [])]


def changes_of(data: Mapping[str, Any]) -> list[Change]:
    """`data.changes` ({key: {old, new}}) as labelled old → new pairs."""
    changes = data.get("changes")
    if not isinstance(changes, Mapping):
        return []
    return [
        Change(field_label(key), show(change.get("old"), _last(key)), show(change.get("new"), _last(key)))
        for key, change in sorted(changes.items(), key=lambda item: _position(item[0]))
        if isinstance(change, Mapping)
    ]


def person_name(names: Names, found: int) -> str:
    known = names.users.get(found)
    return known[0] if known else _("Konto Nr. {id}", id=found)


def session_name(names: Names, session_id: int | None) -> str:
    known = names.sessions.get(session_id) if session_id is not None else None
    if known is None:
        return _("Termin Nr. {id}", id=session_id) if session_id is not None else "–"
    return _(
        "{kind} „{title}“ am {day}",
        kind=label_of("session_kind", known.kind),
        title=known.title,
        day=de_date(known.starts_at),
    )


def count_changed(count: int) -> str:
    return _("eine Angabe geändert") if count == 1 else _("{count} Angaben geändert", count=count)


def _last(key: str) -> str:
    """The field a flattened key ends in (`team.0.email` → `email`): it decides how the value is shown."""
    return key.rsplit(".", 1)[-1]


_ORDER = {key: n for n, key in enumerate(FIELD_LABELS)}
_MEMBER_ORDER = {key: n for n, key in enumerate(MEMBER_FIELDS)}


def _position(key: str) -> tuple[int, int, int, str]:
    """Fields in the order of the label table (the form's order: contact, team, answers, consent), team
    members by number: the order a database keeps JSON keys in is its own (PostgreSQL's JSONB)."""
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "team" and parts[1].isdigit():
        return _ORDER["team"], int(parts[1]), _MEMBER_ORDER.get(parts[2], len(_MEMBER_ORDER)), key
    return _ORDER.get(key, len(_ORDER)), 0, 0, key
