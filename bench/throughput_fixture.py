"""The database of `bench/transition_throughput.py`: migrated, one template case made by the services, and
pools of copies of it; and the check that the benchmark's requests did their work.

A pool is whole cohorts × the 427 NRW municipalities, each a copy of the template case in `reviewed` at
version 3, written with COPY: the same rows the services wrote for the template (case, team, reviews,
pending outbox emails, audit events), with each copy's own reference, ids, email texts and a recomputed
hash chain, so `ews audit verify` holds for them as for any case.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import func, select

from ews_cases.app import create_app
from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.db.migrate import upgrade
from ews_cases.models import AuditChainHead, AuditEvent, Case, OutboxMessage, case_chain
from ews_cases.services import cohorts, users
from ews_cases.services.accounts import create_account
from ews_cases.services.actors import actor_for
from ews_cases.services.cases import CaseInput, MemberInput, create_case
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition
from ews_cases.settings import Settings
from workflows import Actor, State

DB_NAME = "ews_bench_throughput"
ADMIN_URL = os.environ.get("EWS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TRANSITION, EXPECTED_VERSION = "waitlist", 3
TEMPLATE_AGS = "05966012"  # Finnentrop
SYSTEM = Actor.system("bench:throughput")
COPIED_TABLES = ("cases", "team_members", "reviews", "outbox_messages", "audit_events", "audit_chain_heads")


def db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


# -- the database ----------------------------------------------------------------------------------------


def recreate_database() -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = db_url(DB_NAME)
    upgrade(sqlalchemy_url(url))
    return url


@dataclass
class World:
    url: str
    token: str
    template_id: int
    cohort_title: str
    next_cohort: int = 2
    municipalities: list[tuple[str, str]] = field(default_factory=list)


def build_world(url: str, data_dir: Path) -> World:
    """Coordinator with token, reviewers, a cohort and one case in `reviewed`, all through the services."""
    app = create_app(Settings(database_url=sqlalchemy_url(url), data_dir=data_dir))
    db: Database = app.extensions["ews"].db
    title = "Benchmark-Durchgang"
    with app.app_context(), db.transaction() as session:
        coordinator, issued = create_account(
            session,
            SYSTEM,
            email="koordination@bench.example.org",
            name="Koordination Benchmark",
            role="coordinator",
            token_name="bench",
        )
        reviewers = [
            users.create_user(
                session,
                SYSTEM,
                email=f"gutachten{i}@bench.example.org",
                name=f"Gutachter {i}",
                role="reviewer",
            )
            for i in (1, 2)
        ]
        actor = actor_for(coordinator)
        cohorts.create_cohort(session, actor, number=1, values=_cohort_values(title))
        case = create_case(
            session,
            actor,
            cohort_number=1,
            municipality_ags=TEMPLATE_AGS,
            content=CaseInput(
                contact_name="Erika Beispiel",
                contact_email="kontakt@finnentrop.example.org",
                contact_phone="02721 5120",
                team=[
                    MemberInput("Jonas Beispiel", "team1@finnentrop.example.org", "Engagementförderung"),
                    MemberInput("Mira Beispiel", "team2@finnentrop.example.org", "Sozialplanung"),
                ],
                answers={
                    "motivation": "Wir wollen das Ehrenamt in allen Ortsteilen stärken.",
                    "starting_point": "Viele Vereine, wenig Abstimmung.",
                    "goals": "Eine Engagementstrategie mit den Vereinen.",
                    "leadership_support": "Der Bürgermeister unterstützt das Vorhaben.",
                },
                consent=True,
            ),
        )
        apply_transition(session, case, "submit", actor, case.version)
        for reviewer in reviewers:
            record_review(
                session,
                case,
                reviewer,
                scores={"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3},
                recommendation="admit",
            )
        if case.state != State.REVIEWED or case.version != EXPECTED_VERSION:
            raise SystemExit(f"template case is {case.state} v{case.version}, expected reviewed v3")
        template_id, token = case.id, issued.secret
    db.dispose()
    with psycopg.connect(url) as conn:
        municipalities = conn.execute("SELECT ags, name FROM municipalities ORDER BY ags").fetchall()
    return World(url, token, template_id, title, municipalities=list(municipalities))


def _cohort_values(title: str) -> dict[str, object]:
    today = date.today()
    return {
        "title": title,
        "applications_open_at": datetime.now(UTC) - timedelta(days=30),
        "application_deadline": today + timedelta(days=30),
        "starts_on": today + timedelta(days=60),
        "ends_on": today + timedelta(days=400),
        "capacity": 30,
    }


# -- pools of copies of the template case ----------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    first: int  # case ids first .. last - 1, all in `reviewed` at version 3
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first


def add_pool(world: World, size: int, *, then_settle: bool = True) -> Pool:
    """At least `size` new cases (whole cohorts of all municipalities), copied from the template case."""
    per_cohort = len(world.municipalities)
    count = math.ceil(size / per_cohort)
    numbers = list(range(world.next_cohort, world.next_cohort + count))
    world.next_cohort += count
    app = create_app(Settings(database_url=sqlalchemy_url(world.url)), check_migrations=False)
    db: Database = app.extensions["ews"].db
    with app.app_context(), db.transaction() as session:
        ids = [
            cohorts.create_cohort(session, SYSTEM, number=n, values=_cohort_values(world.cohort_title)).id
            for n in numbers
        ]
    db.dispose()
    with psycopg.connect(world.url, row_factory=dict_row) as conn:
        first = _copy_template(conn, world, list(zip(ids, numbers, strict=True)))
    if then_settle:
        settle(world)
    return Pool(first, first + count * per_cohort)


def settle(world: World) -> None:
    """After a bulk load: VACUUM ANALYZE (hint bits, visibility map, statistics: no autovacuum or
    first-touch page writes during the measurement) and a CHECKPOINT (no checkpoint half-way through)."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        for table in COPIED_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        conn.execute("CHECKPOINT")


