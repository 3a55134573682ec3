"""The faults of tests/workers together, under load (issue 6).

Client threads keep firing transitions (submit ↔ return for revision, racing each other on a few hot
cases) and recording attendance over real HTTP, while one worker is SIGKILLed in the middle of a batch,
Redis is down for ten seconds and the SMTP server refuses messages — a fifth once with 451 (retried), the
mail to three contacts with 550 (failed for good). Reminder scans for a pinned `now` go through the broker
all along. Afterwards: one audit event per committed change and none without a cause, every email sent
once (the killed batch's messages at most twice) or failed with the server's answer, every chain intact,
each reminder claimed once.

PostgreSQL only: it is the production backend, and SQLite's single writer would queue clients, workers
and scans one behind the other, so the load would test nothing.

The set-up is production's: two `ews worker` and two `ews beat` processes (production schedule — beat's
deliver-outbox every 15 s resumes retries and the killed worker's batch), a redis-server of this test's
own (stopped and restarted on its port), the app behind a live socket in this process, whose after-commit
signal wakes the workers. The reminder scan, which beat fires every five minutes, is sent by two threads.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ews_cases.app import create_app
from ews_cases.audit import chain
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.mail.delivery import DELIVERY_ACTOR
from ews_cases.models import (
    AuditChainHead,
    AuditEvent,
    Case,
    Municipality,
    OutboxMessage,
    ReminderSent,
    case_chain,
    utcnow,
)
from ews_cases.services.locking import lock_case
from ews_cases.services.transitions import apply_transition
from ews_cases.services.users import issue_token
from testkit.factories import SYSTEM, complete_content
from testkit.processes import ROOT, settings_env
from tests.api.live_server import ApiClient, live_server
from tests.reliability.chaos_helpers import Load, describe_backlog, kill_mid_delivery, wait_until
from tests.workers.test_redis_outage import RedisServer
from tests.workers.test_reminders import arrange_contacts, at, other_municipalities
from workflows import State

pytestmark = pytest.mark.postgres

LOAD_SECONDS = 45.0
KILL_AT, OUTAGE_AT, OUTAGE_SECONDS = 6.0, 18.0, 10.0
WORKER_CONCURRENCY = 2  # two pool processes per worker, each may be inside a batch at the kill
WORKER = ("worker", "--concurrency", str(WORKER_CONCURRENCY))
CLIENTS = 6
CYCLING, BOUNCING, ATTENDING, HOT = 44, 3, 4, 4
REMINDED_TOWNS = 30  # two contacts each
SETTLE_SECONDS = 120.0
REFUSE_ONCE = "451 4.3.0 try again later"
NO_SUCH_USER = "550 5.1.1 no such user"


# -- the scenario ---------------------------------------------------------------------------------------


def pause_until(moment: float) -> None:
    """The scenario's clock: the next fault is due at `moment` (monotonic)."""
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.fixture
def chaos_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@dataclass
class World:
    """What the test arranged before the load."""

    cycling: list[int]
    hot: list[int]
    slots: dict[int, list[tuple[int, int]]]
    versions: dict[int, int]
    bounces: set[str]
    tokens: list[str]
    reminder_cohort: int
    reminder_now: str
    reminded: set[str]


