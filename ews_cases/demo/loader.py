"""`ews demo`: cohorts 1–5 with their real municipalities, an open cohort 6, and demo users.

Every row is created through the services, so the demo has the same audit trail as real use. The
municipalities of cohorts 1–5 are taken from public sources (`ews_cases/demo/data.py`, URLs next to each
table); all people, texts, scores and practice projects are invented, and every email address ends in
`@example.org`. Refused in production: the demo accounts share a published password.

The history is replayed with the clock set to the day each step happened (`models.clock_set_to`), so the
cohorts 1–5's cases, reviews, attendance, certificates, emails and audit events carry dates of their time
(2011–2025), in the order they happened, not the day the demo was loaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.demo.data import (
    DEMO_USERS,
    FIRST_NAMES,
    GOOD_SCORES,
    HISTORIC_COHORTS,
    ILLUSTRATIVE_OUTCOMES,
    LEADERS,
    OPEN_CASES,
    OPEN_COHORT,
    OPEN_DEADLINE,
    OPEN_ENDS,
    OPEN_STARTS,
    PASSWORD,
    POSITIONS,
    PROJECTS,
    SESSION_TITLES,
    SURNAMES,
    WEAK_SCORES,
    HistoricCohort,
    Site,
)
from ews_cases.i18n.translate import _
from ews_cases.mail.delivery import cancel_pending
from ews_cases.models import (
    Case,
    Certificate,
    Cohort,
    CohortSession,
    OutboxMessage,
    User,
    clock_set_to,
    utcnow,
)
from ews_cases.services import cohorts, users
from ews_cases.services.access_requests import request_access
from ews_cases.services.actors import actor_for
from ews_cases.services.cases import CaseInput, MemberInput, create_case
from ews_cases.services.certificates import issue_missing_certificates
from ews_cases.services.invitations import invite
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition
from workflows import BERLIN, STATE_LABELS, Actor, State

SYSTEM = Actor.system("demo")


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BERLIN)


#: When the demo accounts were opened: a month before the first call.
ACCOUNTS_OPENED = _at(HISTORIC_COHORTS[0].opens - timedelta(days=30), 9)
#: When the emails of the history were cancelled (they describe the past): the day after its last step.
HISTORY_CLOSED = _at(max(spec.certificates_on for spec in HISTORIC_COHORTS) + timedelta(days=1), 9)


def _midweek(day: date) -> date:
    """The first Wednesday on or after `day`: events of a training programme do not fall on weekends."""
    return day + timedelta(days=(2 - day.weekday()) % 7)


def _numbered_workshops(days: list[tuple[str, date, str]]) -> list[tuple[int, tuple[str, date, str]]]:
    """Each planned session with the number of workshops before it (to title them Workshop 1, 2, ...)."""
    kinds = [kind for kind, _day, _place in days]
    return [(kinds[:index].count("workshop"), planned) for index, planned in enumerate(days)]


class _Loader:
    """Drives the cases through the services with the right actor and a plausible historic `now`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.people = 0
        with self.at(ACCOUNTS_OPENED):
            self.users = [
                users.create_user(
                    session,
                    SYSTEM,
                    email=email,
                    name=name,
                    role=role,
                    municipality_ags=ags,
                    password=PASSWORD,
                )
                for email, name, role, ags in DEMO_USERS
            ]
        by_role = {u.role: u for u in self.users}
        self.coordinator = actor_for(by_role["coordinator"])
        self.applicant = by_role["applicant"]
        self.reviewers = [u for u in self.users if u.role == "reviewer"]

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Do the block's steps on `moment`: the services and the rows' defaults stamp that time."""
        with clock_set_to(moment):
            yield
            self.session.flush()  # column defaults (created_at, …) are filled in at the flush

    def content(self, site: Site, tag: str, *, invented_course: bool = False) -> CaseInput:
        """A complete application: two invented team members (the first is the contact), generic answers."""
        members = []
        for slot in range(2):
            first = FIRST_NAMES[self.people % len(FIRST_NAMES)]
            last = SURNAMES[(self.people // 3) % len(SURNAMES)]
            self.people += 1
            email = f"{first}.{last}.{tag}@example.org".lower()
            members.append(
                MemberInput(f"{first} {last}", email, POSITIONS[(self.people + slot) % len(POSITIONS)])
            )
        head = (
            "Landrätin" if site.name.startswith("Kreis") or site.name.endswith("Kreis") else "Bürgermeisterin"
        )
        leader = LEADERS[self.people % len(LEADERS)]
        note = " Der Verlauf dieser Bewerbung ist erfunden." if invented_course else ""
        return CaseInput(
            contact_name=members[0].name,
            contact_email=members[0].email,
            contact_phone=f"0123 4567-{self.people:03d}",
            team=members,
            answers={
                "motivation": f"{site.name} will das bürgerschaftliche Engagement strategisch fördern. "
                f"(Demodaten: Personen und Texte sind erfunden.{note})",
                "starting_point": "Viele Vereine und Initiativen, aber keine gemeinsame Anlaufstelle.",
                "goals": "Eine Engagementstrategie mit Politik, Verwaltung und Zivilgesellschaft.",
                "leadership_support": f"{head} {leader} Muster unterstützt die Bewerbung.",
            },
            consent=True,
        )

    def fire(
        self, case: Case, name: str, when: datetime, reason: str | None = None, *, override: bool = False
    ) -> Case:
        with self.at(when):
            return apply_transition(
                self.session, case, name, self.coordinator, case.version, reason, override=override, now=when
            )

    def review(
        self, case: Case, reviewers: list[User], recommendation: str, first: datetime, gap: timedelta
    ) -> None:
        """The reviewers' reviews, the first on `first` and each next one `gap` later."""
        scores = WEAK_SCORES if recommendation == "reject" else GOOD_SCORES
        for number, reviewer in enumerate(reviewers):
            comment = "Überzeugende Bewerbung." if recommendation == "admit" else "Ausbaufähige Bewerbung."
            with self.at(first + number * gap):
                record_review(
                    self.session,
                    case,
                    reviewer,
                    scores=scores,
                    recommendation=recommendation,
                    comment=comment,
                )

    def submit(self, case: Case, when: datetime) -> Case:
        region = case.cohort.region
        if region and case.municipality.regierungsbezirk != region:
            reason = (
                f"Ausnahme: {case.municipality.name} liegt im Regierungsbezirk "
                f"{case.municipality.regierungsbezirk}, steht aber in der veröffentlichten Teilnehmerliste."
            )
            return self.fire(case, "submit", when, reason, override=True)
        return self.fire(case, "submit", when)

    # -- cohorts ----------------------------------------------------------------------------------------
    def create_cohort(self, number: int, **values: object) -> Cohort:
        return cohorts.create_cohort(
            self.session,
            SYSTEM,
            number=number,
            values={
                "title": f"{number}. Entwicklungswerkstatt",
                "signatory_name": "Dr. Erika Mustermann",
                "signatory_title": "Leitung der Entwicklungswerkstatt (Demo)",
                **values,
            },
        )

    def add_sessions(self, cohort: Cohort, days: list[tuple[str, date, str]]) -> list[CohortSession]:
        """The cohort's sessions (planned when it is created, inside the caller's `at`)."""
        return [
            cohorts.add_session(
                self.session,
                SYSTEM,
                cohort,
                kind=kind,
                title=SESSION_TITLES.get(kind, f"Workshop {workshops_before + 1}"),
                starts_at=_at(day, 10),
                ends_at=_at(day, 16),
                location=place,
            )
            for workshops_before, (kind, day, place) in _numbered_workshops(days)
        ]

    def historic(self, spec: HistoricCohort) -> None:
        with self.at(_at(spec.opens - timedelta(days=14), 10)):
            cohort, workshops = self.historic_cohort(spec)
        # The invented outcomes go first, so at most one case ever occupies a place beyond the real ones.
        runs = [
            *ILLUSTRATIVE_OUTCOMES.get(spec.number, ()),
            *((site, State.CERTIFIED) for site in spec.sites),
        ]
        for index, (site, outcome) in enumerate(runs):
            self.historic_case(spec, cohort, workshops, index, site, outcome)

    def historic_cohort(self, spec: HistoricCohort) -> tuple[Cohort, list[CohortSession]]:
        cohort = self.create_cohort(
            spec.number,
            region=spec.region,
            applications_open_at=_at(spec.opens, 0),
            application_deadline=spec.deadline,
            capacity=spec.capacity,
            starts_on=spec.starts,
            ends_on=spec.ends,
            ceremony_on=spec.ceremony_on,
            # The first four were run by the KSI in Siegburg (https://www.engagiert-in-nrw.de/zukunftsfaktor-
            # buergerengagement-wissenschaftliche-evaluation), so Siegburg stands in where no place is known.
            ceremony_place=spec.ceremony_place or "Siegburg",
            funding_eur=spec.funding_eur,
        )
        span = (spec.ends - spec.starts).days
        plan = [("fachtagung", _midweek(spec.starts), "Siegburg")]
        plan += [
            ("workshop", _midweek(spec.starts + timedelta(days=span * i // 5)), "Siegburg")
            for i in range(1, 5)
        ]
        plan.append(("abschluss", spec.certificates_on, spec.ceremony_place or "Siegburg"))
        return cohort, [s for s in self.add_sessions(cohort, plan) if s.kind == "workshop"]

    def historic_case(
        self,
        spec: HistoricCohort,
        cohort: Cohort,
        workshops: list[CohortSession],
        index: int,
        site: Site,
        outcome: State,
    ) -> None:
        created = _at(spec.opens + timedelta(days=7 + 2 * index), 9)
        invented = outcome is not State.CERTIFIED
        with self.at(created):
            case = create_case(
                self.session,
                self.coordinator,
                cohort_number=cohort.number,
                municipality_ags=site.ags,
                content=self.content(site, f"ews{cohort.number}-{index + 1:04d}", invented_course=invented),
                now=created,
            )
        self.submit(case, created + timedelta(days=1))
        decided = _at(spec.deadline + timedelta(days=21))
        recommendation = {State.REJECTED: "reject", State.WITHDRAWN: "waitlist"}.get(outcome, "admit")
        # Reviewed in the weeks after the deadline, before the programme office decides.
        reviewed = _at(spec.deadline + timedelta(days=3 + index % 5), 11)
        self.review(case, self.reviewers, recommendation, reviewed, timedelta(days=4))
        if outcome is State.REJECTED:
            self.fire(
                case, "reject", decided, "Die Strategie ist noch zu unbestimmt (Demo: erfundener Verlauf)."
            )
            return
        if outcome is State.WITHDRAWN:
            self.fire(case, "waitlist", decided)
            self.fire(case, "withdraw", decided + timedelta(days=30))
            return
        self.fire(case, "admit", decided)
        self.fire(case, "start", _at(spec.starts))
        for number, workshop in enumerate(workshops):
            with self.at(workshop.ends_at + timedelta(hours=1)):  # the register is kept on the day
                for slot, member in enumerate(case.team):
                    status = self.attendance(index, slot, number)
                    record_attendance(
                        self.session,
                        case,
                        self.coordinator,
                        session_id=workshop.id,
                        member_id=member.id,
                        status=status,
                    )
            if outcome is State.DROPPED_OUT:
                self.fire(
                    case,
                    "drop_out",
                    workshop.ends_at + timedelta(days=30),
                    "Personalwechsel im Entwicklungsteam (Demo: erfundener Verlauf).",
                )
                return
        title = PROJECTS[(cohort.number + index) % len(PROJECTS)]
        last_workshop = workshops[-1].ends_at
        with self.at(last_workshop + timedelta(days=7)):
            update_project(
                self.session,
                case,
                self.coordinator,
                title=title,
                summary=f"Praxisprojekt in {site.name} (Demodaten, erfunden).",
                status="submitted",
            )
        with self.at(last_workshop + timedelta(days=14)):
            update_project(self.session, case, self.coordinator, status="approved")
        self.fire(case, "complete_project", _at(spec.ends))
        certified = _at(spec.certificates_on, 14)
        with self.at(certified):
            issue_missing_certificates(self.session, case, SYSTEM, now=certified)

    @staticmethod
    def attendance(case_index: int, slot: int, workshop: int) -> str:
        """Mostly present; now and then one excused absence (3 of 4 still meets 75 %); in one case per
        cohort the second member misses two workshops and so gets no certificate."""
        if slot == 1 and case_index == 4 and workshop in (1, 2):
            return "absent"
        if slot == 1 and case_index % 3 == 0 and workshop == 3:
            return "excused"
        return "present"

    # -- the open cohort --------------------------------------------------------------------------------
    def open_cohort(self) -> None:
        deadline_at = datetime.combine(OPEN_DEADLINE, time(23, 59, 59), tzinfo=BERLIN)
        # Keep the call open whenever the demo is loaded: opened in the past, actions inside the window.
        now = min(utcnow(), deadline_at - timedelta(hours=1))
        opens = min(_at(date(2026, 11, 1), 0), now - timedelta(days=14))
        with self.at(opens):
            cohort = self.open_cohort_planned(opens)
        for index, (site, state) in enumerate(OPEN_CASES):
            when = max(opens + timedelta(hours=1), now - timedelta(days=len(OPEN_CASES) - index))
            self.open_case(cohort, index, site, state, when)

    def open_cohort_planned(self, opens: datetime) -> Cohort:
        cohort = self.create_cohort(
            OPEN_COHORT,
            applications_open_at=opens,
            application_deadline=OPEN_DEADLINE,
            starts_on=OPEN_STARTS,
            ends_on=OPEN_ENDS,
            ceremony_on=date(2028, 12, 1),
            ceremony_place="Düsseldorf",
        )
        self.add_sessions(
            cohort,
            [
                ("fachtagung", date(2027, 9, 15), "Düsseldorf"),
                ("workshop", date(2027, 11, 10), "Siegburg"),
                ("workshop", date(2028, 2, 16), "Siegburg"),
                ("workshop", date(2028, 5, 10), "Köln"),
                ("workshop", date(2028, 9, 13), "Siegburg"),
                ("abschluss", date(2028, 12, 1), "Düsseldorf"),
            ],
        )
        return cohort

    def open_case(self, cohort: Cohort, index: int, site: Site, state: State, when: datetime) -> None:
        """A case of the open call, begun on `when` (within the last days) and taken as far as `state`."""
        muenster, soest = self.reviewers  # in the order of DEMO_USERS
        content = self.content(site, f"ews6-{index + 1:04d}")
        creator = (
            actor_for(self.applicant) if site.ags == self.applicant.municipality_ags else self.coordinator
        )
        if index == 1:  # an unfinished draft, so the submit guards have something to explain
            content = CaseInput(content.contact_name, content.contact_email, team=content.team[:1])
        with self.at(when):
            case = create_case(
                self.session,
                creator,
                cohort_number=cohort.number,
                municipality_ags=site.ags,
                content=content,
                now=when,
            )
        if state is State.DRAFT:
            return
        self.submit(case, when + timedelta(hours=2))
        if state is State.REVIEWED:
            self.review(case, [muenster, soest], "admit", when + timedelta(hours=5), timedelta(hours=2))
        elif site.name == "Gelsenkirchen":  # one of two reviews in
            self.review(case, [muenster], "admit", when + timedelta(hours=5), timedelta(hours=2))


def load_demo(session: Session) -> str:
    """Load the demo data in the caller's transaction and return a German summary; a no-op when loaded."""
    if session.scalar(select(Cohort.id).where(Cohort.number == 1)) is not None:
        return "Die Demodaten sind bereits geladen (Durchgang 1 existiert); es wurde nichts geändert."
    loader = _Loader(session)
    for spec in HISTORIC_COHORTS:
        loader.historic(spec)
    historic_mail = session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending")).all()
    # Those cohorts ended years ago: their emails describe the past and must not go out today.
    with loader.at(HISTORY_CLOSED):
        cancel_pending(session, Actor.system("demo"), list(historic_mail), "Demodaten: historische Nachricht")
    loader.open_cohort()
    _access(session, loader.coordinator)
    return _summary(session, loader.users)


def _access(session: Session, coordinator: Actor) -> None:
    """One open invitation and one request for access, so that `/programm/zugaenge` shows both."""
    invite(
        session,
        coordinator,
        email="einladung.olpe@example.org",
        name="Oskar Olpe",
        role="applicant",
        municipality_ags="05966024",
    )
    request_access(
        session,
        name="Meike Meschede",
        email="meike.meschede@example.org",
        municipality_ags="05958032",
        position="Stabsstelle Bürgerengagement",
        message="Wir haben von der Entwicklungswerkstatt auf der Fachtagung gehört und möchten uns bewerben.",
    )


def _summary(session: Session, demo_users: list[User]) -> str:
    rows = session.execute(
        select(Cohort.number, Case.state, func.count())
        .join(Case, Case.cohort_id == Cohort.id)
        .group_by(Cohort.number, Case.state)
        .order_by(Cohort.number, Case.state)
    ).all()
    per_cohort: dict[int, Counter[str]] = {}
    for number, state, count in rows:
        per_cohort.setdefault(number, Counter())[state] = count
    certificates = session.scalar(select(func.count()).select_from(Certificate)) or 0
    lines = ["Demodaten geladen:"]
    for number, counts in per_cohort.items():
        states = ", ".join(f"{_(STATE_LABELS[State(s)])} {n}" for s, n in sorted(counts.items()))
        lines.append(f"  Durchgang {number}: {sum(counts.values())} Bewerbungen ({states})")
    lines.append(f"  {certificates} Zertifikate")
    lines.append(f"Zugänge (Passwort jeweils „{PASSWORD}“):")
    lines += [f"  {user.email:<32} {user.role}" for user in demo_users]
    return "\n".join(lines)