def _rows(conn: psycopg.Connection, sql: str, *params: object) -> list[dict]:
    return conn.execute(sql, params).fetchall()


def _next_id(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT coalesce(max(id), 0) + 1 AS n FROM {table}").fetchone()["n"]


def _copy_template(conn: psycopg.Connection, world: World, cohort_rows: list[tuple[int, int]]) -> int:
    """COPY one copy of the template per (cohort, municipality); returns the first new case id."""
    tid = world.template_id
    case = _rows(conn, "SELECT * FROM cases WHERE id = %s", tid)[0]
    team = _rows(conn, "SELECT * FROM team_members WHERE case_id = %s ORDER BY id", tid)
    reviews = _rows(conn, "SELECT * FROM reviews WHERE case_id = %s ORDER BY id", tid)
    outbox = _rows(conn, "SELECT * FROM outbox_messages WHERE case_id = %s ORDER BY id", tid)
    events = _rows(conn, "SELECT * FROM audit_events WHERE chain = %s ORDER BY position", case_chain(tid))
    town = _rows(conn, "SELECT name FROM municipalities WHERE ags = %s", case["municipality_ags"])[0]["name"]
    _check_template_chain(events)
    base = {
        t: _next_id(conn, t) for t in ("cases", "team_members", "reviews", "outbox_messages", "audit_events")
    }
    n = len(cohort_rows) * len(world.municipalities)
    copies = (
        (i, cohort_id, number, ags, name, k + 1)
        for i, (cohort_id, number, (ags, name), k) in enumerate(
            (c_id, c_no, m, k) for c_id, c_no in cohort_rows for k, m in enumerate(world.municipalities)
        )
    )
    rows: dict[str, list[tuple]] = {t: [] for t in (*base, "audit_chain_heads")}
    for i, cohort_id, cohort_number, ags, name, seq in copies:
        new_id = base["cases"] + i
        reference = f"EWS{cohort_number}-{seq:04d}"
        rows["cases"].append(
            _values(
                case, id=new_id, reference=reference, cohort_id=cohort_id, number=seq, municipality_ags=ags
            )
        )
        for j, member in enumerate(team):
            rows["team_members"].append(
                _values(member, id=base["team_members"] + i * len(team) + j, case_id=new_id)
            )
        review_ids = {}
        for j, review in enumerate(reviews):
            review_ids[review["id"]] = base["reviews"] + i * len(reviews) + j
            rows["reviews"].append(_values(review, id=review_ids[review["id"]], case_id=new_id))
        message_ids = {}
        for j, message in enumerate(outbox):
            message_ids[message["id"]] = base["outbox_messages"] + i * len(outbox) + j

            def swap(text: str, _ref: str = reference, _id: int = new_id, _name: str = name) -> str:
                return (
                    text.replace(case["reference"], _ref)
                    .replace(f"/faelle/{tid}", f"/faelle/{_id}")
                    .replace(town, _name)
                )

            rows["outbox_messages"].append(
                _values(
                    message,
                    id=message_ids[message["id"]],
                    case_id=new_id,
                    dedup_key=message["dedup_key"].replace(f"case:{tid}:", f"case:{new_id}:"),
                    message_id=f"<{uuid.uuid4().hex}@example.org>",
                    subject=swap(message["subject"]),
                    body=swap(message["body"]),
                )
            )
        prev_hash, case_chain_name = chain.GENESIS_HASH, case_chain(new_id)
        for j, event in enumerate(events):
            data = _event_data(event, reference=reference, ags=ags, reviews=review_ids, messages=message_ids)
            record = _record(event, chain=case_chain_name, case_id=new_id, cohort=cohort_number, data=data)
            digest = chain.chain_hash(prev_hash, record)
            rows["audit_events"].append(
                _values(
                    event,
                    id=base["audit_events"] + i * len(events) + j,
                    chain=case_chain_name,
                    case_id=new_id,
                    cohort_number=cohort_number,
                    data=data,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            prev_hash = digest
        rows["audit_chain_heads"].append((case_chain_name, len(events), prev_hash))
    columns = {
        "cases": list(case),
        "team_members": list(team[0]),
        "reviews": list(reviews[0]),
        "outbox_messages": list(outbox[0]),
        "audit_events": list(events[0]),
        "audit_chain_heads": ["chain", "position", "hash"],
    }
    with conn.cursor() as cur:
        for table in (
            "cases",
            "team_members",
            "reviews",
            "outbox_messages",
            "audit_events",
            "audit_chain_heads",
        ):
            with cur.copy(f"COPY {table} ({', '.join(columns[table])}) FROM STDIN") as copy:
                for row in rows[table]:
                    copy.write_row(row)
        for table in base:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    conn.commit()
    if len(rows["cases"]) != n:
        raise SystemExit(f"copied {len(rows['cases'])} cases, expected {n}")
    return base["cases"]


def _values(row: dict, **changes: object) -> tuple:
    merged = {**row, **changes}
    return tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in merged.values())


def _record(event: dict, **changes: object) -> dict:
    record = {
        "chain": event["chain"],
        "position": event["position"],
        "case_id": event["case_id"],
        "cohort": event["cohort_number"],
        "occurred_at": chain.format_time(event["occurred_at"]),
        "actor": event["actor"],
        "actor_role": event["actor_role"],
        "action": event["action"],
        "from_state": event["from_state"],
        "to_state": event["to_state"],
        "data": event["data"],
        "request_id": event["request_id"],
    }
    return {**record, **changes}


def _event_data(event: dict, *, reference: str, ags: str, reviews: dict, messages: dict) -> dict:
    """The template event's data with the copy's reference, municipality, review and email ids."""
    data = json.loads(json.dumps(event["data"]))
    if event["action"] == "case.created":
        data["reference"], data["municipality"] = reference, ags
    if "review" in data:
        data["review"] = reviews[data["review"]]
    for email in data.get("emails", []):
        email["id"] = messages[email["id"]]
    return data


def _check_template_chain(events: list[dict]) -> None:
    """Our record of an event hashes to what the app stored (so the copies' chains are real chains)."""
    prev = chain.GENESIS_HASH
    for event in events:
        if chain.chain_hash(prev, _record(event)) != event["hash"]:
            raise SystemExit(f"cannot reproduce the hash of template event {event['position']}")
        prev = event["hash"]


# -- checks ----------------------------------------------------------------------------------------------


def check_work(world: World, used: list[range], ok: int, in_flight: int, sample: int = 200) -> str:
    """The database holds what the 200s claim: one waitlisted case, audit event and email per success (plus
    at most `in_flight` requests cut off when the load stopped, which may still have committed), and the
    audit chains of a sample of the changed cases verify. Returns "" when all holds, else what is wrong."""
    database = Database(sqlalchemy_url(world.url))
    problems = []
    with database.session() as session:

        def count(stmt: object) -> int:
            return session.scalar(stmt) or 0  # type: ignore[arg-type]

        waitlisted = events = emails = 0
        changed: list[int] = []
        for ids in used:
            if not ids:
                continue
            in_range = Case.id.between(ids.start, ids.stop - 1)
            waitlisted += count(select(func.count()).where(in_range, Case.state == State.WAITLISTED))
            events += count(
                select(func.count()).where(
                    AuditEvent.case_id.between(ids.start, ids.stop - 1),
                    AuditEvent.action == f"transition.{TRANSITION}",
                )
            )
            emails += count(
                select(func.count()).where(
                    OutboxMessage.case_id.between(ids.start, ids.stop - 1),
                    OutboxMessage.kind == "announce_waitlist",
                )
            )
            changed += session.scalars(
                select(Case.id)
                .where(in_range, Case.state == State.WAITLISTED)
                .order_by(func.random())
                .limit(sample)
            ).all()
        if not ok <= waitlisted <= ok + in_flight:
            problems.append(f"{waitlisted} waitlisted cases for {ok} successful requests")
        if events != waitlisted or emails != waitlisted:
            problems.append(f"{waitlisted} waitlisted, {events} audit events, {emails} emails")
        chains = [case_chain(i) for i in sorted(changed)[:sample]]
        heads = dict(
            session.execute(
                select(AuditChainHead.chain, AuditChainHead.hash).where(AuditChainHead.chain.in_(chains))
            ).all()
        )
        events_of = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain.in_(chains))
            .order_by(AuditEvent.chain, AuditEvent.position)
        )
        verification = chain.verify_records((chain.event_record(e) for e in events_of), heads)
        if not verification.ok:
            problems.append(f"audit chains broken: {verification.breaks[0]}")
        elif len(heads) != len(chains):
            problems.append("changed cases without an audit chain")
    database.dispose()
    return "; ".join(problems)