def arrange(session: Any, factory: Any) -> World:
    today = factory.now.date()
    cohort = factory.cohort(capacity=100, application_deadline=today + timedelta(days=40))
    workshops = [factory.workshop(cohort), factory.workshop(cohort)]
    towns = list(
        session.scalars(
            select(Municipality.ags)
            .where(Municipality.type != "Kreis")
            .order_by(Municipality.ags)
            .limit(CYCLING + BOUNCING + ATTENDING)
        )
    )
    cycling = [factory.case(cohort, ags) for ags in towns[:CYCLING]]
    bouncing = [
        factory.case(cohort, ags, content=complete_content(cohort.team_size, tag=f"-bounce{i}"))
        for i, ags in enumerate(towns[CYCLING : CYCLING + BOUNCING])
    ]
    attending = [factory.case(cohort, ags, state=State.ATTENDING) for ags in towns[CYCLING + BOUNCING :]]
    # Reminders: a cohort of their own, due 14 days before its deadline (the load's cohort is not due then).
    reminder_cohort = factory.cohort(title="Erinnerungsdurchgang")
    contacts = arrange_contacts(session, other_municipalities(session, REMINDED_TOWNS), 2)
    tokens = [issue_token(session, SYSTEM, factory.user("coordinator")) for _ in range(CLIENTS)]
    session.commit()
    cases = cycling + bouncing
    return World(
        cycling=[c.id for c in cases],
        hot=[c.id for c in cases[:HOT]],
        slots={c.id: [(w.id, m.id) for w in workshops for m in c.team] for c in attending},
        versions={c.id: c.version for c in [*cases, *attending]},
        bounces={c.contact_email for c in bouncing},
        tokens=tokens,
        reminder_cohort=reminder_cohort.number,
        reminder_now=at(reminder_cohort.application_deadline - timedelta(days=14)).isoformat(),
        reminded={c.email for c in contacts},
    )


