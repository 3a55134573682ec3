"""Guards of the case transitions: each says, in German, why it refuses.

A guard reads facts about a case through the `CaseFacts` protocol (the service layer supplies them,
lazily, from the database) and the `Attempt` (who tries, with which reason, at what time). It returns
`None` when satisfied and otherwise the parameters for its message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from workflows.actors import Actor
from workflows.text import N_

BERLIN = ZoneInfo("Europe/Berlin")


class CaseFacts(Protocol):
    """What the guards need to know about a case; `state` is read and written by the machine."""

    state: str
    municipality_ags: str
    deadline_at: datetime
    missing_answers: Sequence[str]
    team_problems: Sequence[str]
    consent: bool
    cohort_region: str | None
    municipality_region: str
    review_count: int
    required_reviews: int
    occupied_places: int
    capacity: int
    starts_on: date | None
    project_status: str | None
    min_attendance: float
    members_meeting_attendance: int
    certificates_missing: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to fire a transition."""

    actor: Actor
    now: datetime
    reason: str | None = None
    override: bool = False

    @property
    def has_reason(self) -> bool:
        return bool(self.reason and self.reason.strip())


Params = Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Guard:
    code: str
    message: str
    check: Callable[[CaseFacts, Attempt], Params]

    def __call__(self, facts: CaseFacts, attempt: Attempt) -> Params:
        return self.check(facts, attempt)


def _fmt_local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M")


before_deadline = Guard(
    "deadline_passed",
    N_("Die Bewerbungsfrist ist am {deadline} abgelaufen."),
    lambda f, a: None if a.now <= f.deadline_at else {"deadline": _fmt_local(f.deadline_at)},
)
answers_given = Guard(
    "answers_missing",
    N_("Nicht alle Fragen sind beantwortet: {fields}."),
    lambda f, a: None if not f.missing_answers else {"fields": ", ".join(f.missing_answers)},
)
team_complete = Guard(
    "team_incomplete",
    N_("Das Entwicklungsteam ist unvollständig: {problems}."),
    lambda f, a: None if not f.team_problems else {"problems": "; ".join(f.team_problems)},
)
consent_given = Guard(
    "consent_missing",
    N_("Die Einwilligung in die Datenverarbeitung fehlt."),
    lambda f, a: None if f.consent else {},
)
within_region = Guard(
    "outside_region",
    N_(
        "Die Ausschreibung ist auf den Regierungsbezirk {region} beschränkt; die Kommune liegt im "
        "Regierungsbezirk {municipality_region}."
    ),
    lambda f, a: (
        None
        if f.cohort_region is None or f.cohort_region == f.municipality_region
        else {"region": f.cohort_region, "municipality_region": f.municipality_region}
    ),
)
reason_given = Guard(
    "reason_missing",
    N_("Bitte geben Sie eine Begründung an."),
    lambda f, a: None if a.has_reason else {},
)
enough_reviews = Guard(
    "reviews_missing",
    N_("Es liegen {count} von {required} erforderlichen Gutachten vor."),
    lambda f, a: (
        None
        if f.review_count >= f.required_reviews
        else {"count": f.review_count, "required": f.required_reviews}
    ),
)
place_available = Guard(
    "capacity_reached",
    N_("Alle {capacity} Plätze des Durchgangs sind vergeben."),
    lambda f, a: None if f.occupied_places < f.capacity else {"capacity": f.capacity},
)
start_date_reached = Guard(
    "not_started",
    N_("Der Durchgang beginnt erst am {starts_on}."),
    lambda f, a: (
        None
        if f.starts_on is not None and a.now.astimezone(BERLIN).date() >= f.starts_on
        else {"starts_on": f.starts_on.strftime("%d.%m.%Y") if f.starts_on else "—"}
    ),
)
project_approved = Guard(
    "project_not_approved",
    N_("Das Praxisprojekt ist noch nicht freigegeben."),
    lambda f, a: None if f.project_status == "approved" else {},
)
attendance_reached = Guard(
    "attendance_too_low",
    N_("Kein Teammitglied hat mindestens {share} Prozent der Workshops besucht."),
    lambda f, a: None if f.members_meeting_attendance > 0 else {"share": round(f.min_attendance * 100)},
)
certificates_issued = Guard(
    "certificates_missing",
    N_("Es fehlen noch {count} Zertifikate."),
    lambda f, a: None if f.certificates_missing == 0 else {"count": f.certificates_missing},
)
