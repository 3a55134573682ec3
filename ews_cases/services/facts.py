"""The facts the workflow guards read about one case, loaded lazily from the database."""

from __future__ import annotations

from datetime import date, datetime
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.i18n.translate import N_, _
from ews_cases.models import Case, Certificate, PracticeProject, Review
from ews_cases.models.case import ANSWER_FIELDS
from ews_cases.services.eligibility import eligible_members
from ews_cases.services.figures import figures_of
from ews_cases.services.validation import EMAIL_RE
from workflows import WorkflowSubject

FIELD_LABELS = {
    "contact.name": N_("Ansprechperson: Name"),
    "contact.email": N_("Ansprechperson: E-Mail"),
    "motivation": N_("Motivation"),
    "starting_point": N_("Ausgangslage"),
    "goals": N_("Ziele"),
    "leadership_support": N_("Unterstützung der Verwaltungsspitze"),
}


class CaseSubject(WorkflowSubject):
    """Adapts a `Case` to `workflows.CaseFacts`; the machine reads `state` through it and moves it here."""

    def __init__(self, session: Session, case: Case) -> None:
        self._session = session
        self.case = case
        self._moved_to: str | None = None

    @property
    def state(self) -> str:
        return self._moved_to if self._moved_to is not None else self.case.state

    @state.setter
    def state(self, value: str) -> None:
        # The machine's move is held here; `apply_transition` stores it (the one write of a case's state).
        self._moved_to = value

    @property
    def municipality_ags(self) -> str:
        return self.case.municipality_ags

    @property
    def deadline_at(self) -> datetime:
        return self.case.cohort.deadline_at

    @property
    def missing_answers(self) -> list[str]:
        case = self.case
        missing = [
            key
            for key, value in (("contact.name", case.contact_name), ("contact.email", case.contact_email))
            if not value.strip()
        ]
        missing += [name for name in ANSWER_FIELDS if not getattr(case, name).strip()]
        return [_(FIELD_LABELS[key]) for key in missing]

    @property
    def team_problems(self) -> list[str]:
        return team_problems(self.case)

    @property
    def consent(self) -> bool:
        return self.case.consent

    @property
    def cohort_region(self) -> str | None:
        return self.case.cohort.region

    @property
    def municipality_region(self) -> str:
        return self.case.municipality.regierungsbezirk

    @cached_property
    def review_count(self) -> int:
        return self._session.scalar(select(func.count()).where(Review.case_id == self.case.id)) or 0

    @property
    def required_reviews(self) -> int:
        return self.case.cohort.required_reviews

    @cached_property
    def occupied_places(self) -> int:
        return figures_of(self._session, self.case.cohort).occupied

    @property
    def capacity(self) -> int:
        return self.case.cohort.capacity

    @property
    def starts_on(self) -> date | None:
        return self.case.cohort.starts_on

    @cached_property
    def project_status(self) -> str | None:
        return self._session.scalar(
            select(PracticeProject.status).where(PracticeProject.case_id == self.case.id)
        )

    @property
    def min_attendance(self) -> float:
        return float(self.case.cohort.min_attendance)

    @cached_property
    def _eligible_ids(self) -> set[int]:
        return {m.id for m in eligible_members(self._session, self.case)}

    @property
    def members_meeting_attendance(self) -> int:
        return len(self._eligible_ids)

    @property
    def certificates_missing(self) -> int:
        issued = set(  # released ones: a certificate prepared for the ceremony day does not certify yet
            self._session.scalars(
                select(Certificate.member_id).where(
                    Certificate.case_id == self.case.id, Certificate.released_at.is_not(None)
                )
            )
        )
        return len(self._eligible_ids - issued)


def team_problems(case: Case) -> list[str]:
    """What keeps the development team from being complete (empty when it is)."""
    size = case.cohort.team_size
    problems = []
    if len(case.team) != size:
        problems.append(_("{size} Personen erforderlich, {count} angegeben", size=size, count=len(case.team)))
    for member in case.team:
        for attr, label in (("name", _("Name")), ("email", _("E-Mail")), ("position", _("Funktion"))):
            if not getattr(member, attr).strip():
                problems.append(_("Person {slot}: {field} fehlt", slot=member.slot, field=label))
        if member.email.strip() and not EMAIL_RE.match(member.email.strip()):
            problems.append(_("Person {slot}: E-Mail-Adresse ungültig", slot=member.slot))
    return problems