@pytest.mark.slow
def test_faults_together_under_load_lose_nothing_and_duplicate_only_the_killed_batch(
    chaos_redis, start_worker, smtp_sink, worker_settings, database, session, factory, tmp_path
):
    world = arrange(session, factory)
    refused_once: set[str] = set()

    def decide(message: Any) -> str | None:
        if message["To"] in world.bounces:
            return NO_SUCH_USER
        mid = message["Message-ID"]
        if zlib.crc32(mid.encode()) % 5 == 0 and mid not in refused_once:
            refused_once.add(mid)
            return REFUSE_ONCE
        return None

    smtp_sink.decide = decide
    settings = worker_settings.model_copy(update={"redis_url": chaos_redis.url})
    app = create_app(settings)  # its after-commit dispatcher publishes to the chaos Redis
    figures: dict[str, Any] = {}
    scans: Counter[str] = Counter()
    try:
        workers = [start_worker(*WORKER, settings=settings) for _ in range(2)]
        # Each beat with a data folder (schedule file) of its own, as in two containers: two beats writing one
        # shelve file at the same moment crash (dbm.dumb renames it under the other's feet).
        beats = [
            start_worker("beat", settings=settings.model_copy(update={"data_dir": tmp_path / f"beat-{n}"}))
            for n in (1, 2)
        ]
        for worker in workers:
            worker.wait_ready()
        for beat in beats:
            beat.wait_ready(marker="beat: Starting")
        with database.sessionmaker() as s:
            marker = s.scalar(select(func.max(AuditEvent.id)))

        with live_server(app) as url:
            load = Load(url, world.tokens, world.cycling, world.hot, world.slots)
            threads = [
                threading.Thread(target=load.run, args=(k,), name=f"client-{k}") for k in range(CLIENTS)
            ]
            threads += [
                threading.Thread(target=load.scan, args=(world.reminder_now, scans)) for _ in range(2)
            ]
            health = ApiClient(url)
            start = time.monotonic()
            for thread in threads:
                thread.start()
            try:
                pause_until(start + KILL_AT)
                kill = kill_mid_delivery(workers, smtp_sink, database)
                replacement = start_worker(*WORKER, settings=settings)
                replacement.wait_ready()
                figures["replacement ready after kill"] = time.monotonic() - kill.killed_at

                pause_until(start + OUTAGE_AT)
                chaos_redis.stop()
                outage = (utcnow(), time.monotonic())
                wait_until(
                    lambda: health.get("/health").json()["status"] == "degraded",
                    timeout=10,
                    what=lambda: f"health during the outage: {health.get('/health').json()}",
                )
                pause_until(outage[1] + OUTAGE_SECONDS)
                chaos_redis.start()
                back = (utcnow(), time.monotonic())
                figures["health ok after Redis restart"] = wait_until(
                    lambda: health.get("/health").json()["status"] == "ok",
                    timeout=30,
                    what=lambda: f"health after the outage: {health.get('/health').json()}",
                )
                pause_until(start + LOAD_SECONDS)
            finally:  # whatever failed: the clients and scanners stop, so that the test ends
                load.stop.set()
                for thread in threads:
                    thread.join(timeout=60)
                health.close()
            assert not [t.name for t in threads if t.is_alive()], "clients hang"

        def settled() -> bool:
            with database.sessionmaker() as s:
                pending = s.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
                claimed = s.scalar(select(func.count()).select_from(ReminderSent))
            return pending == 0 and claimed == len(world.reminded)

        survivors = [w for w in workers if w is not kill.victim] + [replacement]
        figures["settled after load"] = wait_until(
            settled, SETTLE_SECONDS, lambda: describe_backlog(database, [*survivors, *beats]), every=0.5
        )
        received = Counter(m["Message-ID"] for m in smtp_sink.settle(quiet=1.0))
        for process in [*survivors, *beats]:
            assert process.process.poll() is None, f"a process died:\n{process.log()[-3000:]}"
            process.stop()
    finally:
        set_dispatcher(None)

    assert not load.errors, load.errors[:10]
    transitions = [o for o in load.outcomes if o.kind == "transition"]
    committed = [o for o in transitions if o.status == 200]
    conflicts = [o for o in transitions if o.status == 409]
    attendance = [o for o in load.outcomes if o.kind == "attendance"]
    assert not [o for o in load.outcomes if o.status not in (200, 409)], [
        (o.request_id, o.status, o.body) for o in load.outcomes if o.status not in (200, 409)
    ][:10]
    assert not [o for o in attendance if o.status != 200]
    during_outage = [o for o in committed if outage[1] <= o.started and o.finished <= back[1]]
    assert during_outage, "no transition committed while Redis was down"

    check_changes(database, marker, world, committed, conflicts, attendance)
    emails = check_emails(database, settings.outbox_batch_size, world, received, kill, refused_once)
    check_chains(database, settings, tmp_path)
    check_reminders(database, world, received, smtp_sink)

    with database.sessionmaker() as s:
        resent = s.scalars(
            select(OutboxMessage.sent_at).where(OutboxMessage.message_id.in_(kill.in_flight))
        ).all()
        backlog = s.scalars(
            select(OutboxMessage.sent_at).where(
                OutboxMessage.created_at.between(outage[0], back[0]), OutboxMessage.status == "sent"
            )
        ).all()
    kill_wall = kill.frozen_at
    figures["killed batch resent after kill"] = (
        max((t - kill_wall).total_seconds() for t in resent) if resent else 0
    )
    figures["outage backlog sent after restart"] = (
        max((t - back[0]).total_seconds() for t in backlog) if backlog else 0
    )
    slowest = max(
        (o.finished - o.started for o in load.outcomes if outage[1] <= o.started <= back[1]), default=0
    )
    print(
        f"\n[chaos] transitions committed: {len(committed)} ({len(during_outage)} during the Redis outage), "
        f"409 conflicts: {len(conflicts)}, attendance records: {len(attendance)}"
        f"\n[chaos] emails sent: {emails['sent']}, failed (550): {emails['failed']}, refused once (451): "
        f"{emails['refused_once']}, duplicates: {emails['duplicates']} of {len(kill.in_flight)} in flight "
        f"at the kill (looked {kill.attempts}×), reminders: {len(world.reminded)} from "
        f"{scans['sent']} scans ({scans['refused']} refused by the broker)"
        f"\n[chaos] recovery: replacement worker ready {figures['replacement ready after kill']:.1f}s after "
        f"the kill, killed batch resent within {figures['killed batch resent after kill']:.1f}s; health ok "
        f"{figures['health ok after Redis restart']:.1f}s after Redis restart, outage backlog sent within "
        f"{figures['outage backlog sent after restart']:.1f}s; slowest request during the outage "
        f"{slowest:.2f}s; settled {figures['settled after load']:.1f}s after the load stopped"
    )


