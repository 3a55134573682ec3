"""Two beat processes at once (a second one started by mistake, or a failover overlap) send no reminder twice.

Production beat runs the reminder scan every five minutes, too slowly for a test. Beside two real `ews beat`
processes, two more run Celery beat of the same application with only the schedule shortened (the
`FAST_BEAT` entry point below): they fire the scan twice a second for a pinned `now`, while the test sends
the same task through the broker from several threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from ews_cases.models import OutboxMessage, ReminderSent
from testkit.factories import FINNENTROP, Factory
from testkit.processes import ROOT, settings_env
from tests.workers.test_reminders import (
    arrange_contacts,
    at,
    other_municipalities,
    reminders,
    wait_for_reminders,
    wait_for_results,
)
from workers import tasks
from workflows import State

#: Celery beat of the real app; only the schedule differs from `workers.schedule.BEAT_SCHEDULE`.
FAST_BEAT = """
import sys
from ews_cases.app import create_app

now, schedule_file = sys.argv[1], sys.argv[2]
celery = create_app().extensions["celery"]
celery.conf.beat_schedule = {
    "scan-reminders": {"task": "workers.tasks.scan_reminders", "schedule": 0.5, "kwargs": {"now": now}},
    "deliver-outbox": {"task": "workers.tasks.deliver_outbox", "schedule": 2.0},
}
celery.start(["beat", "--loglevel=INFO", "--max-interval=1", f"--schedule={schedule_file}"])
"""
BEAT_STARTED = "beat: Starting..."
SCAN_SENT = "Sending due task scan-reminders"
OUTBOX_SENT = "Sending due task deliver-outbox"
RUN_SECONDS = 17  # the production schedule delivers the outbox every 15 s: each real beat fires once


class FastBeat:
    def __init__(self, settings, now: str, folder: Path, name: str) -> None:
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", FAST_BEAT, now, str(folder / f"{name}-schedule")],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def wait_for_log(process, marker: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while marker not in process.log():
        if process.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} (exit code {process.process.poll()}):\n{process.log()}")
        time.sleep(0.1)


def test_two_beats_and_many_scans_at_once_send_each_reminder_once(
    worker_app, start_worker, smtp_sink, worker_settings, database, session, factory: Factory, tmp_path
):
    cohort = factory.cohort()
    contacts = arrange_contacts(session, [FINNENTROP, *other_municipalities(session, 29)], 2)
    factory.case(cohort, FINNENTROP, state=State.DRAFT)
    applicant = factory.user("applicant", FINNENTROP)
    session.commit()
    expected = {c.email for c in contacts} | {applicant.email}
    now = at(cohort.application_deadline - timedelta(days=14)).isoformat()

    worker_settings.data_dir.mkdir(parents=True, exist_ok=True)  # see test_beat_starts_in_a_fresh_data_folder
    workers = [start_worker(), start_worker()]
    # The production schedule; each beat with its own data folder, as two containers would have (a second
    # beat on the same folder refuses to start: test_a_second_beat_on_the_same_data_folder_refuses_to_start).
    other_folder = worker_settings.model_copy(update={"data_dir": tmp_path / "second-beat"})
    # The first logs at INFO, as in production: quiet about the outbox delivery it sends every 15 s; the
    # second at DEBUG shows that it does send it.
    debug = other_folder.model_copy(update={"log_level": "DEBUG"})
    real_beats = [start_worker("beat"), start_worker("beat", settings=debug)]
    fast_beats = [FastBeat(worker_settings, now, tmp_path, f"fast-beat-{n}") for n in (1, 2)]
    try:
        for worker in workers:
            worker.wait_ready()
        for beat in (*real_beats, *fast_beats):
            wait_for_log(beat, BEAT_STARTED)

        def send_scans() -> None:
            for _ in range(5):
                tasks.scan_reminders.delay(now)

        senders = [threading.Thread(target=send_scans) for _ in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        time.sleep(RUN_SECONDS)  # all four beats keep firing meanwhile

        for beat in fast_beats:
            assert beat.process.poll() is None, beat.log()
            assert beat.log().count(SCAN_SENT) >= 10, beat.log()
        for beat in real_beats:
            assert beat.process.poll() is None, beat.log()
        quiet, verbose = real_beats
        assert OUTBOX_SENT in verbose.log(), verbose.log()
        assert "deliver-outbox" not in quiet.log(), quiet.log()
    finally:
        for beat in fast_beats:
            beat.stop()
        for beat in real_beats:
            beat.stop()

    runs = wait_for_results(workers, "scan_reminders", 20 + 20)
    for worker in workers:  # one line per task run; none for a delivery run that found nothing to send
        assert "received" not in worker.log(), worker.log()
        assert "'sent': 0, 'retried': 0, 'failed': 0}" not in worker.log(), worker.log()
    assert sum(r["total"] for r in runs) == len(expected)
    wait_for_reminders(smtp_sink, len(expected))
    mail = reminders(smtp_sink.settle(quiet=1.5))
    per_recipient = Counter(m["To"] for m in mail)
    assert set(per_recipient) == expected
    assert set(per_recipient.values()) == {1}
    assert len({m["Message-ID"] for m in mail}) == len(mail)
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(ReminderSent)) == len(expected)
        rows = s.execute(select(ReminderSent.recipient, ReminderSent.offset_days)).all()
        assert Counter(rows).most_common(1)[0][1] == 1
        assert {d for _, d in rows} == {14}
        sent = s.scalar(
            select(func.count()).where(
                OutboxMessage.kind == "deadline_reminder", OutboxMessage.status == "sent"
            )
        )
        assert sent == len(expected)


def test_beat_starts_in_a_fresh_data_folder(start_worker, worker_settings):
    """`ews beat` keeps its schedule file in EWS_DATA_DIR; on a new machine that folder does not exist yet."""
    assert not worker_settings.data_dir.exists()
    beat = start_worker("beat")
    wait_for_log(beat, BEAT_STARTED)
    time.sleep(2)
    assert beat.process.poll() is None, beat.log()
    assert "Traceback" not in beat.log(), beat.log()


def test_a_second_beat_on_the_same_data_folder_refuses_to_start(start_worker):
    """Two beats writing one schedule file would corrupt it: the second says why and exits."""
    first = start_worker("beat")
    wait_for_log(first, BEAT_STARTED)
    second = start_worker("beat")
    assert second.process.wait(timeout=60) == 1
    assert f"läuft bereits ein `ews beat` (PID {first.process.pid})" in second.log()
    assert BEAT_STARTED not in second.log()
    assert first.process.poll() is None, first.log()


def test_a_killed_beat_leaves_no_lock_behind(start_worker):
    """The lock dies with its beat, even with SIGKILL (no cleanup runs): the next beat starts."""
    first = start_worker("beat")
    wait_for_log(first, BEAT_STARTED)
    first.kill()
    second = start_worker("beat")
    wait_for_log(second, BEAT_STARTED)
    assert "läuft bereits" not in second.log()
