"""Synthetic audit trail for `bench/audit_scale.py`: cohorts, cases and their hash-chained events.

Each case lives through the workflow of SPEC §4 (created, edited, submitted, reviewed, admitted or
waitlisted or rejected, attending with attendance records, project, certificates), with the e-mails each
transition queues delivered as `email.delivered` events, as the services write them. Cohorts start every
few days and run for about a year, so the events of many cohorts interleave in time; events are emitted in
time order (ids grow with time, as in production) and hashed with `ews_cases.audit.chain.chain_hash`, so the
chains verify with the project's own verifier and with `docs/verify_audit_export.py`.

Only the rows the audit reads need are written besides the events: users (actors), one API token for the
bench auditor, cohorts, cases (with the state their last transition left them in) and the chain heads.
Reviews, team members, sessions and outbox rows are referenced by id inside `data` only.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ews_cases.audit.chain import GENESIS_HASH, chain_hash, format_time
from ews_cases.models import GLOBAL_CHAIN, case_chain
from ews_cases.services.users import hash_token

#: The bench auditor's API token (its hash is stored like any token's; the bench DB is throwaway).
BENCH_TOKEN = "bench-audit-scale-token-not-a-secret"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_COHORT = datetime(2019, 1, 7, 8, tzinfo=UTC)
LAST_COHORT = datetime(2025, 10, 6, 8, tzinfo=UTC)
DAY = 86_400_000_000  # µs
MINUTE = 60_000_000
CASES_PER_COHORT = 400
COORDINATORS, REVIEWERS, AUDITORS = 40, 400, 5
CRITERIA = ("need", "strategy", "leadership", "capacity", "network")
FIRST_NAMES = ("Anna", "Jonas", "Leonie", "Mehmet", "Sophie", "Lukas", "Jülide", "Björn", "Zoë", "Paul")
LAST_NAMES = ("Schäfer", "Yılmaz", "Krüger", "Becker", "Öztürk", "Hoffmann", "Weiß", "Nowak", "Groß")
POSITIONS = ("Bürgermeisterin", "Ehrenamtsbeauftragter", "Sozialplanung", "Quartiersmanagement")
PHRASES = (
    "Wir möchten das bürgerschaftliche Engagement in allen Ortsteilen stärken",
    "Die Vereine berichten von Nachwuchssorgen, besonders im Ehrenamt der Feuerwehr",
    "Eine Engagementstrategie soll Verwaltung, Vereine und Initiativen zusammenbringen",
    "Der Rat hat im Frühjahr einstimmig beschlossen, die Bewerbung zu unterstützen",
    "Geplant sind eine Ehrenamtsbörse, ein Fonds für Kleinprojekte und eine Anlaufstelle",
)
ANSWER_FIELDS = ("motivation", "starting_point", "goals", "leadership_support")
SESSIONS = (("fachtagung", 120), *(("workshop", d) for d in (150, 180, 210, 240)), ("abschluss", 330))


@dataclass(slots=True)
class Cohort:
    id: int
    number: int
    start: int  # µs since the epoch: applications open
    team_size: int
    coordinators: tuple[int, int]
    session_ids: tuple[int, ...] = ()

    def at(self, days: float) -> int:
        return self.start + int(days * DAY)


@dataclass(slots=True)
class Case:
    cohort: Cohort
    number: int
    ags: str
    applicant: int
    team: list[dict[str, str]]
    member_ids: tuple[int, ...]
    contact: dict[str, str]
    answers: dict[str, str]
    id: int = 0
    chain: str = ""
    position: int = 0
    prev: str = GENESIS_HASH
    state: str = "draft"
    version: int = 0
    created_at: int = 0
    updated_at: int = 0
    submitted_at: int | None = None

    @property
    def reference(self) -> str:
        return f"EWS{self.cohort.number}-{self.number:04d}"

    def recipients(self, with_team: bool = True) -> list[str]:
        return (
            [self.contact["email"], *(m["email"] for m in self.team)]
            if with_team
            else [self.contact["email"]]
        )

    def snapshot(self) -> dict[str, Any]:
        return {"contact": self.contact, "team": self.team, "answers": self.answers, "consent": True}


# One planned event: (time µs, tie-break, case or None for the global chain, kind, actor, role, details).
Planned = tuple[int, int, Case | None, str, str, str, Any]


@dataclass
class Generated:
    """What the emitted events need besides themselves: rows for the other tables, chain heads."""

    users: list[tuple[Any, ...]] = field(default_factory=list)
    cohorts: list[Cohort] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    global_head: tuple[int, str] = (0, GENESIS_HASH)


class Trail:
    """Plans cohorts lazily and yields COPY rows of `audit_events` in time order until `events` are out."""

    def __init__(self, events: int, municipalities: list[str], *, seed: int = 2026) -> None:
        self.budget = events
        self.rng = random.Random(seed)
        self.municipalities = municipalities
        self.out = Generated()
        self.tie = 0
        self.outbox = self.review = self.session = self.member = 0
        self.global_position, self.global_prev = 0, GENESIS_HASH
        self.coordinators = list(range(1, COORDINATORS + 1))
        self.reviewers = list(range(COORDINATORS + 1, COORDINATORS + REVIEWERS + 1))
        self.auditors = list(range(self.reviewers[-1] + 1, self.reviewers[-1] + AUDITORS + 1))
        self.admin = self.auditors[-1] + 1
        self.applicants = {ags: self.admin + 1 + i for i, ags in enumerate(municipalities)}
        self.cohort_spacing = self._spacing()

    # -- planning ------------------------------------------------------------------------------------

    def _spacing(self) -> int:
        """Days between cohort starts so that the cohorts the budget needs spread from 2019 to 2025.

        Plans 400 cases of a probe cohort with a separate random generator to learn the events per case,
        then forgets them (the id counters are put back)."""
        saved = self.rng, self.outbox, self.review, self.member
        self.rng = random.Random(1)
        probe = Cohort(0, 1, 0, 3, (1, 2), tuple(range(len(SESSIONS))))
        per_case = sum(len(self._plan_case(probe, n, self.municipalities[0])) for n in range(400)) / 400
        self.rng, self.outbox, self.review, self.member = saved
        cohorts = max(1, round(self.budget / (per_case * CASES_PER_COHORT)))
        self.per_case = per_case
        span = LAST_COHORT - FIRST_COHORT
        return max(MINUTE, int(span.total_seconds() * 1e6 / cohorts))

    def _next_tie(self) -> int:
        self.tie += 1
        return self.tie

    def _person(self, ags: str, slot: int) -> dict[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        return {
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{slot}@kommune-{ags}.de",
            "position": self.rng.choice(POSITIONS),
        }

    def _text(self, sentences: int) -> str:
        return ". ".join(self.rng.choice(PHRASES) for _ in range(sentences)) + "."

    def _emails(self, kind: str, recipients: list[str]) -> tuple[tuple[int, str, str], ...]:
        first = self.outbox + 1
        self.outbox += len(recipients)
        return tuple((first + i, to, kind) for i, to in enumerate(recipients))

    def plan_cohort(self, index: int) -> list[Planned]:
        """Every event of one cohort (its global events and its cases'), in time order."""
        start = int((FIRST_COHORT - EPOCH).total_seconds() * 1e6) + index * self.cohort_spacing
        pair = self.rng.sample(self.coordinators, 2)
        cohort = Cohort(index + 1, index + 1, start, self.rng.choice((2, 3)), (pair[0], pair[1]))
        cohort.session_ids = tuple(range(self.session + 1, self.session + 1 + len(SESSIONS)))
        self.session += len(SESSIONS)
        self.out.cohorts.append(cohort)
        planned: list[Planned] = []
        office = f"user:{pair[0]}"

        def add(t: int, case: Case | None, kind: str, actor: str, role: str, details: Any) -> None:
            planned.append((t, self._next_tie(), case, kind, actor, role, details))

        add(cohort.at(-30), None, "cohort.created", office, "coordinator", cohort)
        for n, (session_id, (kind, day)) in enumerate(zip(cohort.session_ids, SESSIONS, strict=True)):
            add(
                cohort.at(-29) + n * MINUTE,
                None,
                "session.created",
                office,
                "coordinator",
                (session_id, kind, day),
            )
        for offset in (14, 7, 3, 1):
            add(
                cohort.at(60 - offset) + 6 * 3600 * 10**6,
                None,
                "reminders.queued",
                "system:scan_reminders",
                "system",
                (offset, self.rng.randint(20, 300)),
            )
        if self.rng.random() < 0.3:
            add(cohort.at(40), None, "cohort.updated", office, "coordinator", cohort)
        towns = self.rng.sample(self.municipalities, min(CASES_PER_COHORT, len(self.municipalities)))
        for number, ags in enumerate(towns, start=1):
            for t, kind, actor, role, details, case in self._plan_case(cohort, number, ags):
                planned.append((t, self._next_tie(), case, kind, actor, role, details))
        planned.sort(key=lambda p: (p[0], p[1]))
        return planned

    def _plan_case(self, cohort: Cohort, number: int, ags: str) -> list[tuple[Any, ...]]:
        rng = self.rng
        team = [self._person(ags, slot) for slot in range(1, cohort.team_size + 1)]
        member_ids = tuple(range(self.member + 1, self.member + 1 + cohort.team_size))
        self.member += cohort.team_size
        case = Case(
            cohort,
            number,
            ags,
            self.applicants[ags],
            team,
            member_ids,
            {
                "name": team[0]["name"],
                "email": f"engagement@kommune-{ags}.de",
                "phone": f"02721 {number:06d}",
            },
            {name: self._text(rng.randint(1, 3)) for name in ANSWER_FIELDS},
        )
        plan: list[tuple[Any, ...]] = []
        applicant, applicant_role = f"user:{case.applicant}", "applicant"
        office = f"user:{rng.choice(cohort.coordinators)}"
        t = cohort.at(rng.uniform(0, 45))

        def later(low_days: float, high_days: float) -> int:
            nonlocal t
            t += int(rng.uniform(low_days, high_days) * DAY) + 1
            return t

        def transition(
            name: str,
            to: str,
            actor: str,
            role: str,
            kind: str | None,
            reason: str | None = None,
            with_team: bool = True,
            recipients: list[str] | None = None,
        ) -> None:
            """The transition's event, then each queued e-mail's delivery a little later (the worker)."""
            nonlocal t
            emails = self._emails(kind, recipients or case.recipients(with_team)) if kind else ()
            plan.append((later(0, 0.01), "transition", actor, role, (name, to, reason, emails), case))
            for email in emails:
                t += rng.randint(1, 90) * 10**6
                plan.append((t, "email.delivered", "system:deliver_outbox", "system", email, case))

        plan.append((t, "case.created", applicant, applicant_role, None, case))
        for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
            plan.append(
                (later(0.01, 4), "case.updated", applicant, applicant_role, rng.choice(ANSWER_FIELDS), case)
            )
        if rng.random() < 0.06:
            transition(
                "withdraw", "withdrawn", applicant, applicant_role, "confirm_withdrawal", with_team=False
            )
            return plan
        transition("submit", "submitted", applicant, applicant_role, "confirm_submission")
        if rng.random() < 0.08:
            later(2, 6)
            transition(
                "return_for_revision",
                "draft",
                office,
                "coordinator",
                "explain_revision",
                "Bitte ergänzen Sie die Ziele um einen Zeitplan.",
            )
            plan.append((later(1, 5), "case.updated", applicant, applicant_role, "goals", case))
            transition("submit", "submitted", applicant, applicant_role, "confirm_submission")
        t = max(t, cohort.at(60))
        for reviewer in rng.sample(self.reviewers, 2):
            self.review += 1
            plan.append((later(0.5, 9), "review.recorded", f"user:{reviewer}", "reviewer", self.review, case))
        transition(
            "review",
            "reviewed",
            "system:record_review",
            "system",
            "notify_coordinators_reviewed",
            recipients=[f"coordinator{c}@ews.example" for c in cohort.coordinators],
        )
        t = max(t, cohort.at(85))
        later(0, 5)

        def reject(reason: str) -> None:
            transition("reject", "rejected", office, "coordinator", "explain_rejection", reason)

        decision = rng.random()
        if decision < 0.25:
            reject("Die Zahl der Bewerbungen übersteigt die verfügbaren Plätze.")
            return plan
        if decision < 0.40:
            transition("waitlist", "waitlisted", office, "coordinator", "announce_waitlist", with_team=False)
            later(5, 25)
            if rng.random() < 0.5:
                reject("Leider ist kein Platz frei geworden.")
                return plan
        transition("admit", "admitted", office, "coordinator", "announce_admission")
        if rng.random() < 0.03:
            later(1, 20)
            transition(
                "withdraw", "withdrawn", applicant, applicant_role, "confirm_withdrawal", with_team=False
            )
            return plan
        t = max(t, cohort.at(120))
        transition("start", "attending", "system:start_cohorts", "system", "welcome_with_calendar")
        dropped = rng.random() < 0.05
        for session_id, (_kind, day) in zip(cohort.session_ids, SESSIONS, strict=True):
            t = max(t, cohort.at(day + 1))
            for member in case.member_ids:
                status = "present" if rng.random() < 0.9 else rng.choice(("excused", "absent"))
                plan.append(
                    (
                        later(0, 0.02),
                        "attendance.recorded",
                        office,
                        "coordinator",
                        (session_id, member, None, status),
                        case,
                    )
                )
            if dropped and day >= 180:
                transition(
                    "drop_out",
                    "dropped_out",
                    office,
                    "coordinator",
                    "explain_drop_out",
                    "Die Kommune hat die Teilnahme aus personellen Gründen beendet.",
                )
                return plan
        for status in ("in_progress", "submitted", "approved"):
            actor, role = (office, "coordinator") if status == "approved" else (applicant, applicant_role)
            plan.append((later(1, 10), "project.updated", actor, role, status, case))
        transition("complete_project", "project_done", office, "coordinator", None)
        for slot, member in enumerate(case.member_ids):
            plan.append(
                (
                    later(0, 0.001),
                    "certificate.issued",
                    "system:issue_certificates",
                    "system",
                    (f"EWS{cohort.number}-{number:04d}-{slot + 1}", member, case.team[slot]["name"]),
                    case,
                )
            )
        transition("certify", "certified", "system:issue_certificates", "system", "send_certificates")
        return plan

    # -- emitting ------------------------------------------------------------------------------------

    def rows(self) -> Iterator[str]:
        """COPY text rows (tab-separated, `\\N` for null) of exactly `budget` events, hashed as in audit.append."""
        for planned in itertools.islice(self._timeline(), self.budget):
            yield self._emit(planned)

    def _timeline(self) -> Iterator[Planned]:
        yield from self._accounts()
        active: list[tuple[int, int, int, list[Planned]]] = []  # (time, tie, cursor, cohort's events)
        index = 0
        next_start = self._cohort_start(0)
        while True:
            # A cohort joins once the clock reaches its first event; at most a year's worth are active.
            while not active or active[0][0] >= next_start:
                events = self.plan_cohort(index)
                index += 1
                next_start = self._cohort_start(index)
                heapq.heappush(active, (events[0][0], events[0][1], 0, events))
            _time, _tie, cursor, events = heapq.heappop(active)
            yield events[cursor]
            if cursor + 1 < len(events):
                following = events[cursor + 1]
                heapq.heappush(active, (following[0], following[1], cursor + 1, events))
            else:
                events.clear()

    def _cohort_start(self, index: int) -> int:
        return int((FIRST_COHORT - EPOCH).total_seconds() * 1e6) + index * self.cohort_spacing - 30 * DAY

    def _accounts(self) -> Iterator[Planned]:
        """The accounts exist before the first cohort: `user.created` (and the bench auditor's token)."""
        t = int((FIRST_COHORT - EPOCH).total_seconds() * 1e6) - 60 * DAY
        roles = [(u, "coordinator", None) for u in self.coordinators]
        roles += [(u, "reviewer", self.rng.choice(self.municipalities)) for u in self.reviewers]
        roles += [(u, "auditor", None) for u in self.auditors] + [(self.admin, "admin", None)]
        roles += [(u, "applicant", ags) for ags, u in self.applicants.items()]
        roles.sort()
        for user_id, role, ags in roles:
            email = f"{role}{user_id}@ews.example" if role != "applicant" else f"verwaltung@kommune-{ags}.de"
            self.out.users.append((user_id, email, f"{role.title()} {user_id}", role, ags))
            actor = ("system:cli:users-create", "system") if user_id == 1 else (f"user:{self.admin}", "admin")
            t += MINUTE
            yield (t, self._next_tie(), None, "user.created", actor[0], actor[1], (user_id, email, role, ags))
        t += MINUTE
        yield (t, self._next_tie(), None, "token.created", f"user:{self.admin}", "admin", self.auditors[0])

    def _emit(self, planned: Planned) -> str:
        t, _tie, case, kind, actor, role, details = planned
        from_state = to_state = None
        if case is None:
            chain, case_id, cohort = GLOBAL_CHAIN, None, _global_cohort(kind, details)
            action, data = kind, self._global_data(kind, details)
            self.global_position += 1
            position, prev = self.global_position, self.global_prev
        else:
            if kind == "case.created":
                case.id = len(self.out.cases) + 1
                case.chain, case.created_at = case_chain(case.id), t
                self.out.cases.append(case)
                to_state = "draft"
            case.position += 1
            chain, case_id, cohort = case.chain, case.id, case.cohort.number
            position, prev = case.position, case.prev
            action, data = kind, self._case_data(case, kind, details)
            if kind == "transition":
                name, to_state, _reason, _emails = details
                action, from_state = f"transition.{name}", case.state
                case.state = to_state
                if to_state == "submitted":
                    case.submitted_at = t
            case.updated_at = t
        request_id = None if actor.startswith("system:cli") else f"{self.rng.getrandbits(128):032x}"
        occurred = format_time(EPOCH + timedelta(microseconds=t))
        record = {
            "chain": chain,
            "position": position,
            "case_id": case_id,
            "cohort": cohort,
            "occurred_at": occurred,
            "actor": actor,
            "actor_role": role,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "data": data,
            "request_id": request_id,
        }
        digest = chain_hash(prev, record)
        if case is None:
            self.global_prev = digest
            self.out.global_head = (position, digest)
        else:
            case.prev = digest
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("\\", "\\\\")
        return (
            f"{chain}\t{position}\t{_n(case_id)}\t{_n(cohort)}\t{occurred}\t{actor}\t{role}\t{action}\t"
            f"{_n(from_state)}\t{_n(to_state)}\t{text}\t{_n(request_id)}\t{prev}\t{digest}\n"
        )

    def _case_data(self, case: Case, kind: str, details: Any) -> dict[str, Any]:
        if kind == "email.delivered":
            outbox, to, email_kind = details
            return {
                "outbox": outbox,
                "kind": email_kind,
                "to": to,
                "message_id": f"<{outbox}.{case.id}@ews.example>",
                "attempts": 1,
            }
        if kind == "transition":
            name, _to, reason, emails = details
            case.version += 1
            return {
                "transition": name,
                "version": case.version,
                "reason": reason,
                "overridden": [],
                "emails": [{"id": i, "to": to, "kind": k} for i, to, k in emails],
            }
        if kind == "attendance.recorded":
            session_id, member, old, new = details
            return {"session": session_id, "member": member, "old": old, "new": new}
        if kind == "case.updated":
            case.version += 1
            old = case.answers[details]
            case.answers = {**case.answers, details: old + " " + self._text(1)}
            return {
                "version": case.version,
                "changes": {f"answers.{details}": {"old": old, "new": case.answers[details]}},
            }
        if kind == "review.recorded":
            scores = {c: self.rng.randint(1, 5) for c in CRITERIA}
            return {
                "review": details,
                "scores": scores,
                "recommendation": self.rng.choice(("admit", "admit", "waitlist", "reject")),
                "comment": self._text(self.rng.randint(1, 2)),
            }
        if kind == "project.updated":
            return {"changes": {"status": {"old": None, "new": details}}, "reason": None}
        if kind == "certificate.issued":
            serial, member, holder = details
            return {"serial": serial, "member": member, "holder": holder}
        if kind == "case.created":
            case.version = 1
            return {"reference": case.reference, "municipality": case.ags, **case.snapshot()}
        raise ValueError(kind)

    def _global_data(self, kind: str, details: Any) -> dict[str, Any]:
        if kind == "session.created":
            session_id, session_kind, day = details
            return {
                "session": session_id,
                "kind": session_kind,
                "title": f"{session_kind.title()} Tag {day}",
                "location": "Düsseldorf",
            }
        if kind == "reminders.queued":
            offset, count = details
            return {"offset_days": offset, "count": count, "scan_time": "06:00"}
        if kind in ("cohort.created", "cohort.updated"):
            cohort: Cohort = details
            deadline = _day(cohort.at(60)).isoformat()
            if kind == "cohort.updated":
                return {"number": cohort.number, "changes": {"capacity": {"old": 10, "new": 12}}}
            return {
                "number": cohort.number,
                "title": f"Durchgang {cohort.number}",
                "application_deadline": deadline,
                "capacity": 10,
                "team_size": cohort.team_size,
                "min_attendance": "0.75",
                "required_reviews": 2,
            }
        if kind == "user.created":
            user_id, email, role, ags = details
            return {"user": user_id, "email": email, "role": role, "municipality": ags}
        if kind == "token.created":
            return {"token": 1, "user": details, "name": "bench"}
        raise ValueError(kind)


def _global_cohort(kind: str, details: Any) -> int | None:
    return details.number if kind.startswith("cohort.") else None


def _n(value: object) -> str:
    return "\\N" if value is None else str(value)


def _day(t: int) -> date:
    return (EPOCH + timedelta(microseconds=t)).date()


def moment(t: int) -> str:
    """A µs timestamp as COPY text (ISO 8601 with `Z`)."""
    return format_time(EPOCH + timedelta(microseconds=t))


def user_rows(out: Generated) -> Iterator[str]:
    for user_id, email, name, role, ags in out.users:
        created = moment(int((FIRST_COHORT - EPOCH).total_seconds() * 1e6) - 60 * DAY)
        yield f"{user_id}\t{email}\t{name}\t{role}\t{_n(ags)}\tt\t{secrets.token_urlsafe(24)}\t{created}\n"


def token_row(auditor: int) -> str:
    created = moment(int((FIRST_COHORT - EPOCH).total_seconds() * 1e6) - 59 * DAY)
    return f"1\t{auditor}\t{hash_token(BENCH_TOKEN)}\tbench\t{created}\n"


def cohort_rows(out: Generated) -> Iterator[str]:
    for c in out.cohorts:
        yield (
            f"{c.id}\t{c.number}\tDurchgang {c.number}\t{moment(c.start)}\t{_day(c.at(60))}\t10\t{c.team_size}\t"
            f"{_day(c.at(120))}\t{_day(c.at(330))}\t[14,7,3,1]\t0.75\t2\t{moment(c.at(-30))}\t{moment(c.at(-30))}\n"
        )


def case_rows(out: Generated) -> Iterator[str]:
    for c in out.cases:
        a = c.answers
        yield (
            "\t".join(
                (
                    str(c.id),
                    c.reference,
                    str(c.cohort.id),
                    str(c.number),
                    c.ags,
                    c.state,
                    str(max(c.version, 1)),
                    c.contact["name"],
                    c.contact["email"],
                    c.contact["phone"],
                    a["motivation"],
                    a["starting_point"],
                    a["goals"],
                    a["leadership_support"],
                    "t",
                    str(c.applicant),
                    moment(c.created_at),
                    moment(c.updated_at),
                    moment(c.submitted_at) if c.submitted_at else "\\N",
                )
            )
            + "\n"
        )


def head_rows(out: Generated) -> Iterator[str]:
    for c in out.cases:
        yield f"{c.chain}\t{c.position}\t{c.prev}\n"


USER_COLUMNS = "id, email, name, role, municipality_ags, active, unsubscribe_token, created_at"
TOKEN_COLUMNS = "id, user_id, token_hash, name, created_at"
COHORT_COLUMNS = (
    "id, number, title, applications_open_at, application_deadline, capacity, team_size, starts_on, ends_on, "
    "reminder_days, min_attendance, required_reviews, created_at, updated_at"
)
CASE_COLUMNS = (
    "id, reference, cohort_id, number, municipality_ags, state, version, contact_name, contact_email, "
    "contact_phone, motivation, starting_point, goals, leadership_support, consent, created_by_id, created_at, "
    "updated_at, submitted_at"
)
EVENT_COLUMNS = (
    "chain, position, case_id, cohort_number, occurred_at, actor, actor_role, action, from_state, to_state, "
    "data, request_id, prev_hash, hash"
)
