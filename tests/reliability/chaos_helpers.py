"""Machinery of the combined fault test (test_chaos.py): HTTP clients that record what they saw, and a
worker killed in the middle of a batch with the messages it had in flight."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from ews_cases.models import OutboxMessage, ReminderSent, utcnow
from testkit.processes import WorkerProcess
from tests.api.live_server import ApiClient
from tests.workers.conftest import SmtpSink
from workers import tasks

PAUSE = 0.02  # between one client's requests: pacing, not synchronisation
#: What a client does with a cycling case in each state: (transition, reason).
NEXT = {"draft": ("submit", None), "submitted": ("return_for_revision", "Bitte die Ziele konkretisieren.")}


def wait_until(
    condition: Callable[[], bool], timeout: float, what: Callable[[], str], every: float = 0.1
) -> float:
    """Poll `condition` until it holds; returns the seconds it took, or fails with `what()`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f}s: {what()}")
        time.sleep(every)
    return time.monotonic() - started


@dataclass(frozen=True, slots=True)
class Outcome:
    """One write as its client saw it: a transition (`name`, `sent_version`) or attendance (`name`=status)."""

    request_id: str
    kind: str
    case_id: int
    name: str
    sent_version: int | None
    status: int
    body: dict[str, Any]
    started: float
    finished: float
    slot: tuple[int, int] | None = None  # attendance: (session, member)


@dataclass
class Load:
    """One coordinator per token over HTTP, each with its own connection, until `stop` is set."""

    base_url: str
    tokens: list[str]
    cycling: list[int]
    hot: list[int]
    slots: dict[int, list[tuple[int, int]]]  # attending case → its (session, member) pairs
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, k: int) -> None:
        client, dice = ApiClient(self.base_url, self.tokens[k]), random.Random(k)
        mine = [
            (case, slot)
            for i, case in enumerate(self.slots)
            if i % len(self.tokens) == k
            for slot in self.slots[case]
        ]
        last: dict[tuple[int, tuple[int, int]], str] = {}  # only this client writes these pairs
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                rid = f"chaos-{k}-{n}"
                if mine and dice.random() < 0.2:
                    case_id, slot = dice.choice(mine)
                    status = dice.choice(
                        [s for s in ("present", "excused", "absent") if s != last.get((case_id, slot))]
                    )
                    outcome = self.attend(client, rid, case_id, slot, status)
                    if outcome is not None and outcome.status == 200:
                        last[(case_id, slot)] = status
                else:
                    self.transition(
                        client, rid, dice.choice(self.hot if dice.random() < 0.3 else self.cycling)
                    )
                self.stop.wait(PAUSE)
        except Exception as exc:  # any client failure fails the test, with its cause
            self.fail(f"client {k} request {n}: {exc!r}")
        finally:
            client.close()

    def fail(self, error: str) -> None:
        with self.lock:
            self.errors.append(error)

    def record(self, outcome: Outcome) -> Outcome:
        with self.lock:
            self.outcomes.append(outcome)
        return outcome

    def transition(self, client: ApiClient, rid: str, case_id: int) -> Outcome | None:
        seen = client.get(f"/cases/{case_id}")
        if seen.status_code != 200:
            return self.fail(f"GET case {case_id}: {seen.status_code} {seen.text[:300]}")
        name, reason = NEXT[seen.json()["state"]]
        version = seen.json()["version"]
        started = time.monotonic()
        answer = client.post(
            f"/cases/{case_id}/transitions",
            json={"name": name, "version": version, "reason": reason},
            headers={"X-Request-ID": rid},
        )
        body = answer.json() if answer.content else {}
        return self.record(
            Outcome(
                rid, "transition", case_id, name, version, answer.status_code, body, started, time.monotonic()
            )
        )

    def attend(
        self, client: ApiClient, rid: str, case_id: int, slot: tuple[int, int], status: str
    ) -> Outcome:
        started = time.monotonic()
        answer = client.put(
            f"/cases/{case_id}/attendance",
            json={"session": slot[0], "member": slot[1], "status": status},
            headers={"X-Request-ID": rid},
        )
        body = answer.json() if answer.content else {}
        return self.record(
            Outcome(
                rid,
                "attendance",
                case_id,
                status,
                None,
                answer.status_code,
                body,
                started,
                time.monotonic(),
                slot,
            )
        )

    def scan(self, now: str, counts: Counter[str]) -> None:
        """Send the reminder scan through the broker, as beat would, until stopped (refused while Redis is down)."""
        while not self.stop.is_set():
            try:
                tasks.scan_reminders.delay(now)
                outcome = "sent"
            except Exception:  # the broker is down: beat would miss this run too
                outcome = "refused"
            with self.lock:
                counts[outcome] += 1
            self.stop.wait(0.5)


# -- the worker killed mid-batch ------------------------------------------------------------------------


def local_ports(worker: WorkerProcess, remote_port: int) -> set[int]:
    """Local TCP ports of the worker's processes (pool included) connected to `remote_port`."""
    ports = set()
    try:
        root = psutil.Process(worker.process.pid)
        for proc in [root, *root.children(recursive=True)]:
            ports |= {
                c.laddr.port for c in proc.net_connections("tcp") if c.raddr and c.raddr.port == remote_port
            }
    except psutil.Error:
        pass
    return ports


