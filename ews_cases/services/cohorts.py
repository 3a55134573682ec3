"""Create and change cohorts and their sessions (coordinators; audited on the global chain), and start them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import SESSION_KINDS, Case, Cohort, CohortSession, utcnow
from ews_cases.services.transitions import apply_transition
from workflows import BERLIN, Actor, Role, State, TransitionRefused

log = logging.getLogger(__name__)

REGIERUNGSBEZIRKE = ("Düsseldorf", "Köln", "Münster", "Detmold", "Arnsberg")
COHORT_FIELDS = (
    "title",
    "region",
    "applications_open_at",
    "application_deadline",
    "capacity",
    "team_size",
    "starts_on",
    "ends_on",
    "reminder_days",
    "min_attendance",
    "required_reviews",
    "ceremony_on",
    "ceremony_place",
    "signatory_name",
    "signatory_title",
    "funding_eur",
)

#: SPEC §3 defaults, applied before the checks (column defaults would only apply at INSERT).
COHORT_DEFAULTS: dict[str, Any] = {
    "capacity": 10,
    "team_size": 2,
    "reminder_days": [14, 7, 3, 1],
    "min_attendance": Decimal("0.75"),
    "required_reviews": 2,
}
#: The whole numbers a cohort's settings may take (`_check_cohort`; the OpenAPI document states them too).
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "capacity": (1, 1000),
    "team_size": (1, 20),
    "required_reviews": (1, 20),
}
#: Reminders go out at most this many days (and at least one) before the deadline.
REMINDER_DAYS_RANGE = (1, 180)


def _require_coordinator(actor: Actor) -> None:
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung darf Durchgänge ändern."))


def get_cohort(session: Session, number: int) -> Cohort:
    cohort = session.scalar(select(Cohort).where(Cohort.number == number))
    if cohort is None:
        raise NotFound(N_("Den Durchgang {number} gibt es nicht."), number=number)
    return cohort


def _check_cohort(cohort: Cohort) -> None:
    errors: dict[str, list[str]] = {}
    if cohort.region is not None and cohort.region not in REGIERUNGSBEZIRKE:
        errors["region"] = [
            _("Unbekannter Regierungsbezirk; erlaubt: {names}.", names=", ".join(REGIERUNGSBEZIRKE))
        ]
    if cohort.starts_on and cohort.ends_on and cohort.ends_on < cohort.starts_on:
        errors["ends_on"] = [_("Das Ende liegt vor dem Beginn.")]
    if cohort.applications_open_at and cohort.applications_open_at > cohort.deadline_at:
        errors["applications_open_at"] = [_("Die Bewerbungsphase beginnt nach der Bewerbungsfrist.")]
    if cohort.starts_on and cohort.starts_on < cohort.application_deadline:
        errors["starts_on"] = [_("Der Durchgang beginnt vor dem Ende der Bewerbungsfrist.")]
    for name, (low, high) in SETTING_RANGES.items():
        if not low <= getattr(cohort, name) <= high:
            errors[name] = [_("Erlaubt sind Werte von {low} bis {high}.", low=low, high=high)]
    if not Decimal(0) <= Decimal(cohort.min_attendance) <= Decimal(1):
        errors["min_attendance"] = [_("Ein Anteil zwischen 0 und 1 ist erforderlich.")]
    days = cohort.reminder_days
    if not isinstance(days, list) or any(
        not isinstance(d, int)
        or isinstance(d, bool)
        or not REMINDER_DAYS_RANGE[0] <= d <= REMINDER_DAYS_RANGE[1]
        for d in days
    ):
        errors["reminder_days"] = [_("Eine Liste ganzer Tage zwischen 1 und 180 ist erforderlich.")]
    if errors:
        raise ValidationFailed(errors)


def create_cohort(session: Session, actor: Actor, *, number: int, values: Mapping[str, Any]) -> Cohort:
    _require_coordinator(actor)
    if session.scalar(select(Cohort.id).where(Cohort.number == number)) is not None:
        raise Conflict(N_("Den Durchgang {number} gibt es bereits."), number=number)
    unknown = set(values) - set(COHORT_FIELDS)
    if unknown:
        raise ValidationFailed({name: [_("Unbekanntes Feld.")] for name in sorted(unknown)})
    cohort = Cohort(
        number=number, **{**COHORT_DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    )
    _check_cohort(cohort)
    session.add(cohort)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="cohort.created",
        cohort_number=number,
        data={"number": number, **{name: getattr(cohort, name) for name in COHORT_FIELDS}},
    )
    return cohort


def update_cohort(session: Session, actor: Actor, cohort: Cohort, changes: Mapping[str, Any]) -> Cohort:
    """Change any setting of a cohort (e.g. close the call early); records old and new values."""
    _require_coordinator(actor)
    unknown = set(changes) - set(COHORT_FIELDS)
    if unknown:
        raise ValidationFailed({name: [_("Unbekanntes Feld.")] for name in sorted(unknown)})
    recorded = {}
    for name, value in changes.items():
        old = getattr(cohort, name)
        if old != value:
            recorded[name] = {"old": old, "new": value}
            setattr(cohort, name, value)
    _check_cohort(cohort)
    if recorded:
        session.flush()
        chain.append(
            session,
            actor=actor,
            action="cohort.updated",
            cohort_number=cohort.number,
            data={"number": cohort.number, "changes": recorded},
        )
    return cohort


def add_session(
    session: Session,
    actor: Actor,
    cohort: Cohort,
    *,
    kind: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str,
) -> CohortSession:
    _require_coordinator(actor)
    errors: dict[str, list[str]] = {}
    if kind not in SESSION_KINDS:
        errors["kind"] = [_("Erlaubt sind fachtagung, workshop und abschluss.")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("Das Ende muss nach dem Beginn liegen.")]
    if not title.strip():
        errors["title"] = [_("Bitte einen Titel angeben.")]
    if errors:
        raise ValidationFailed(errors)
    event = CohortSession(
        cohort_id=cohort.id,
        kind=kind,
        title=title.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        location=location.strip(),
    )
    session.add(event)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="session.created",
        cohort_number=cohort.number,
        data={
            "session": event.id,
            "kind": kind,
            "title": event.title,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "location": event.location,
        },
    )
    return event


def start_due_cases(db: Database, now: datetime | None = None) -> int:
    """Move admitted cases of cohorts whose start date has come to `attending`, one transaction each.

    A refused start (e.g. the case changed meanwhile) is logged and skipped; the next run looks again.
    """
    moment = now or utcnow()
    today = moment.astimezone(BERLIN).date()
    with db.transaction() as session:
        ids = session.scalars(
            select(Case.id)
            .join(Cohort, Cohort.id == Case.cohort_id)
            .where(Case.state == State.ADMITTED.value, Cohort.starts_on <= today)
        ).all()
    started = 0
    for case_id in ids:
        try:
            with db.transaction() as session:
                case = session.get(Case, case_id)
                if case is not None and case.state == State.ADMITTED.value:
                    apply_transition(
                        session, case, "start", Actor.system("start_cohorts"), case.version, now=moment
                    )
                    started += 1
        except TransitionRefused as exc:
            log.info("start of case %s refused: %s", case_id, exc)
    return started