# -- the checks -----------------------------------------------------------------------------------------


def check_changes(database, marker, world, committed, conflicts, attendance) -> None:
    """1. One audit event per committed change (request id, case, version), none without a cause; the
    database holds each case's last committed state and version."""
    for o in committed:
        assert o.body["version"] == o.sent_version + 1, o
        assert o.body["state"] == {"submit": "submitted", "return_for_revision": "draft"}[o.name], o
    for o in conflicts:
        assert o.body["refusals"][0]["code"] == "stale_version", o
    with database.sessionmaker() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.id > marker).order_by(AuditEvent.id)).all()
        cases = {c.id: (c.state, c.version) for c in s.scalars(select(Case))}
    by_action: dict[str, list[AuditEvent]] = {}
    for event in events:  # transitions by kind; the other causes by their action
        kind = "transition" if event.action.startswith("transition.") else event.action
        by_action.setdefault(kind, []).append(event)
    causes = {"transition", "attendance.recorded", "email.delivered", "email.failed", "reminders.queued"}
    unexplained = set(by_action) - causes  # the last three are matched to rows in check_emails/_reminders
    assert not unexplained, [(e.id, e.action, e.actor) for a in unexplained for e in by_action[a]]

    seen = Counter(e.request_id for e in by_action.get("transition", []))
    assert [rid for rid, n in seen.items() if n > 1] == []
    recorded = {
        e.request_id: (e.case_id, e.action, e.data["version"], e.to_state)
        for e in by_action.get("transition", [])
    }
    expected = {
        o.request_id: (o.case_id, f"transition.{o.name}", o.sent_version + 1, o.body["state"])
        for o in committed
    }
    assert recorded == expected, set(recorded) ^ set(expected)
    assert not {o.request_id for o in conflicts} & {e.request_id for e in events}

    marks = {
        e.request_id: (e.case_id, e.data["new"], e.data["session"], e.data["member"])
        for e in by_action.get("attendance.recorded", [])
    }
    assert marks == {o.request_id: (o.case_id, o.name, *o.slot) for o in attendance}

    for case_id, start in world.versions.items():
        mine = sorted((o for o in committed if o.case_id == case_id), key=lambda o: o.sent_version)
        assert [o.sent_version for o in mine] == list(range(start, start + len(mine))), (case_id, mine)
        last = (mine[-1].body["state"], mine[-1].body["version"]) if mine else (cases[case_id][0], start)
        assert cases[case_id] == last, (case_id, cases[case_id], last)


def check_emails(database, batch_size, world, received, kill, refused_once) -> dict[str, int]:
    """2. Every queued email sent and received exactly once — the killed batch's at most twice — or failed
    with the 550; nothing pending; one delivery/failure event per case email."""
    with database.sessionmaker() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["email.delivered", "email.failed"]))
        ).all()
    assert [r.id for r in rows if r.status not in ("sent", "failed")] == []
    sent = {r.message_id: r for r in rows if r.status == "sent"}
    failed = [r for r in rows if r.status == "failed"]
    assert set(received) == set(sent), set(received) ^ set(sent)
    duplicates = {mid for mid, n in received.items() if n > 1}
    assert duplicates == kill.in_flight, (duplicates, kill.in_flight)
    assert 0 < len(kill.in_flight) <= WORKER_CONCURRENCY * batch_size  # each pool process mid-batch
    assert max(received.values()) <= 2
    assert {r.recipient for r in failed} == world.bounces
    assert all((r.last_error, r.attempts) == (NO_SUCH_USER, 1) for r in failed), failed
    assert all(r.status == "failed" for r in rows if r.recipient in world.bounces)
    assert refused_once <= set(sent)
    # A refusal inside the killed batch was rolled back with it: that message's later attempt is its first.
    assert len([mid for mid in refused_once if sent[mid].attempts < 2]) <= WORKER_CONCURRENCY * batch_size
    outcomes = Counter((e.action, e.data["message_id"]) for e in events)
    assert max(outcomes.values()) == 1
    assert set(outcomes) == {("email.delivered", r.message_id) for r in sent.values() if r.case_id} | {
        ("email.failed", r.message_id) for r in failed
    }
    return {
        "sent": len(sent),
        "failed": len(failed),
        "refused_once": len(refused_once),
        "duplicates": len(duplicates),
    }