def backends(database: Any, ports: set[int] | None = None, pids: set[int] | None = None) -> list[tuple]:
    """(pid, state, wait event type) of the PostgreSQL sessions of these client ports (or these pids)."""
    column, values = ("client_port", ports) if ports is not None else ("pid", pids)
    with database.engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE {column} = ANY(:v)"),
            {"v": sorted(values or ())},
        )
        return [tuple(row) for row in rows]


def quiet(_pid: int, state: str | None, waiting_for: str | None) -> bool:
    """A session not executing anything now (idle, or waiting for a row lock or for its frozen client)."""
    return state != "active" or waiting_for in ("Lock", "Client")


def settles(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def pending_among(database: Any, message_ids: set[str]) -> set[str]:
    if not message_ids:
        return set()
    with database.sessionmaker() as s:
        query = select(OutboxMessage.message_id).where(
            OutboxMessage.status == "pending", OutboxMessage.message_id.in_(message_ids)
        )
        return set(s.scalars(query))


@dataclass(frozen=True, slots=True)
class Kill:
    victim: WorkerProcess
    frozen_at: datetime
    killed_at: float
    in_flight: set[str]  # accepted by the SMTP server, their batch never committed
    attempts: int


def kill_mid_delivery(
    workers: list[WorkerProcess], sink: SmtpSink, database: Any, timeout: float = 40.0
) -> Kill:
    """SIGKILL a worker that has messages at the SMTP server in a batch not yet committed.

    All workers are frozen (SIGSTOP) while we look, so no batch commits or starts meanwhile. A worker
    whose current SMTP connection delivered messages that are still pending is mid-batch: it is killed.
    Once its database sessions are gone, its batch's rows are the pending, accepted ones nobody holds
    locked any more (the others' batches stay locked while they are frozen): the messages that will go
    out twice. A look that finds nobody mid-batch thaws the workers and tries again a moment later.
    """
    deadline, attempts = time.monotonic() + timeout, 0
    while True:
        attempts += 1
        frozen_at = utcnow()
        for worker in workers:
            os.killpg(worker.process.pid, signal.SIGSTOP)
        try:
            killed = _look_and_kill(workers, sink, database)
            if killed is not None:
                return Kill(killed[0], frozen_at, time.monotonic(), killed[1], attempts)
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    os.killpg(worker.process.pid, signal.SIGCONT)
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker was ever caught mid-batch in {attempts} looks")
        time.sleep(0.15)  # let them work before the next look


def _look_and_kill(
    workers: list[WorkerProcess], sink: SmtpSink, database: Any
) -> tuple[WorkerProcess, set[str]] | None:
    """With the workers frozen: kill one that is mid-batch and return it with its batch's accepted messages."""
    pg_port = make_url(database.url).port or 5432
    sessions = {w: {pid for pid, _, _ in backends(database, local_ports(w, pg_port))} for w in workers}
    everyone = set().union(*sessions.values())
    if not settles(lambda: all(quiet(*b) for b in backends(database, pids=everyone))):
        return None  # a COMMIT sent just before the freeze is still running: look again later
    busy = {w: pending_among(database, sink.sent_from(local_ports(w, sink.port))) for w in workers}
    victim = max(workers, key=lambda w: len(busy[w]))
    if not busy[victim]:
        return None
    victim.kill()
    # PostgreSQL ends a dead client's session only when it next talks to it; one waiting for a chain head
    # that a frozen worker holds would keep its batch locked. End them now, as a later read would.
    doomed = sessions[victim]
    with database.engine.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:p AS int[])) AS pid"),
            {"p": sorted(doomed)},
        )
    wait_until(
        lambda: not backends(database, pids=doomed),
        timeout=10,
        what=lambda: f"the killed worker's sessions linger: {backends(database, pids=doomed)}",
        every=0.01,
    )
    accepted = set(sink.message_ids())
    with database.sessionmaker() as s:
        unlocked = set(
            s.scalars(
                select(OutboxMessage.message_id)
                .where(OutboxMessage.status == "pending")
                .with_for_update(skip_locked=True)
            )
        )
        s.rollback()
    in_flight = unlocked & accepted
    assert busy[victim] <= in_flight, (busy[victim], in_flight)
    return victim, in_flight


def describe_backlog(database: Any, processes: list[WorkerProcess]) -> str:
    """What is still pending, and the processes' latest log lines: the message of a settle that timed out."""
    with database.sessionmaker() as s:
        rows = s.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.recipient,
                OutboxMessage.attempts,
                OutboxMessage.next_attempt_at,
                OutboxMessage.last_error,
            )
            .where(OutboxMessage.status == "pending")
            .limit(10)
        ).all()
        pending = s.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
        claimed = s.scalar(select(func.count()).select_from(ReminderSent))
    logs = "\n---\n".join(p.log()[-1500:] for p in processes)
    return f"{pending} pending (e.g. {rows}), {claimed} reminders claimed; at {utcnow()}\n{logs}"
