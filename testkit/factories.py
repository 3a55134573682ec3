"""Factories that arrange data through the real services (so every row has its audit trail)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort, CohortSession, User, utcnow
from ews_cases.services import cohorts, users
from ews_cases.services.actors import actor_for
from ews_cases.services.cases import CaseInput, MemberInput, create_case
from ews_cases.services.certificates import issue_missing_certificates
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition
from workflows import Actor, State

SYSTEM = Actor.system("tests")
FINNENTROP, ATTENDORN, OLPE_KREIS, DUESSELDORF, BONN = (
    "05966012",
    "05966004",
    "05966000",
    "05111000",
    "05314000",
)
_counter = itertools.count(1)

#: The main path from a draft to each state, as (transition, who fires it).
PATHS: dict[State, tuple[str, ...]] = {
    State.DRAFT: (),
    State.SUBMITTED: ("submit",),
    State.REVIEWED: ("submit", "review"),
    State.ADMITTED: ("submit", "review", "admit"),
    State.WAITLISTED: ("submit", "review", "waitlist"),
    State.REJECTED: ("submit", "review", "reject"),
    State.WITHDRAWN: ("withdraw",),
    State.ATTENDING: ("submit", "review", "admit", "start"),
    State.DROPPED_OUT: ("submit", "review", "admit", "start", "drop_out"),
    State.PROJECT_DONE: ("submit", "review", "admit", "start", "complete_project"),
    State.CERTIFIED: ("submit", "review", "admit", "start", "complete_project", "certify"),
}


def complete_content(team_size: int = 2, tag: str = "") -> CaseInput:
    return CaseInput(
        contact_name=f"Erika Beispiel{tag}",
        contact_email=f"kontakt{tag}@example.org",
        contact_phone="0123 4567",
        team=[
            MemberInput(f"Person {i}{tag}", f"person{i}{tag}@example.org", "Sachbearbeitung")
            for i in range(1, team_size + 1)
        ],
        answers={
            "motivation": "Wir wollen Engagement stärken.",
            "starting_point": "Viele Vereine.",
            "goals": "Eine Engagementstrategie.",
            "leadership_support": "Bürgermeisterin Muster",
        },
        consent=True,
    )


class Factory:
    """Creates cohorts, users and cases; `now` is the moment the arranged world lives in."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.now = utcnow()

    # -- people ---------------------------------------------------------------------------------------
    def user(self, role: str, municipality_ags: str | None = None, *, password: str | None = None) -> User:
        n = next(_counter)
        return users.create_user(
            self.session,
            SYSTEM,
            email=f"{role}{n}@example.org",
            name=f"{role.title()} {n}",
            role=role,
            municipality_ags=municipality_ags,
            password=password,
        )

    def actor(self, role: str, municipality_ags: str | None = None) -> Actor:
        return actor_for(self.user(role, municipality_ags))

    # -- cohorts --------------------------------------------------------------------------------------
    def cohort(self, number: int | None = None, **values: Any) -> Cohort:
        today = self.now.date()
        defaults: dict[str, Any] = {
            "title": "Testdurchgang",
            "applications_open_at": self.now - timedelta(days=30),
            "application_deadline": today + timedelta(days=30),
            "starts_on": today + timedelta(days=60),
            "ends_on": today + timedelta(days=500),
        }
        number = number or 100 + next(_counter)
        cohort = cohorts.create_cohort(self.session, SYSTEM, number=number, values={**defaults, **values})
        return cohort

    def workshop(self, cohort: Cohort, day: date | None = None, kind: str = "workshop") -> CohortSession:
        start = datetime.combine(day or cohort.starts_on or self.now.date(), datetime.min.time(), UTC)
        start += timedelta(hours=9)
        return cohorts.add_session(
            self.session,
            SYSTEM,
            cohort,
            kind=kind,
            title=f"{kind} {next(_counter)}",
            starts_at=start,
            ends_at=start + timedelta(hours=6),
            location="Köln",
        )

    # -- cases ----------------------------------------------------------------------------------------
    def case(
        self,
        cohort: Cohort | None = None,
        ags: str = FINNENTROP,
        *,
        content: CaseInput | None = None,
        state: State = State.DRAFT,
    ) -> Case:
        cohort = cohort or self.cohort()
        coordinator = self.coordinator()
        case = create_case(
            self.session,
            coordinator,
            cohort_number=cohort.number,
            municipality_ags=ags,
            content=content or complete_content(cohort.team_size),
            now=self.now,
        )
        return self.advance(case, state)

    def coordinator(self) -> Actor:
        if not hasattr(self, "_coordinator"):
            self._coordinator = self.actor("coordinator")
        return self._coordinator

    def after_start(self, case: Case) -> datetime:
        starts = case.cohort.starts_on or self.now.date()
        return datetime.combine(starts, datetime.min.time(), UTC) + timedelta(hours=12)

    def advance(self, case: Case, state: State) -> Case:
        """Drive a case along the path to `state` through the services (with the right actor for each)."""
        for name in PATHS[state]:
            self.fire(case, name)
        assert case.state == state.value
        return case

    def fire(self, case: Case, name: str) -> Case:
        """Fire one transition as the programme would: reviews for `review`, attendance for completion."""
        coordinator = self.coordinator()
        if name == "review":
            for _ in range(case.cohort.required_reviews):
                record_review(
                    self.session,
                    case,
                    self.user("reviewer"),
                    recommendation="admit",
                    scores={"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3},
                )
            return case
        if name == "complete_project":
            self.prepare_completion(case)
        if name == "certify":
            issue_missing_certificates(self.session, case, SYSTEM)
            return case
        now = self.after_start(case) if name == "start" else self.now
        reason = "Begründung für die Akte" if name in ("reject", "drop_out", "return_for_revision") else None
        return apply_transition(self.session, case, name, coordinator, case.version, reason, now=now)

    def prepare_completion(self, case: Case) -> None:
        """Attendance for every member at every workshop, and an approved practice project."""
        coordinator = self.coordinator()
        workshops = self.session.scalars(
            select(CohortSession).where(
                CohortSession.cohort_id == case.cohort_id, CohortSession.kind == "workshop"
            )
        ).all()
        for workshop in workshops:
            for member in case.team:
                record_attendance(
                    self.session,
                    case,
                    coordinator,
                    session_id=workshop.id,
                    member_id=member.id,
                    status="present",
                )
        update_project(
            self.session,
            case,
            coordinator,
            title="Engagementlotsen",
            summary="Ein Lotsenprogramm.",
            status="submitted",
        )
        update_project(self.session, case, coordinator, status="approved")