def check_chains(database, settings, tmp_path: Path) -> None:
    """3. Every chain verifies, in the database and as an export checked by `ews audit verify`."""
    with database.sessionmaker() as s:
        result = chain.verify_database(s)
        total = s.scalar(select(func.count()).select_from(AuditEvent))
    assert result.ok, result.breaks[:5]
    export = tmp_path / "audit.jsonl"

    def ews(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ews_cases.cli", "audit", *args],
            cwd=ROOT,
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    ews("export", "--output", str(export))
    output = ews("verify", str(export))
    assert f"{export}: {total} events in " in output, output
    assert "OK: all chains verify" in output


def check_reminders(database, world, received, sink) -> None:
    """4. Each contact's reminder claimed once, queued once and at the server under one Message-ID."""
    with database.sessionmaker() as s:
        claims = [tuple(row) for row in s.execute(select(ReminderSent.recipient, ReminderSent.offset_days))]
        queued = s.execute(
            select(OutboxMessage.recipient, OutboxMessage.message_id).where(
                OutboxMessage.kind == "deadline_reminder"
            )
        ).all()
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "reminders.queued")).all()
    assert Counter(claims) == Counter({(address, 14): 1 for address in world.reminded})
    assert Counter(r for r, _ in queued) == Counter(world.reminded)
    assert {m for _, m in queued} <= set(received)
    assert sum(e.data["count"] for e in events) == len(world.reminded)
    assert {e.cohort_number for e in events} == {world.reminder_cohort}
    per_recipient = Counter((m["To"], m["Message-ID"]) for m in sink.messages if m["To"] in world.reminded)
    assert Counter(to for to, _ in per_recipient) == Counter(world.reminded)  # one Message-ID per contact


def test_a_transition_and_a_delivery_on_one_case_do_not_deadlock(database, session, factory):
    """The deadlock the load above found, step by step: a delivery batch holds the case's chain head (it
    locks heads after sending) and appends `email.delivered`, whose foreign key on the case waits for
    any exclusive lock of the case row; a transition holds the case row and waits for the chain head.
    `lock_case` must take FOR NO KEY UPDATE, which leaves foreign-key checks alone."""
    case = factory.case(factory.cohort())
    coordinator = factory.coordinator()
    session.commit()
    chain_name = case_chain(case.id)
    with database.sessionmaker() as delivery, database.sessionmaker() as request:
        delivery.execute(select(AuditChainHead).where(AuditChainHead.chain == chain_name).with_for_update())
        lock_case(request, case.id)
        appended = threading.Event()

        def deliver() -> None:
            chain.append(
                delivery, actor=DELIVERY_ACTOR, action="email.delivered", case=delivery.get(Case, case.id)
            )
            delivery.commit()
            appended.set()

        thread = threading.Thread(target=deliver)
        thread.start()
        assert appended.wait(timeout=10), "the delivery's event waits for the case row lock"
        apply_transition(request, request.get(Case, case.id), "submit", coordinator, case.version)
        request.commit()
        thread.join(timeout=10)
    with database.sessionmaker() as s:
        assert [
            e.action
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position)
            )
        ][-2:] == ["email.delivered", "transition.submit"]
        assert chain.verify_database(s).ok
