"""How the auditor's pages show audit events: German labels for roles, actions, changed fields and chain
problems, and `describe`, which turns events into `EventView`s (names of people and cases looked up once)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.i18n.formatting import de_timestamp
from ews_cases.i18n.translate import N_, _
from ews_cases.models import AuditEvent, Case, User
from workflows import STATE_LABELS, WORKFLOW, State

ROLE_NAMES = {
    "applicant": N_("Kommune"),
    "reviewer": N_("Gutachten"),
    "coordinator": N_("Programmbüro"),
    "auditor": N_("Prüfung"),
    "admin": N_("Administration"),
    "system": N_("System"),
}
ACTION_LABELS = {
    "case.created": N_("Bewerbung angelegt"),
    "case.updated": N_("Bewerbung bearbeitet"),
    "review.recorded": N_("Gutachten abgegeben"),
    "attendance.recorded": N_("Anwesenheit erfasst"),
    "project.updated": N_("Praxisprojekt geändert"),
    "certificate.issued": N_("Zertifikat ausgestellt"),
    "certificate.revoked": N_("Zertifikat widerrufen"),
    "email.delivered": N_("E-Mail zugestellt"),
    "email.failed": N_("E-Mail-Zustellung fehlgeschlagen"),
    "email.cancelled": N_("E-Mail verworfen"),
    "reminders.queued": N_("Erinnerungen vorgemerkt"),
    "cohort.created": N_("Durchgang angelegt"),
    "cohort.updated": N_("Durchgang geändert"),
    "session.created": N_("Termin angelegt"),
    "contact.created": N_("Kontakt angelegt"),
    "contact.opted_out": N_("Kontakt hat Erinnerungen abbestellt"),
    "user.created": N_("Konto angelegt"),
    "user.updated": N_("Konto geändert"),
    "user.role_changed": N_("Rolle oder Zuordnung geändert"),
    "user.deactivated": N_("Zugang deaktiviert"),
    "user.reactivated": N_("Zugang reaktiviert"),
    "user.opted_out": N_("Erinnerungen abbestellt"),
    "user.password_changed": N_("Passwort geändert"),
    "user.password_reset_requested": N_("Link zum Zurücksetzen des Passworts angefordert"),
    "user.password_reset": N_("Passwort zurückgesetzt"),
    "user.second_factor_enrolled": N_("Zweiten Faktor eingerichtet"),
    "user.second_factor_disabled": N_("Zweiten Faktor abgeschaltet"),
    "user.second_factor_reset": N_("Zweiten Faktor zurückgesetzt"),
    "user.recovery_code_used": N_("Wiederherstellungscode verwendet"),
    "user.recovery_codes_renewed": N_("Wiederherstellungscodes erneuert"),
    "token.created": N_("API-Token erstellt"),
    "token.revoked": N_("API-Token widerrufen"),
}
#: Labels of the keys in `data.changes` (case content is flattened: `answers.goals`, `team.0.name`).
CHANGE_LABELS = {
    "contact.name": N_("Ansprechperson: Name"),
    "contact.email": N_("Ansprechperson: E-Mail"),
    "contact.phone": N_("Ansprechperson: Telefon"),
    "answers.motivation": N_("Motivation"),
    "answers.starting_point": N_("Ausgangslage"),
    "answers.goals": N_("Ziele"),
    "answers.leadership_support": N_("Unterstützung der Verwaltungsspitze"),
    "consent": N_("Einwilligung"),
    "title": N_("Titel"),
    "summary": N_("Zusammenfassung"),
    "report": N_("Bericht"),
    "status": N_("Status"),
    "active": N_("Aktiv"),
    "role": N_("Rolle"),
    "municipality": N_("Kommune / Zugehörigkeit"),
}
MEMBER_FIELDS = {"name": N_("Name"), "email": N_("E-Mail"), "position": N_("Funktion")}
#: German explanations of `audit.Break.problem`, by the start of the (English, technical) problem text.
PROBLEMS = (
    ("position ", N_("Position fehlt oder ist doppelt (Lücke oder Abzweigung der Kette).")),
    ("prev_hash ", N_("Der Verweis auf das vorige Ereignis (prev_hash) stimmt nicht.")),
    (
        "hash does not match",
        N_("Der Hash passt nicht zum Inhalt: Das Ereignis wurde nachträglich verändert."),
    ),
    ("event cannot be serialised", N_("Das Ereignis lässt sich nicht prüfen (ungültige Daten).")),
    ("events missing at the end", N_("Am Ende der Kette fehlen Ereignisse.")),
    ("chain has a head but no events", N_("Zur Kette sind keine Ereignisse mehr gespeichert.")),
    ("chain is not contiguous", N_("Die Kette ist nicht zusammenhängend gespeichert.")),
)


# -- how events are shown --------------------------------------------------------------------------------


@dataclass
class EventView:
    """One event as the pages show it: who, when, what, and what changed."""

    event: AuditEvent
    who: str
    role: str
    when: str
    what: str
    case_reference: str | None
    from_label: str | None
    to_label: str | None
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)


def action_label(action: str) -> str:
    if action.startswith("transition."):
        spec = WORKFLOW.specs.get(action.removeprefix("transition."))
        if spec is not None:
            return _("Übergang: {label}", label=_(spec.label))
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else action


def _state_label(state: str | None) -> str | None:
    try:
        return _(STATE_LABELS[State(state)]) if state is not None else None
    except ValueError:
        return state


def _user_id(actor: str) -> int | None:
    kind, _sep, key = actor.partition(":")
    return int(key) if kind == "user" and key.isdigit() else None


def _change_label(key: str) -> str:
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "team" and parts[1].isdigit():
        member_field = _(MEMBER_FIELDS[parts[2]]) if parts[2] in MEMBER_FIELDS else parts[2]
        return _("Entwicklungsteam, Person {n}: {field}", n=int(parts[1]) + 1, field=member_field)
    return _(CHANGE_LABELS[key]) if key in CHANGE_LABELS else key


def _value(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def describe(session: Session, events: Iterable[AuditEvent]) -> list[EventView]:
    """Events with names of people and cases looked up once per page (deleted people keep their id)."""
    events = list(events)
    user_ids = {_user_id(e.actor) for e in events} - {None}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
    case_ids = {e.case_id for e in events if e.case_id is not None}
    references = dict(session.execute(select(Case.id, Case.reference).where(Case.id.in_(case_ids))).all())
    views = []
    for event in events:
        name = names.get(_user_id(event.actor))
        data = event.data if isinstance(event.data, dict) else {"data": event.data}
        changes = data.get("changes") if isinstance(data.get("changes"), dict) else {}
        views.append(
            EventView(
                event=event,
                who=f"{name} ({event.actor})" if name else event.actor,
                role=_(ROLE_NAMES[event.actor_role]) if event.actor_role in ROLE_NAMES else event.actor_role,
                when=de_timestamp(event.occurred_at),
                what=action_label(event.action),
                case_reference=references.get(event.case_id) if event.case_id is not None else None,
                from_label=_state_label(event.from_state),
                to_label=_state_label(event.to_state),
                changes=[
                    (_change_label(key), _value(change.get("old")), _value(change.get("new")))
                    for key, change in changes.items()
                    if isinstance(change, dict)
                ],
                details=[
                    (key, _value(value))
                    for key, value in data.items()
                    if key != "changes" and value not in (None, "", [], {})
                ],
            )
        )
    return views


def problem_text(problem: str) -> str:
    for start, text in PROBLEMS:
        if problem.startswith(start):
            return _(text)
    return problem


def chain_case_id(chain: str) -> int | None:
    number = chain.removeprefix("case:")
    return int(number) if chain.startswith("case:") and number.isdigit() else None
